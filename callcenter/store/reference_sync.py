"""Load the editable reference files (departments, categories) into the store; safe to run twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.reference import ReferenceData
from callcenter.store import models as m

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport:
    departments_added: int
    departments_updated: int
    categories_added: int
    categories_updated: int
    deactivated: int


async def sync_reference(sessions: async_sessionmaker[AsyncSession], data: ReferenceData) -> SyncReport:
    """Insert new entries, update changed ones, deactivate (never delete) the ones removed from files."""
    async with sessions.begin() as session:
        dep_added, dep_updated, dep_off = await _sync_departments(session, data)
        cat_added, cat_updated, cat_off = await _sync_categories(session, data)
    report = SyncReport(dep_added, dep_updated, cat_added, cat_updated, dep_off + cat_off)
    logger.info("reference data synchronised: %s", report)
    return report


async def _sync_departments(session: AsyncSession, data: ReferenceData) -> tuple[int, int, int]:
    existing = {d.code: d for d in (await session.execute(select(m.Department))).scalars()}
    added = updated = 0
    for dep in data.departments:
        # `active` is set only on insert: an admin who switched a department off keeps it off.
        values = {"name": dep.name, "short_name": dep.short_name, "kind": dep.kind, "phone": dep.phone}
        row = existing.pop(dep.code, None)
        if row is None:
            session.add(m.Department(code=dep.code, active=True, **values))
            added += 1
        elif _update(row, values):
            updated += 1
    for row in existing.values():
        row.active = False
    await session.flush()
    return added, updated, len(existing)


async def _sync_categories(session: AsyncSession, data: ReferenceData) -> tuple[int, int, int]:
    existing = {c.code: c for c in (await session.execute(select(m.Category))).scalars()}
    added = updated = 0
    for cat in data.categories:
        values = {
            "name": cat.name,
            "description": cat.description,
            "group_name": cat.group,
            "department_code": cat.department,
            "priority": cat.priority,
            "accept_target_minutes": cat.accept_target_minutes,
            "done_target_hours": cat.done_target_hours,
            "callback": cat.callback,
            "active": True,
        }
        row = existing.pop(cat.code, None)
        if row is None:
            session.add(m.Category(code=cat.code, **values))
            added += 1
        elif _update(row, values):
            updated += 1
    for row in existing.values():
        row.active = False
    return added, updated, len(existing)


def _update(row: object, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed
