"""Departments as the admin page and the dispatch form see them (names, active flag, staff)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import NotFound
from callcenter.store import models as m


@dataclass(frozen=True)
class DepartmentRow:
    code: str
    name: str
    short_name: str
    kind: str
    phone: str | None
    active: bool
    users: int


class DepartmentService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def all(self) -> list[DepartmentRow]:
        """Every department with the number of staff accounts in it, by name."""
        async with self._sessions() as session:
            users = (
                select(m.User.department_code.label("code"), func.count().label("n"))
                .group_by(m.User.department_code)
                .subquery()
            )
            rows = (
                await session.execute(
                    select(m.Department, func.coalesce(users.c.n, 0))
                    .outerjoin(users, users.c.code == m.Department.code)
                    .order_by(m.Department.short_name)
                )
            ).all()
        return [DepartmentRow(d.code, d.name, d.short_name, d.kind, d.phone, d.active, n) for d, n in rows]

    async def active(self) -> list[DepartmentRow]:
        return [d for d in await self.all() if d.active]

    async def set_active(self, code: str, active: bool) -> DepartmentRow:
        async with self._sessions.begin() as session:
            row = await session.get(m.Department, code)
            if row is None:
                raise NotFound(f"Подразделение «{code}» не найдено")
            row.active = active
        return next(d for d in await self.all() if d.code == code)
