"""The supervisors' board aggregates on a loaded store, with a bare one-row SELECT beside them.

    .venv/bin/python -m bench.board_stats_bench --database-url sqlite+aiosqlite:////tmp/store.db
    .venv/bin/python -m bench.board_stats_bench --database-url postgresql+asyncpg://... \\
        --before /path/to/other/checkout/callcenter/staff/stats.py      # before/after, side by side

The store must be loaded already (bench.board_bench or bench.store_bench load it). Every
sample asks for another 30-day period (no cache hit), in turn for each implementation and
the peer, so a loaded machine slows all of them alike. With ``--before`` the two
implementations must agree on the medians and the breaches first.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from datetime import date, timedelta
from types import ModuleType
from typing import Any

from sqlalchemy import text

from bench.stats import percentile
from callcenter.config import load_settings
from callcenter.staff import stats as ours
from callcenter.staff.targets import TargetBook


def load_module(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("stats_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def full_miss(s: Any, p: Any) -> None:
    """What the board page asks on a cache miss, in its order."""
    await s.counts(p)
    await s.breaches(p, 100)
    await s.per_day(p, "channel")
    await s.per_day(p, "category")
    await s.medians(p)


async def gathered(s: Any, p: Any) -> None:
    """The same five at once, each on its own connection (what the page does since issue 19)."""
    await asyncio.gather(
        s.counts(p), s.breaches(p, 100), s.per_day(p, "channel"), s.per_day(p, "category"), s.medians(p)
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--before", help="another stats.py to time beside this checkout's")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()

    from callcenter.app import build_services

    services = build_services(
        load_settings(environ={}, overrides={"database_url": args.database_url, "data_dir": "/tmp/board-stats-bench"})
    )
    targets = TargetBook(services.reference, services.settings.dispatch_target_seconds)
    zone = services.settings.zone
    sides: dict[str, Any] = {"ours": ours.BoardStats(services.sessions, targets, zone, cache_seconds=0)}
    if args.before:
        sides["before"] = load_module(args.before).BoardStats(services.sessions, targets, zone, cache_seconds=0)

    def period(i: int) -> Any:
        end = date.today() - timedelta(days=i % 200)
        return sides["ours"].period(end - timedelta(days=29), end)

    async with services.engine.connect() as conn:
        tickets = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
    first = period(0)
    in_window = sum((await sides["ours"].counts(first)).values())
    print(f"{services.engine.dialect.name}: {tickets:,} tickets; the last 30 days hold {in_window:,}")
    if "before" in sides:

        def key(ms: list[Any]) -> list[Any]:
            return sorted((m.department or "", m.stage.value, round(m.seconds, 3), m.tickets) for m in ms)

        same_medians = key(await sides["ours"]._medians(first)) == key(await sides["before"]._medians(first))
        a, b = await sides["ours"]._breaches(first, 100), await sides["before"]._breaches(first, 100)
        same_breaches = a.total == b.total and [x.number for x in a.rows] == [x.number for x in b.rows]
        print(f"same answers as before: medians {same_medians}, breaches {same_breaches} ({a.total} breaches)")

    async def peer(_s: Any, _p: Any) -> None:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT id, number FROM tickets WHERE id = 1"))

    cases = {
        "medians (uncached)": lambda s, p: s._medians(p),
        "breaches (uncached)": lambda s, p: s._breaches(p, 100),
        "board cache miss: all five aggregates in series": full_miss,
        "board cache miss: the five at once (the page)": gathered,
    }
    for name, call in cases.items():
        timings: dict[str, list[float]] = {label: [] for label in [*sides, "peer"]}
        for _label, s in [*sides.items(), ("peer", None)]:  # warm-up
            await (peer(None, None) if s is None else call(s, period(1)))
        for i in range(args.samples):
            for label, s in [*sides.items(), ("peer", None)]:
                t0 = time.perf_counter()
                await (peer(None, None) if s is None else call(s, period(i)))
                timings[label].append((time.perf_counter() - t0) * 1000)
        print(name)
        for label, ms in timings.items():
            what = {"ours": "this checkout", "before": "--before", "peer": "peer: bare SELECT of one row"}[label]
            print(f"  {what:30} p50 {statistics.median(ms):8.2f} ms  p95 {percentile(ms, 95):8.2f} ms")
        if "before" in timings:
            print(
                f"  before / ours: p50 {statistics.median(timings['before']) / statistics.median(timings['ours']):.1f}x"
                f"  p95 {percentile(timings['before'], 95) / percentile(timings['ours'], 95):.1f}x"
            )
    await services.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
