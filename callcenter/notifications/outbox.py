"""The outbox: notification rows written with the ticket event that causes them, claimed by workers.

Writing: :class:`OutboxWriter` is a ``TicketService`` in-transaction hook, registered for the event
kinds that can notify (``NOTIFYING_EVENT_KINDS``), so the row commits or rolls back with the event; ``UNIQUE (event_id, channel)`` is the idempotency key.

Claiming is safe across app instances, as for callbacks (callcenter/callbacks/store.py): on
PostgreSQL due rows are picked with ``FOR UPDATE SKIP LOCKED`` and flipped with
``UPDATE ... WHERE state = 'pending'``; on SQLite every write transaction starts with
``BEGIN IMMEDIATE`` (callcenter.store.db), so the same UPDATE runs under the write lock. A
claim carries a lease: a worker that died mid-send leaves its rows to be claimed again once
the lease runs out, so a restart loses none. Every public method is one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.callbacks import CallbackPolicy
from callcenter.domain.notifications import (
    ESCALATION_EMAIL_KEY,
    ESCALATION_TRIGGER,
    NOTIFYING_EVENT_KINDS,
    Consent,
    NotifyChannel,
    OutboxState,
    Trigger,
    compose,
    compose_escalation,
    trigger_for,
)
from callcenter.notifications.links import ANSWER, UNSUBSCRIBE, LinkClaims, LinkSigner
from callcenter.notifications.models import Notification, NotificationOptOut
from callcenter.store import models as m

logger = logging.getLogger(__name__)


def _is_pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class Claimed:
    """A notification one worker owns now."""

    id: int
    channel: NotifyChannel
    address: str
    subject: str
    body: str
    attempts: int
    ticket_id: int


@dataclass(frozen=True)
class Links:
    """How message links are made (the public address and the signer)."""

    public_url: str
    signer: LinkSigner
    answer_days: int

    def track(self, number: str) -> str:
        return f"{self.public_url}/track?number={number}"

    def answer(self, number: str, now: datetime) -> str:
        token = self.signer.make(LinkClaims(ANSWER, number=number), now + timedelta(days=self.answer_days))
        return f"{self.public_url}/n/answer/{token}"

    def unsubscribe(self, channel: NotifyChannel, address: str, now: datetime) -> str:
        token = self.signer.make(
            LinkClaims(UNSUBSCRIBE, channel=channel.value, address=address), now + timedelta(days=730)
        )
        return f"{self.public_url}/n/unsubscribe/{token}"


class OutboxWriter:
    """The in-transaction hook: one outbox row per consented, configured, not unsubscribed channel.

    Registered for ``kinds`` only (``TicketService.add_in_transaction_hook``)."""

    kinds = NOTIFYING_EVENT_KINDS

    def __init__(
        self, links: Links, channels_on: frozenset[NotifyChannel], policy: CallbackPolicy, quiet: frozenset[str]
    ) -> None:
        self._links = links
        self._channels_on = channels_on
        self._policy = policy
        self._quiet = quiet

    async def __call__(self, session: AsyncSession, ticket: m.Ticket, event: m.TicketEvent) -> None:
        if not self._channels_on:
            return  # no channel configured: nothing to write
        if event.kind == ESCALATION_TRIGGER:
            await self._escalation(session, ticket, event)
            return
        trigger = trigger_for(event.kind, event.from_status, event.to_status, event.data)
        if trigger is None or (trigger is Trigger.REGISTERED and ticket.is_draft):
            return
        now = event.at
        targets = await self._targets(session, ticket)
        for channel, address in targets:
            message = compose(
                trigger,
                ticket.number,
                track_url=self._links.track(ticket.number),
                answer_url=self._links.answer(ticket.number, now) if trigger is Trigger.DONE else None,
                unsubscribe_url=self._links.unsubscribe(channel, address, now),
            )
            session.add(
                Notification(
                    ticket_id=ticket.id,
                    event_id=event.id,
                    trigger=trigger.value,
                    channel=channel.value,
                    address=address,
                    subject=message.subject,
                    body=message.text,
                    state=OutboxState.PENDING.value,
                    attempts=0,
                    due_at=self._due(channel, now),
                    created_at=now,
                )
            )

    async def _escalation(self, session: AsyncSession, ticket: m.Ticket, event: m.TicketEvent) -> None:
        """A staff notification: the e-mail of one escalation step to the department's duty address.

        The escalator writes the step's event once (it claims the step first), naming the address
        in the event's data; later events of the same step (a failed call) name none. With
        ``UNIQUE (event_id, channel)`` that makes one e-mail per step. Sent at once (an escalation
        does not wait for the citizens' quiet hours); citizens' opt-outs do not apply to staff."""
        address = (event.data or {}).get(ESCALATION_EMAIL_KEY)
        if not isinstance(address, str) or not address or NotifyChannel.EMAIL not in self._channels_on:
            return
        category = await session.get(m.Category, ticket.category_code) if ticket.category_code else None
        message = compose_escalation(
            ticket.number,
            event.note or "Эскалация",
            category=category.name if category else "",
            address=ticket.address,
            ticket_url=f"{self._links.public_url}/staff/tickets/{ticket.number}",
        )
        session.add(
            Notification(
                ticket_id=ticket.id,
                event_id=event.id,
                trigger=ESCALATION_TRIGGER,
                channel=NotifyChannel.EMAIL.value,
                address=address,
                subject=message.subject,
                body=message.text,
                state=OutboxState.PENDING.value,
                attempts=0,
                due_at=event.at,
                created_at=event.at,
            )
        )

    async def _targets(self, session: AsyncSession, ticket: m.Ticket) -> list[tuple[NotifyChannel, str]]:
        phone = None
        if ticket.citizen_id is not None:
            citizen = await session.get(m.Citizen, ticket.citizen_id)
            phone = citizen.phone if citizen else None
        targets = [t for t in Consent.from_extra(ticket.extra, phone).targets() if t[0] in self._channels_on]
        if not targets:
            return []
        pairs = [(c.value, a) for c, a in targets]
        out = await session.execute(
            select(NotificationOptOut.channel, NotificationOptOut.address).where(
                tuple_(NotificationOptOut.channel, NotificationOptOut.address).in_(pairs)
            )
        )
        stopped = {(c, a) for c, a in out.all()}
        return [(c, a) for c, a in targets if (c.value, a) not in stopped]

    def _due(self, channel: NotifyChannel, now: datetime) -> datetime:
        """Quiet hours: channels listed in notify_quiet_channels wait for the callbacks' calling window."""
        if channel.value in self._quiet:
            return self._policy.next_callable(now, self._policy.window)
        return now


class Outbox:
    """Claims, results, supervisors' views and opt-outs over the outbox table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], policy: CallbackPolicy, quiet: frozenset[str]):
        self._sessions = sessions
        self._policy = policy
        self._quiet = quiet

    async def claim(
        self, owner: str, now: datetime, lease: timedelta, batch: int, channels: frozenset[NotifyChannel]
    ) -> list[Claimed]:
        """Take up to ``batch`` due rows of the configured channels for ``owner``."""
        if not channels:
            return []
        due = (
            (Notification.state == OutboxState.PENDING.value)
            & (Notification.due_at <= now)
            & Notification.channel.in_([c.value for c in channels])
        )
        async with self._sessions() as session:  # the usual case, nothing due: no write lock at all
            if (await session.execute(select(Notification.id).where(due).limit(1))).first() is None:
                return []
        async with self._sessions.begin() as session:
            stmt = select(Notification.id).where(due).order_by(Notification.due_at, Notification.id).limit(batch)
            if _is_pg(session):
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await session.execute(stmt)).scalars().all())
            if not ids:
                return []
            rows = (
                await session.execute(
                    update(Notification)
                    .where(Notification.id.in_(ids), Notification.state == OutboxState.PENDING.value)
                    .values(
                        state=OutboxState.SENDING.value,
                        claimed_by=owner,
                        lease_until=now + lease,
                        attempts=Notification.attempts + 1,
                    )
                    .returning(
                        Notification.id,
                        Notification.channel,
                        Notification.address,
                        Notification.subject,
                        Notification.body,
                        Notification.attempts,
                        Notification.ticket_id,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
        return [Claimed(r[0], NotifyChannel(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    async def release_expired(self, now: datetime) -> int:
        """Claims whose lease ran out (a worker died mid-send): back to pending, due now, or for
        the quiet channels at the calling window's next opening (a lease may run out at night)."""
        expired = (Notification.state == OutboxState.SENDING.value) & (Notification.lease_until <= now)
        async with self._sessions() as session:
            if (await session.execute(select(Notification.id).where(expired).limit(1))).first() is None:
                return 0
        quiet_due = self._policy.next_callable(now, self._policy.window)
        count = 0
        async with self._sessions.begin() as session:
            for channels, due in (
                (Notification.channel.in_(sorted(self._quiet)), quiet_due),
                (Notification.channel.not_in(sorted(self._quiet)), now),
            ):
                result = await session.execute(
                    update(Notification)
                    .where(expired, channels)
                    .values(state=OutboxState.PENDING.value, claimed_by=None, lease_until=None, due_at=due)
                    .execution_options(synchronize_session=False)
                )
                count += _rowcount(result)
        if count:
            logger.warning("%d notification claim(s) expired: queued again", count)
        return count

    async def mark_sent(self, notification_id: int, owner: str, now: datetime, provider_id: str | None) -> bool:
        """Record the delivery; False when the claim was lost meanwhile (the row is left alone)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.state == OutboxState.SENDING.value,
                    Notification.claimed_by == owner,
                )
                .values(
                    state=OutboxState.SENT.value,
                    sent_at=now,
                    lease_until=None,
                    provider_id=(provider_id or None) and provider_id[:200],
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    async def mark_failed(
        self, notification_id: int, owner: str, now: datetime, error: str, retry_at: datetime | None, channel: str
    ) -> None:
        """A failed send: pending again at ``retry_at`` (quiet hours respected), or failed for good."""
        if retry_at is not None and channel in self._quiet:
            retry_at = self._policy.next_callable(retry_at, self._policy.window)
        values: dict[str, Any] = {"last_error": error[:1000], "lease_until": None, "claimed_by": None}
        if retry_at is None:
            values["state"] = OutboxState.FAILED.value
        else:
            values.update(state=OutboxState.PENDING.value, due_at=retry_at)
        async with self._sessions.begin() as session:
            await session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.state == OutboxState.SENDING.value,
                    Notification.claimed_by == owner,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def retry(self, notification_id: int, now: datetime) -> bool:
        """A supervisor's «Повторить»: a failed row goes back to the queue with a fresh count."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.state == OutboxState.FAILED.value)
                .values(state=OutboxState.PENDING.value, due_at=now, attempts=0)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    async def opt_out(self, channel: str, address: str, now: datetime) -> int:
        """Remember the opt-out and cancel what is still waiting for that address; how many were cancelled."""
        async with self._sessions.begin() as session:
            insert = pg_insert if _is_pg(session) else sqlite_insert
            await session.execute(
                insert(NotificationOptOut)
                .values(channel=channel, address=address, created_at=now)
                .on_conflict_do_nothing()
            )
            result = await session.execute(
                update(Notification)
                .where(
                    Notification.channel == channel,
                    Notification.address == address,
                    Notification.state == OutboxState.PENDING.value,
                )
                .values(state=OutboxState.CANCELLED.value, last_error="отписка")
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result)

    async def counts(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(select(Notification.state, func.count()).group_by(Notification.state))
            return {state: n for state, n in rows.all()}

    async def health(self, now: datetime) -> dict[str, int]:
        """Failed messages, and waiting ones overdue by more than 10 minutes (index range counts)."""
        async with self._sessions() as session:
            failed = (
                await session.execute(
                    select(func.count()).select_from(Notification).where(Notification.state == OutboxState.FAILED.value)
                )
            ).scalar_one()
            late = (
                await session.execute(
                    select(func.count())
                    .select_from(Notification)
                    .where(
                        Notification.state == OutboxState.PENDING.value,
                        Notification.due_at < now - timedelta(minutes=10),
                    )
                )
            ).scalar_one()
        return {"failed": failed, "overdue": late}

    async def problems(self, limit: int = 100) -> list[dict[str, Any]]:
        """Failed rows and rows that are being retried, newest first, with their ticket numbers."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Notification, m.Ticket.number)
                .join(m.Ticket, m.Ticket.id == Notification.ticket_id)
                .where(
                    (Notification.state == OutboxState.FAILED.value)
                    | ((Notification.state == OutboxState.PENDING.value) & (Notification.attempts > 0))
                )
                .order_by(Notification.id.desc())
                .limit(limit)
            )
            return [_problem(n, number) for n, number in rows.all()]

    async def for_ticket(self, number: str) -> list[Notification]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Notification)
                .join(m.Ticket, m.Ticket.id == Notification.ticket_id)
                .where(m.Ticket.number == number)
                .order_by(Notification.id)
            )
            return list(rows.scalars().all())


def _rowcount(result: Any) -> int:
    """Rows an UPDATE touched (execute() is typed as Result; an UPDATE's is a CursorResult)."""
    return int(result.rowcount or 0)


def _problem(n: Notification, number: str) -> dict[str, Any]:
    return {
        "id": n.id,
        "number": number,
        "channel": n.channel,
        "address": n.address,
        "trigger": n.trigger,
        "state": n.state,
        "attempts": n.attempts,
        "due_at": n.due_at,
        "error": n.last_error or "",
    }
