#!/usr/bin/env python3
"""Print callcenter's package-level import graph and every import cycle (grimp, from import-linter).

    python scripts/import_graph.py            # the tree this script sits in
    python scripts/import_graph.py --runtime  # leave out imports made only under TYPE_CHECKING

A package is ``callcenter.<name>`` (a folder, or a top-level module such as ``callcenter.app``).
The graph line ``a -> b, c`` says some module of ``a`` imports some module of ``b`` and ``c``.
A cycle is a strongly connected group of modules (each reaches every other through imports);
the package-level groups are listed too. Exit status 1 when a module-level cycle exists.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping

import grimp

ROOT = "callcenter"


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the groups of more than one node, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups, key=lambda g: (-len(g), g))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", action="store_true", help="ignore imports under TYPE_CHECKING")
    args = parser.parse_args()
    graph = grimp.build_graph(ROOT, exclude_type_checking_imports=args.runtime, cache_dir=None)
    modules: dict[str, set[str]] = {m: set() for m in graph.modules if m.startswith(ROOT + ".")}
    packages: dict[str, set[str]] = defaultdict(set)
    for module in modules:
        packages[package_of(module)]
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith(ROOT + ".") or imported == ROOT:
                continue
            modules[module].add(imported)
            source, target = package_of(module), package_of(imported)
            if source != target:
                packages[source].add(target)
    print(f"package-level import graph of {ROOT} ({len(modules)} modules, {len(packages)} packages):")
    for source in sorted(packages):
        targets = ", ".join(t.removeprefix(ROOT + ".") for t in sorted(packages[source])) or "-"
        print(f"  {source.removeprefix(ROOT + '.'):12} -> {targets}")
    module_cycles = strongly_connected(modules)
    print(f"module-level import cycles: {len(module_cycles)}")
    for group in module_cycles:
        print(f"  {len(group)} modules: " + ", ".join(m.removeprefix(ROOT + ".") for m in group))
    package_cycles = strongly_connected(packages)
    print(f"package-level import cycles: {len(package_cycles)}")
    for group in package_cycles:
        print(f"  {len(group)} packages: " + ", ".join(p.removeprefix(ROOT + ".") for p in group))
    return 1 if module_cycles else 0


if __name__ == "__main__":
    sys.exit(main())
