"""SQLAlchemy models: the one shared ticket store. Times are UTC, always timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from callcenter.clock import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; gives back aware datetimes on SQLite too (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    short_name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(Base):
    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    group_name: Mapped[str] = mapped_column(String(120), default="")
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    accept_target_minutes: Mapped[int] = mapped_column(Integer, default=30)
    done_target_hours: Mapped[int] = mapped_column(Integer, default=24)
    callback: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    device: Mapped[str | None] = mapped_column(String(120))  # e.g. PJSIP/op1, for screen pops
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketCounter(Base):
    """One row a year; the number of the next ticket is taken with an atomic UPDATE."""

    __tablename__ = "ticket_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


_OPEN_SQLITE = "status IN ('dispatched', 'done', 'in_progress', 'new') AND is_draft = 0"
_OPEN_POSTGRESQL = "status IN ('dispatched', 'done', 'in_progress', 'new') AND is_draft = false"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_department_id", "department_code", "id"),
        Index("ix_tickets_category_id", "category_code", "id"),
        Index("ix_tickets_channel_id", "channel", "id"),
        Index("ix_tickets_citizen_id", "citizen_id", "id"),
        Index("ix_tickets_street_house", "street", "house"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_district_id", "district", "id"),
        # Migration 0003 (portal): duplicates and the public map; the partial ones cover open,
        # confirmed tickets, the rows the map shows (callcenter/portal/publicmap.py).
        Index("ix_tickets_category_lat_lon", "category_code", "lat", "lon"),
        Index("ix_tickets_open_map", "id", sqlite_where=text(_OPEN_SQLITE), postgresql_where=text(_OPEN_POSTGRESQL)),
        Index(
            "ix_tickets_open_lat_lon",
            "lat",
            "lon",
            sqlite_where=text(_OPEN_SQLITE),
            postgresql_where=text(_OPEN_POSTGRESQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    street: Mapped[str | None] = mapped_column(String(200))
    house: Mapped[str | None] = mapped_column(String(20))
    flat: Mapped[str | None] = mapped_column(String(20))
    district: Mapped[str | None] = mapped_column(String(60))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # draft suggestions, IVR path

    citizen: Mapped[Citizen | None] = relationship(lazy="raise")


class TicketEvent(Base):
    """Every change of a ticket: who, when, from, to, note. Timers are derived from these."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_at", "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # created, status, edit, note, call, callback
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Attachment(Base):
    """A photo or a voice recording: the file sits under the data folder, the row here."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # photo, recording, comment
    path: Mapped[str] = mapped_column(String(500))  # relative to the data folder
    mime: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    transcript_status: Mapped[str | None] = mapped_column(String(20))  # pending, done, unavailable, failed
    transcript: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_caller", "caller", "started_at"),
        Index("ix_calls_started_at", "started_at"),  # the board's recent calls (migration 0005)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(10), default="in")  # in, out (callback, click-to-call)
    caller: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    queue: Mapped[str | None] = mapped_column(String(60))
    agent_interface: Mapped[str | None] = mapped_column(String(120))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ivr_path: Mapped[str | None] = mapped_column(String(200))
    hangup_cause: Mapped[str | None] = mapped_column(String(80))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Callback(Base):
    """A planned call to a citizen after their ticket(s) were done. Claimed atomically."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_state_due", "state", "due_at"),
        Index("ix_callbacks_claim", "state", "mode", "priority", "due_at"),
        Index("ix_callbacks_citizen_state", "citizen_id", "state"),
        Index("ix_callbacks_state_completed", "state", "completed_at"),
        Index("ix_callbacks_state_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    phone: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))  # planned, claimed, done, unreachable, given_up, cancelled
    mode: Mapped[str] = mapped_column(String(10))  # auto, operator
    priority: Mapped[int] = mapped_column(Integer, default=3)
    due_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()
    # Local calling window in minutes of the day (migration 0004).
    window_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_end: Mapped[int] = mapped_column(Integer, default=1440, server_default="1440")
    last_result: Mapped[str | None] = mapped_column(String(20))


class CallbackTicket(Base):
    """The tickets one callback covers (a citizen with several done tickets gets one call)."""

    __tablename__ = "callback_tickets"
    __table_args__ = (Index("ix_callback_tickets_ticket", "ticket_id"),)

    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    done_at: Mapped[datetime | None] = mapped_column()  # when the ticket became done (this round)
    via_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))  # the duplicate reported
    applied_at: Mapped[datetime | None] = mapped_column()  # outcome applied to the ticket


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("action_id", name="uq_callback_attempts_action_id"),
        Index("ix_callback_attempts_callback", "callback_id"),
        Index("ix_callback_attempts_result_started", "result", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    mode: Mapped[str] = mapped_column(String(10))
    result: Mapped[str | None] = mapped_column(String(20))  # satisfied, not_satisfied, busy, no_answer, failed
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action_id: Mapped[str | None] = mapped_column(String(80))  # the Originate's idempotency key
    note: Mapped[str | None] = mapped_column(Text)
    recording: Mapped[str | None] = mapped_column(String(500))  # the citizen's spoken comment
    call_uniqueid: Mapped[str | None] = mapped_column(String(64))
