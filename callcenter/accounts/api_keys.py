"""API keys of other systems (Open311 partner applications, the utilities' own systems): issue, check,
list, revoke, in one place for every feature that takes keys.

A key is a feature's prefix and 256 random bits, so a plain SHA-256 is enough to store it (a slow
password hash protects guessable secrets; this one cannot be guessed) and lets a check be one indexed
lookup per request. Each feature keeps its own table (``open311_api_keys``: one key per application
name; ``incident_api_keys``: keys of a department) with the same key columns; the feature says which
table, which prefix and which column names the key's owner.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import NotFound, ValidationError

MAX_KEY_LENGTH = 100

# Checks (and may normalise) an owner before a key is issued; raises ValidationError.
OwnerCheck = Callable[[AsyncSession, str], Awaitable[str]]


@dataclass(frozen=True)
class ApiKey:
    """A stored key as lists and checks see it (never the key itself)."""

    id: int
    owner: str  # the application's name (Open311) or the department's code (incidents)
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def _any_owner(_session: AsyncSession, owner: str) -> str:
    return owner


class ApiKeys:
    """The keys of one table. ``table`` is a mapped class with ``id``, ``key_hash``, ``key_prefix``,
    ``created_at``, ``revoked_at``, ``last_used_at`` and the ``owner`` column."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: type[Any],
        *,
        prefix: str,
        owner: str,
        check_owner: OwnerCheck = _any_owner,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self.prefix = prefix
        self._owner = owner
        self._check_owner = check_owner

    def _view(self, row: Any) -> ApiKey:
        return ApiKey(
            row.id, getattr(row, self._owner), row.key_prefix, row.created_at, row.revoked_at, row.last_used_at
        )

    async def add(self, owner: str) -> tuple[ApiKey, str]:
        """Issue a key for ``owner``; returns it in clear text (the only time)."""
        key = self.prefix + secrets.token_urlsafe(32)
        try:
            async with self._sessions.begin() as session:
                owner = await self._check_owner(session, owner)
                row = self._table(key_hash=hash_key(key), key_prefix=key[:12], created_at=datetime.now(UTC))
                setattr(row, self._owner, owner)
                session.add(row)
        except IntegrityError as err:
            raise ValidationError(
                f"Ключ для «{owner}» уже выдан: отзовите его или выберите другое имя", field="name"
            ) from err
        return self._view(row), key

    async def check(self, key: str | None) -> ApiKey | None:
        """The key's record if it is known and not revoked; None otherwise (nothing is written)."""
        if not key or not key.startswith(self.prefix) or len(key) > MAX_KEY_LENGTH:
            return None
        table = self._table
        async with self._sessions() as session:
            row = (await session.execute(select(table).where(table.key_hash == hash_key(key)))).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return self._view(row)

    async def touch(self, key_id: int) -> None:
        """Remember when the key was last used (for the admin's list)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(self._table).where(self._table.id == key_id).values(last_used_at=datetime.now(UTC))
            )

    async def all(self) -> list[ApiKey]:
        async with self._sessions() as session:
            rows = (await session.execute(select(self._table).order_by(self._table.id))).scalars().all()
        return [self._view(r) for r in rows]

    async def revoke(self, key_id: int) -> ApiKey:
        """Revoke key ``key_id`` (revoked keys stay for the record; revoking twice changes nothing)."""
        return await self._revoke(self._table.id == key_id, f"Ключ № {key_id} не найден")

    async def revoke_owner(self, owner: str) -> ApiKey:
        """Revoke the key of ``owner`` (for tables with one key per owner, as Open311's)."""
        column = getattr(self._table, self._owner)
        return await self._revoke(column == owner.strip(), f"Ключ «{owner}» не найден")

    async def _revoke(self, where: Any, missing: str) -> ApiKey:
        async with self._sessions.begin() as session:
            row = (await session.execute(select(self._table).where(where))).scalars().first()
            if row is None:
                raise NotFound(missing)
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return self._view(row)
