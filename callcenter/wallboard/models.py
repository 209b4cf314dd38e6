"""The wallboard's own tables (on the store's metadata): pause reasons, duty contacts, escalations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.clock import utcnow
from callcenter.store.models import Base, BigId


class PauseReason(Base):
    """A reason an operator may give for a pause («Обед», «Обучение»...). Never deleted: switched off."""

    __tablename__ = "pause_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(60), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class DutyContact(Base):
    """A department's duty contacts for escalations: the duty dispatcher's phone and e-mail, the head."""

    __tablename__ = "duty_contacts"

    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), primary_key=True)
    duty_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    duty_email: Mapped[str | None] = mapped_column(String(200))
    head_name: Mapped[str | None] = mapped_column(String(200))
    head_phone: Mapped[str | None] = mapped_column(String(20))  # E.164


class Escalation(Base):
    """One ticket's escalation chain: which step was taken last and when the next is due."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind", "stage_started_at", name="uq_escalations_ticket_kind_stage"),
        Index("ix_escalations_state_next", "state", "next_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # accept, done
    stage_started_at: Mapped[datetime] = mapped_column()  # the ticket's last status change it is about
    step: Mapped[int] = mapped_column(Integer, default=0)  # steps of the chain taken so far
    state: Mapped[str] = mapped_column(String(10), default="open")  # open, resolved, finished
    next_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_note: Mapped[str | None] = mapped_column(String(300))
