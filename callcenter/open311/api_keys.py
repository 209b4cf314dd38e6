"""Open311 API keys: issue (the key is shown once), check, list, revoke.

A key is 256 random bits, so a plain SHA-256 is enough to store it (a slow password hash
protects guessable secrets; this one cannot be guessed) and lets a check be one indexed
lookup per request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import NotFound, ValidationError
from callcenter.open311.models import Open311ApiKey

KEY_PREFIX = "o311_"
_NAME = re.compile(r"^[\w .@-]{2,100}$")


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _view(row: Open311ApiKey) -> ApiKeyView:
    return ApiKeyView(row.id, row.name, row.key_prefix, row.created_at, row.revoked_at, row.last_used_at)


class ApiKeyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, name: str) -> tuple[ApiKeyView, str]:
        """Issue a key for the application ``name``; returns it in clear text (the only time)."""
        name = name.strip()
        if not _NAME.match(name):
            raise ValidationError("Имя приложения: 2–100 букв, цифр, пробелов, точек, дефисов", field="name")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = Open311ApiKey(name=name, key_hash=hash_key(key), key_prefix=key[:12], created_at=datetime.now(UTC))
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as err:
            raise ValidationError(
                f"Ключ для «{name}» уже выдан: отзовите его или выберите другое имя", field="name"
            ) from err
        return _view(row), key

    async def check(self, key: str | None) -> ApiKeyView | None:
        """The key's record if it is known and not revoked; None otherwise."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        async with self._sessions() as session:
            row = (
                await session.execute(select(Open311ApiKey).where(Open311ApiKey.key_hash == hash_key(key)))
            ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return _view(row)

    async def touch(self, key_id: int) -> None:
        """Remember when the key was last used (for the admin's list)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Open311ApiKey).where(Open311ApiKey.id == key_id).values(last_used_at=datetime.now(UTC))
            )

    async def all(self) -> list[ApiKeyView]:
        async with self._sessions() as session:
            rows = (await session.execute(select(Open311ApiKey).order_by(Open311ApiKey.id))).scalars().all()
        return [_view(r) for r in rows]

    async def revoke(self, name: str) -> ApiKeyView:
        async with self._sessions.begin() as session:
            row = (
                await session.execute(select(Open311ApiKey).where(Open311ApiKey.name == name.strip()))
            ).scalar_one_or_none()
            if row is None:
                raise NotFound(f"Ключ приложения «{name}» не найден")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return _view(row)
