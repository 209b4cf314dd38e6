"""The Open311 slice's table: API keys of partner applications (only a hash of each key is stored).

On the store's one ``Base`` so Alembic and the tests see one schema; the migration is
``0003_open311_keys``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, BigId, utcnow


class Open311ApiKey(Base):
    """A key issued with ``callcenter open311-key add NAME``; revoked keys stay for the record."""

    __tablename__ = "open311_api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex of the key
    key_prefix: Mapped[str] = mapped_column(String(12))  # shown in listings, to tell keys apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
