"""API keys of the utilities' own systems, one (or more) per department: issue, check, revoke.

Like the Open311 keys (callcenter/open311/api_keys.py): 256 random bits, only a SHA-256 kept, a
check is one indexed lookup. A key posts incidents for its own department only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import NotFound, ValidationError
from callcenter.incidents.models import IncidentApiKey
from callcenter.store import models as m

KEY_PREFIX = "inc_"


@dataclass(frozen=True)
class DepartmentKey:
    id: int
    department: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _view(row: IncidentApiKey) -> DepartmentKey:
    return DepartmentKey(row.id, row.department_code, row.key_prefix, row.created_at, row.revoked_at, row.last_used_at)


class IncidentKeys:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, department: str) -> tuple[DepartmentKey, str]:
        """Issue a key for a department; returned in clear text this once."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            if await session.get(m.Department, department) is None:
                raise ValidationError(f"Неизвестный исполнитель «{department}»", field="department")
            row = IncidentApiKey(
                department_code=department, key_hash=hash_key(key), key_prefix=key[:12], created_at=datetime.now(UTC)
            )
            session.add(row)
        return _view(row), key

    async def check(self, key: str | None) -> DepartmentKey | None:
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        async with self._sessions.begin() as session:
            row = (
                await session.execute(select(IncidentApiKey).where(IncidentApiKey.key_hash == hash_key(key)))
            ).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                return None
            await session.execute(
                update(IncidentApiKey).where(IncidentApiKey.id == row.id).values(last_used_at=datetime.now(UTC))
            )
            return _view(row)

    async def all(self) -> list[DepartmentKey]:
        async with self._sessions() as session:
            rows = (await session.execute(select(IncidentApiKey).order_by(IncidentApiKey.id))).scalars().all()
        return [_view(r) for r in rows]

    async def revoke(self, key_id: int) -> DepartmentKey:
        async with self._sessions.begin() as session:
            row = await session.get(IncidentApiKey, key_id)
            if row is None:
                raise NotFound(f"Ключ № {key_id} не найден")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return _view(row)
