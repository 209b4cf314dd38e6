"""What the ticket page shows besides the ticket itself: calls, callbacks and attachment files.

Reads other slices' tables (calls, callbacks) through plain queries; writes only the link
between a call and the ticket an operator made from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.conversations import Dialogue, read_conversation
from callcenter.domain.errors import NotFound
from callcenter.store import models as m


@dataclass(frozen=True)
class CallRow:
    linkedid: str
    direction: str
    caller: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    operator: str | None
    ivr_path: str | None
    abandoned: bool
    conversation: Dialogue | None = None  # the operator's talk with the caller, if it was kept
    conversation_hidden: bool = False  # kept, but not for this reader (analysts)


@dataclass(frozen=True)
class AttemptRow:
    started_at: datetime
    ended_at: datetime | None
    mode: str
    result: str | None
    note: str | None


@dataclass(frozen=True)
class CallbackRow:
    id: int
    phone: str
    state: str
    mode: str
    due_at: datetime
    attempts: int
    outcome: str | None
    ticket_outcome: str | None
    completed_at: datetime | None
    attempt_rows: list[AttemptRow]


@dataclass(frozen=True)
class AttachmentFile:
    """Where an attachment's file is and whose ticket it belongs to (for the access check)."""

    id: int
    ticket_number: str
    department: str | None
    kind: str
    path: str
    mime: str


class RelatedRecords:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def calls_for(self, ticket_id: int) -> list[CallRow]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(m.Call, m.User.full_name, m.User.login)
                    .outerjoin(m.User, m.User.id == m.Call.operator_id)
                    .where(m.Call.ticket_id == ticket_id)
                    .order_by(m.Call.started_at)
                )
            ).all()
        return [
            CallRow(
                c.linkedid,
                c.direction,
                c.caller,
                c.started_at,
                c.answered_at,
                c.ended_at,
                full_name or login,
                c.ivr_path,
                c.abandoned,
                read_conversation(c.data),
            )
            for c, full_name, login in rows
        ]

    async def callbacks_for(self, ticket_id: int) -> list[CallbackRow]:
        async with self._sessions() as session:
            pairs = (
                await session.execute(
                    select(m.Callback, m.CallbackTicket.outcome)
                    .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
                    .where(m.CallbackTicket.ticket_id == ticket_id)
                    .order_by(m.Callback.id)
                )
            ).all()
            ids = [cb.id for cb, _ in pairs]
            attempts = (
                (
                    await session.execute(
                        select(m.CallbackAttempt)
                        .where(m.CallbackAttempt.callback_id.in_(ids))
                        .order_by(m.CallbackAttempt.started_at)
                    )
                )
                .scalars()
                .all()
                if ids
                else []
            )
        by_callback: dict[int, list[AttemptRow]] = {}
        for a in attempts:
            by_callback.setdefault(a.callback_id, []).append(
                AttemptRow(a.started_at, a.ended_at, a.mode, a.result, a.note)
            )
        return [
            CallbackRow(
                cb.id,
                cb.phone,
                cb.state,
                cb.mode,
                cb.due_at,
                cb.attempts,
                cb.outcome,
                outcome,
                cb.completed_at,
                by_callback.get(cb.id, []),
            )
            for cb, outcome in pairs
        ]

    async def attachment(self, attachment_id: int) -> AttachmentFile:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(m.Attachment, m.Ticket.number, m.Ticket.department_code)
                    .join(m.Ticket, m.Ticket.id == m.Attachment.ticket_id)
                    .where(m.Attachment.id == attachment_id)
                )
            ).one_or_none()
        if row is None:
            raise NotFound("Вложение не найдено")
        a, number, department = row
        return AttachmentFile(a.id, number, department, a.kind, a.path, a.mime)

    async def link_call(self, linkedid: str, ticket_id: int) -> bool:
        """Point a call at the ticket made during it; False if the call is unknown."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(m.Call)
                .where(m.Call.linkedid == linkedid, m.Call.ticket_id.is_(None))
                .values(ticket_id=ticket_id)
            )
        return bool(result.rowcount)
