"""The incidents slice's tables, on the store's one ``Base`` (migration ``0009_incidents``).

- ``incidents``: one known outage, its area (JSON, see callcenter.domain.incidents.Area.to_json)
  and its master ticket;
- ``incident_tickets``: tickets linked to an incident (the citizens to call back when it is fixed);
- ``incident_calls``: calls the IVR answered with the incident's announcement, and what the
  caller did (subscribed, operator, hung up): the incident board counts them;
- ``incident_api_keys``: a key per department for a utility's own system (only a hash is kept).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, BigId, utcnow


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_starts", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    title: Mapped[str] = mapped_column(String(300))
    public_text: Mapped[str] = mapped_column(Text, default="")
    area: Mapped[dict[str, Any]] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column()
    expected_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")
    master_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    recording: Mapped[str | None] = mapped_column(String(120))  # a sound name, optional
    source: Mapped[str] = mapped_column(String(16), default="web")  # web, import, api
    external_ref: Mapped[str | None] = mapped_column(String(120))  # the utility's own id (imports)
    note: Mapped[str | None] = mapped_column(Text)  # what was done (on restoration)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class IncidentTicket(Base):
    __tablename__ = "incident_tickets"
    __table_args__ = (Index("ix_incident_tickets_ticket", "ticket_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    via: Mapped[str] = mapped_column(String(16))  # ivr, operator, web, open311, master
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentCall(Base):
    __tablename__ = "incident_calls"
    __table_args__ = (Index("ix_incident_calls_incident", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    call_uniqueid: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    how: Mapped[str] = mapped_column(String(16))  # address (known caller) or keypad
    outcome: Mapped[str] = mapped_column(String(16))  # subscribed, operator, hangup, no_input
    at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentApiKey(Base):
    __tablename__ = "incident_api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
