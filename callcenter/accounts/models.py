"""Tables of the staff web: login sessions and failed logins (both survive a restart).

They live in this slice but on the store's one ``Base``, so Alembic and the tests see a
single schema; the migration is ``0002_staff_sessions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, text
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


class AuditEvent(Base):
    """Who saw or changed what, when, from where (issue 18). Append-only.

    The code has no update or delete path for this table (``callcenter/accounts/audit.py`` only
    inserts and reads); migration 0012 adds a trigger that refuses UPDATE and DELETE on both
    databases. Details never hold a citizen's phone or name, only ids and counts.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_user_at", "user_id", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # no foreign key: the log outlives accounts
    login: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(20), default="")
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UserTotp(Base):
    """A user's TOTP secret (RFC 6238); ``confirmed_at`` is set once a code from the app matched."""

    __tablename__ = "user_totp"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)  # a code is accepted once
