"""Tables of the staff web: login sessions and failed logins (both survive a restart).

They live in this slice but on the store's one ``Base``, so Alembic and the tests see a
single schema; the migration is ``0002_staff_sessions``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store import models as m
from callcenter.store.models import Base, BigId, utcnow


class StaffSession(Base):
    """One signed-in browser. Only a SHA-256 of the cookie's random token is stored."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class LoginFailure(Base):
    """A failed sign-in; counted per login and per address to lock out password guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_login_at", "login", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


# Indexes the staff pages need on shared tables (created by migration 0002, declared here so
# the schema and the migrations agree): the supervisors' board aggregates a date range from
# the index alone; the ticket page finds a ticket's duplicates and its calls.
STAFF_INDEXES = (
    Index(
        "ix_tickets_created_stats",
        m.Ticket.created_at,
        m.Ticket.channel,
        m.Ticket.status,
        m.Ticket.category_code,
        m.Ticket.department_code,
    ),
    # Partial (migration 0013): nearly every row is NULL, which a full index's statistics
    # report as "every row matches", and the planners scanned the table instead.
    Index(
        "ix_tickets_duplicates",
        m.Ticket.duplicate_of_id,
        sqlite_where=text("duplicate_of_id IS NOT NULL"),
        postgresql_where=text("duplicate_of_id IS NOT NULL"),
    ),
    Index("ix_calls_ticket", m.Call.ticket_id),
)
