"""``callcenter departments list [--json]``: the executors' codes that `user add --department` takes.

The list comes from the store (reference data synchronised first), so a department an admin
switched off shows as such.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from callcenter.config import Settings
from callcenter.reference.loader import department_kind_label, load_reference
from callcenter.store import models as m
from callcenter.store.db import create_engine, session_factory
from callcenter.store.reference_sync import sync_reference

HOW_TO_LIST = "коды подразделений: callcenter departments list"


@dataclass(frozen=True)
class DepartmentLine:
    code: str
    short_name: str
    name: str
    kind: str
    kind_label: str
    active: bool


class DepartmentsCommand:
    """The ``departments`` command; the staff feature adds it to the command line."""

    name = "departments"

    def register(self, sub: Any) -> None:
        parser = sub.add_parser(self.name, help="executing departments and their codes (for user add --department)")
        actions = parser.add_subparsers(dest="departments_command", required=True)
        lst = actions.add_parser("list", help="codes and Russian names of the departments")
        lst.add_argument("--json", action="store_true", help="a JSON array")

    async def run(self, args: argparse.Namespace, settings: Settings) -> int:
        lines = await department_lines(settings.database_url)
        if args.json:
            print(json.dumps([asdict(d) for d in lines], ensure_ascii=False, indent=2))
            return 0
        width = max((len(d.code) for d in lines), default=10)
        for d in lines:
            state = "" if d.active else "  (отключено)"
            print(f"{d.code:{width}}  {d.short_name}  — {d.kind_label}{state}")
        return 0


async def department_lines(database_url: str) -> list[DepartmentLine]:
    """Every department in the store, by code."""
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await sync_reference(sessions, load_reference())
        async with sessions() as session:
            rows = (await session.execute(select(m.Department).order_by(m.Department.code))).scalars().all()
        return [
            DepartmentLine(d.code, d.short_name, d.name, d.kind, department_kind_label(d.kind), d.active) for d in rows
        ]
    finally:
        await engine.dispose()
