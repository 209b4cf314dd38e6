"""Callback rows: planning, atomic claims, attempts and outcomes. Every public method is one transaction.

Claims are safe across app instances. On PostgreSQL the claim takes a transaction-scoped
advisory lock (so the cap on concurrent calls is exact), picks due rows with
``FOR UPDATE SKIP LOCKED`` (rows an operator or an outcome is changing are skipped, not
waited for) and flips them with ``UPDATE ... WHERE state = 'planned'``. On SQLite every
write transaction starts with ``BEGIN IMMEDIATE`` (see ``callcenter.store.db``), so the
same UPDATE runs under the database's write lock. The attempt row with its Originate key
is written in the claim's transaction, before anything is dialled.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.callbacks import (
    OPERATOR_LEASE,
    REACHED,
    AttemptResult,
    CallbackMode,
    CallbackPolicy,
    CallbackState,
    CallWindow,
    Decision,
    Next,
    new_action_id,
)
from callcenter.domain.errors import DomainError, NotFound
from callcenter.domain.tickets import Status
from callcenter.store import models as m

logger = logging.getLogger(__name__)

CLAIM_LOCK_KEY = 0x1563CB  # pg_advisory_xact_lock key of the claim (one per database)
ACTIVE = (CallbackState.PLANNED.value, CallbackState.CLAIMED.value)


class CallbackNotFound(NotFound):
    code = "callback_not_found"

    def __init__(self, callback_id: int | str) -> None:
        super().__init__(f"Обратный звонок № {callback_id} не найден", details={"callback": callback_id})


class CallbackBusy(DomainError):
    """The callback is not in a state that allows this action (taken by someone else, finished)."""

    code = "callback_busy"


@dataclass(frozen=True)
class ClaimedCall:
    """A callback a dispatcher owns now, with the attempt it is about to dial."""

    callback_id: int
    phone: str
    attempt_no: int
    action_id: str
    ticket_numbers: tuple[str, ...]
    owner: str
    window: CallWindow


@dataclass(frozen=True)
class OutcomeRecord:
    """What one recorded result did to its callback."""

    callback_id: int
    result: AttemptResult
    decision: Decision | None  # None: the callback was already finished, nothing changed
    due_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class Application:
    """An outcome still to be applied to one covered ticket (close, reopen or note)."""

    callback_id: int
    ticket_id: int
    number: str
    status: Status
    has_citizen: bool
    via_number: str | None
    outcome: AttemptResult
    comment: str | None
    recording: str | None
    operator_id: int | None


def _is_pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _window(cb: m.Callback) -> CallWindow:
    return CallWindow(cb.window_start, cb.window_end)


class CallbackStore:
    """SQL for the callbacks slice; knows the policy for due times, nothing of tickets' rules."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], policy: CallbackPolicy) -> None:
        self._sessions = sessions
        self.policy = policy

    # ------------------------------------------------------------------ planning

    async def plan_for_done(self, ticket_id: int, done_at: datetime, mode: CallbackMode, now: datetime) -> list[int]:
        """Plan (or join) the callbacks for a ticket that became done at ``done_at``; safe to repeat.

        The ticket's own citizen and every citizen who reported a duplicate of it are called.
        Returns the ids of the callbacks that now cover the ticket.
        """
        async with self._sessions.begin() as session:
            ticket = await session.get(m.Ticket, ticket_id)
            if ticket is None or ticket.status != Status.DONE.value:
                return []
            category = await session.get(m.Category, ticket.category_code) if ticket.category_code else None
            if category is not None and not category.callback:
                return []
            priority = category.priority if category is not None else 3
            window = self.policy.window_for(ticket.category_code)
            ids = []
            for citizen_id, via_id in await self._targets(session, ticket):
                ids.append(
                    await self._attach(session, citizen_id, ticket.id, via_id, done_at, priority, window, mode, now)
                )
        return ids

    async def _targets(self, session: AsyncSession, ticket: m.Ticket) -> list[tuple[int, int | None]]:
        targets: list[tuple[int, int | None]] = []
        if ticket.citizen_id is not None:
            targets.append((ticket.citizen_id, None))
        rows = await session.execute(
            select(m.Ticket.citizen_id, m.Ticket.id)
            .where(m.Ticket.duplicate_of_id == ticket.id, m.Ticket.citizen_id.is_not(None))
            .order_by(m.Ticket.id)
        )
        seen = {c for c, _ in targets}
        for citizen_id, dup_id in rows:
            if citizen_id not in seen:
                seen.add(citizen_id)
                targets.append((citizen_id, dup_id))
        return targets

    async def _attach(
        self,
        session: AsyncSession,
        citizen_id: int,
        ticket_id: int,
        via_id: int | None,
        done_at: datetime,
        priority: int,
        window: CallWindow,
        mode: CallbackMode,
        now: datetime,
    ) -> int:
        citizen = await self._lock_citizen(session, citizen_id)
        known = await session.execute(
            select(m.CallbackTicket.callback_id)
            .join(m.Callback, m.Callback.id == m.CallbackTicket.callback_id)
            .where(
                m.CallbackTicket.ticket_id == ticket_id,
                m.CallbackTicket.done_at == done_at,
                m.Callback.citizen_id == citizen_id,
            )
        )
        if (existing := known.scalars().first()) is not None:
            return existing  # this done was planned already (listener and reconcile both ran)
        cb = (
            await session.execute(
                select(m.Callback)
                .where(m.Callback.citizen_id == citizen_id, m.Callback.state == CallbackState.PLANNED.value)
                .order_by(m.Callback.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if cb is None:
            cb = self._new_callback(citizen, priority, window, mode, done_at, now)
            session.add(cb)
            await session.flush()
        else:
            self._merge(cb, priority, window)
        link = await session.get(m.CallbackTicket, (cb.id, ticket_id))
        if link is None:
            session.add(m.CallbackTicket(callback_id=cb.id, ticket_id=ticket_id, done_at=done_at, via_ticket_id=via_id))
        else:
            link.done_at, link.via_ticket_id, link.outcome, link.applied_at = done_at, via_id, None, None
        return cb.id

    async def _lock_citizen(self, session: AsyncSession, citizen_id: int) -> m.Citizen:
        # Serialises planning per citizen, so two tickets done at once still make one call.
        stmt = select(m.Citizen).where(m.Citizen.id == citizen_id)
        if _is_pg(session):
            stmt = stmt.with_for_update()
        return (await session.execute(stmt)).scalar_one()

    def _new_callback(
        self,
        citizen: m.Citizen,
        priority: int,
        window: CallWindow,
        mode: CallbackMode,
        done_at: datetime,
        now: datetime,
    ) -> m.Callback:
        return m.Callback(
            citizen_id=citizen.id,
            phone=citizen.phone,
            state=CallbackState.PLANNED.value,
            mode=mode.value,
            priority=priority,
            due_at=self.policy.first_due(done_at, window),
            attempts=0,
            created_at=now,
            window_start=window.start,
            window_end=window.end,
        )

    def _merge(self, cb: m.Callback, priority: int, window: CallWindow) -> None:
        cb.priority = min(cb.priority, priority)
        merged = self.policy.merged_window(_window(cb), window)
        if merged != _window(cb):
            cb.window_start, cb.window_end = merged.start, merged.end
            cb.due_at = self.policy.next_callable(cb.due_at, merged)

    async def drop_ticket(self, ticket_id: int, now: datetime, *, keep_duplicates: bool) -> list[int]:
        """The ticket left "done" some other way: take it off callbacks not yet being called.

        ``keep_duplicates``: when it was closed, the duplicates' reporters are still told.
        Returns the callbacks cancelled because nothing was left on them.
        """
        async with self._sessions.begin() as session:
            stmt = (
                select(m.CallbackTicket)
                .join(m.Callback, m.Callback.id == m.CallbackTicket.callback_id)
                .where(m.CallbackTicket.ticket_id == ticket_id, m.Callback.state == CallbackState.PLANNED.value)
            )
            if keep_duplicates:
                stmt = stmt.where(m.CallbackTicket.via_ticket_id.is_(None))
            links = (await session.execute(stmt)).scalars().all()
            for link in links:
                await session.delete(link)
            await session.flush()
            return await self._cancel_empty(session, {link.callback_id for link in links}, now)

    async def _cancel_empty(self, session: AsyncSession, ids: set[int], now: datetime) -> list[int]:
        cancelled = []
        for callback_id in sorted(ids):
            left = (
                await session.execute(
                    select(func.count())
                    .select_from(m.CallbackTicket)
                    .where(m.CallbackTicket.callback_id == callback_id)
                )
            ).scalar_one()
            if left == 0:
                await session.execute(
                    update(m.Callback)
                    .where(m.Callback.id == callback_id)
                    .values(state=CallbackState.CANCELLED.value, completed_at=now)
                )
                cancelled.append(callback_id)
        return cancelled

    async def tickets_missing_callback(self, limit: int = 200) -> list[tuple[int, datetime]]:
        """Done tickets whose latest "done" has no callback (a listener that never ran, a restart)."""
        done = (
            select(m.TicketEvent.ticket_id.label("ticket_id"), func.max(m.TicketEvent.at).label("done_at"))
            .join(m.Ticket, m.Ticket.id == m.TicketEvent.ticket_id)
            .outerjoin(m.Category, m.Category.code == m.Ticket.category_code)
            .where(
                m.Ticket.status == Status.DONE.value,
                m.TicketEvent.kind == "status",
                m.TicketEvent.to_status == Status.DONE.value,
                (m.Category.callback.is_(None)) | (m.Category.callback.is_(True)),
            )
            .group_by(m.TicketEvent.ticket_id)
            .subquery()
        )
        dup = m.Ticket.__table__.alias("dup")
        has_reporter = (
            select(m.Ticket.id).where(m.Ticket.id == done.c.ticket_id, m.Ticket.citizen_id.is_not(None)).exists()
            | select(dup.c.id).where(dup.c.duplicate_of_id == done.c.ticket_id, dup.c.citizen_id.is_not(None)).exists()
        )
        planned = (
            select(m.CallbackTicket.ticket_id)
            .where(m.CallbackTicket.ticket_id == done.c.ticket_id, m.CallbackTicket.done_at >= done.c.done_at)
            .exists()
        )
        stmt = (
            select(done.c.ticket_id, done.c.done_at)
            .where(has_reporter, ~planned)
            .order_by(done.c.ticket_id)
            .limit(limit)
        )
        async with self._sessions() as session:
            return [(tid, at) for tid, at in (await session.execute(stmt)).all()]

    # ------------------------------------------------------------------ dispatching

    async def release_expired(self, now: datetime, limit: int = 100) -> list[OutcomeRecord]:
        """Claims whose lease ran out (crash, restart, an operator who left): free them.

        An attempt left open is closed as "lost" and counts; auto callbacks are then due at once.
        """
        records = []
        expired = (m.Callback.state == CallbackState.CLAIMED.value) & (m.Callback.lease_until <= now)
        if not await self._any(expired):
            return records  # the usual case: no write transaction (no SQLite write lock) at all
        async with self._sessions.begin() as session:
            stmt = select(m.Callback).where(expired).order_by(m.Callback.lease_until).limit(limit)
            if _is_pg(session):
                stmt = stmt.with_for_update(skip_locked=True)
            for cb in (await session.execute(stmt)).scalars().all():
                attempt = await self._open_attempt(session, cb.id)
                if attempt is None:
                    self._apply_next(cb, Next(Decision.RETRY, now), None, now)
                    continue
                attempt.result, attempt.ended_at = AttemptResult.LOST.value, now
                nxt = self.policy.after_attempt(AttemptResult.LOST, cb.attempts, now, _window(cb))
                logger.warning(
                    "callback %s: claim by %s expired; attempt %s lost, %s",
                    cb.id,
                    cb.claimed_by,
                    attempt.action_id,
                    nxt.decision.value,
                )
                self._apply_next(cb, nxt, AttemptResult.LOST, now)
                records.append(OutcomeRecord(cb.id, AttemptResult.LOST, nxt.decision, nxt.due_at, cb.attempts))
        return records

    async def claim_auto(
        self, owner: str, now: datetime, cap: int, lease: timedelta, batch: int = 50
    ) -> list[ClaimedCall]:
        """Claim due automatic callbacks: at most ``batch`` now, ``cap`` in flight across all instances."""
        if not self.policy.is_calling_day(now):
            return []
        minute = self.policy.local_minute(now)
        if not await self._any(
            (m.Callback.state == CallbackState.PLANNED.value)
            & (m.Callback.mode == CallbackMode.AUTO.value)
            & (m.Callback.due_at <= now)
            & (m.Callback.window_start <= minute)
            & (m.Callback.window_end > minute)
        ):
            return []
        async with self._sessions.begin() as session:
            if _is_pg(session):
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            room = min(batch, cap - await self._in_flight(session, now))
            if room <= 0:
                return []
            ids = await self._due_ids(session, now, room)
            if not ids:
                return []
            rows = (
                await session.execute(
                    update(m.Callback)
                    .where(m.Callback.id.in_(ids), m.Callback.state == CallbackState.PLANNED.value)
                    .values(
                        state=CallbackState.CLAIMED.value,
                        claimed_by=owner,
                        lease_until=now + lease,
                        attempts=m.Callback.attempts + 1,
                    )
                    .returning(
                        m.Callback.id,
                        m.Callback.phone,
                        m.Callback.attempts,
                        m.Callback.window_start,
                        m.Callback.window_end,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            return await self._start_attempts(session, rows, owner, now)

    async def _any(self, condition: Any) -> bool:
        async with self._sessions() as session:
            return (await session.execute(select(m.Callback.id).where(condition).limit(1))).first() is not None

    async def _in_flight(self, session: AsyncSession, now: datetime) -> int:
        return (
            await session.execute(
                select(func.count())
                .select_from(m.Callback)
                .where(
                    m.Callback.state == CallbackState.CLAIMED.value,
                    m.Callback.mode == CallbackMode.AUTO.value,
                    m.Callback.lease_until > now,
                )
            )
        ).scalar_one()

    async def _due_ids(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        """Due callbacks, most urgent priority first, oldest first within a priority.

        One index range scan per priority present (found with a loose index scan): a single
        ``ORDER BY priority, due_at`` would wade through every not-yet-due retry of a priority
        before reaching the next one, which grows with a backlog.
        """
        minute = self.policy.local_minute(now)
        ids: list[int] = []
        priority: int | None = None
        while len(ids) < limit:
            priority = await self._next_priority(session, priority)
            if priority is None:
                break
            stmt = (
                select(m.Callback.id)
                .where(
                    m.Callback.state == CallbackState.PLANNED.value,
                    m.Callback.mode == CallbackMode.AUTO.value,
                    m.Callback.priority == priority,
                    m.Callback.due_at <= now,
                    m.Callback.window_start <= minute,
                    m.Callback.window_end > minute,
                )
                .order_by(m.Callback.due_at)
                .limit(limit - len(ids))
            )
            if _is_pg(session):
                stmt = stmt.with_for_update(skip_locked=True)
            ids += (await session.execute(stmt)).scalars().all()
        return ids

    async def _next_priority(self, session: AsyncSession, after: int | None) -> int | None:
        stmt = select(func.min(m.Callback.priority)).where(
            m.Callback.state == CallbackState.PLANNED.value, m.Callback.mode == CallbackMode.AUTO.value
        )
        if after is not None:
            stmt = stmt.where(m.Callback.priority > after)
        return (await session.execute(stmt)).scalar_one_or_none()

    async def _start_attempts(
        self, session: AsyncSession, rows: Sequence[Any], owner: str, now: datetime
    ) -> list[ClaimedCall]:
        if not rows:
            return []
        keys = {row.id: new_action_id(row.id, row.attempts) for row in rows}
        await session.execute(
            insert(m.CallbackAttempt),
            [
                {"callback_id": cid, "started_at": now, "mode": CallbackMode.AUTO.value, "action_id": key}
                for cid, key in keys.items()
            ],
        )
        numbers = await self._numbers(session, list(keys))
        return [
            ClaimedCall(
                row.id,
                row.phone,
                row.attempts,
                keys[row.id],
                numbers.get(row.id, ()),
                owner,
                CallWindow(row.window_start, row.window_end),
            )
            for row in sorted(rows, key=lambda r: r.id)
        ]

    async def _numbers(self, session: AsyncSession, callback_ids: list[int]) -> dict[int, tuple[str, ...]]:
        """Ticket numbers per callback: the citizen's own tickets first (the first is the main one)."""
        rows = await session.execute(
            select(m.CallbackTicket.callback_id, m.Ticket.number)
            .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
            .where(m.CallbackTicket.callback_id.in_(callback_ids))
            .order_by(m.CallbackTicket.callback_id, m.CallbackTicket.via_ticket_id.is_not(None), m.Ticket.id)
        )
        numbers: dict[int, list[str]] = defaultdict(list)
        for callback_id, number in rows:
            numbers[callback_id].append(number)
        return {cid: tuple(items) for cid, items in numbers.items()}

    async def mark_answered(
        self, callback_id: int, action_id: str, now: datetime, lease: timedelta, uniqueid: str | None
    ) -> None:
        """The citizen picked up: keep the claim while the IVR asks (its outcome comes separately)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(m.Callback)
                .where(m.Callback.id == callback_id, m.Callback.state == CallbackState.CLAIMED.value)
                .values(lease_until=now + lease)
            )
            await session.execute(
                update(m.CallbackAttempt)
                .where(m.CallbackAttempt.action_id == action_id, m.CallbackAttempt.result.is_(None))
                .values(call_uniqueid=uniqueid or "answered")
            )

    # ------------------------------------------------------------------ results

    async def record_dial_result(
        self, call: ClaimedCall, result: AttemptResult, now: datetime, note: str | None = None
    ) -> OutcomeRecord:
        """A dispatcher's dial ended without an answer (busy, no answer, failed, not sent...).

        The hot path of the dispatcher: two conditional UPDATEs, no rows loaded. It applies only
        while this claim is still ours and its attempt still open; otherwise (an IVR outcome came
        first, the lease expired and someone else took over) nothing changes (decision None).
        """
        nxt = self.policy.after_attempt(result, call.attempt_no, now, call.window)
        try:
            async with self._sessions.begin() as session:
                moved = await session.execute(
                    update(m.Callback)
                    .where(
                        m.Callback.id == call.callback_id,
                        m.Callback.state == CallbackState.CLAIMED.value,
                        m.Callback.claimed_by == call.owner,
                        m.Callback.attempts == call.attempt_no,
                    )
                    .values(**_next_values(nxt, result, now, call.attempt_no))
                )
                if moved.rowcount != 1:
                    return OutcomeRecord(call.callback_id, result, None, None, call.attempt_no)
                closed = await session.execute(
                    update(m.CallbackAttempt)
                    .where(m.CallbackAttempt.action_id == call.action_id, m.CallbackAttempt.result.is_(None))
                    .values(result=result.value, ended_at=now, note=note)
                )
                if closed.rowcount != 1:
                    raise _Stale
        except _Stale:
            return OutcomeRecord(call.callback_id, result, None, None, call.attempt_no)
        return OutcomeRecord(call.callback_id, result, nxt.decision, nxt.due_at, call.attempt_no)

    async def record_result(
        self,
        callback_id: int,
        result: AttemptResult,
        now: datetime,
        *,
        mode: CallbackMode | None = None,
        operator_id: int | None = None,
        note: str | None = None,
        recording: str | None = None,
        call_uniqueid: str | None = None,
        late_ok: bool = False,
    ) -> OutcomeRecord:
        """Write one attempt's result and move the callback on (retry, unreachable, done...).

        The result goes to the open attempt (or a new one). ``late_ok`` (the IVR's outcome): it
        may also complete an attempt we stopped waiting for. A finished callback is left alone
        (decision None), so a repeated outcome is harmless.
        """
        async with self._sessions.begin() as session:
            cb = await self._lock_callback(session, callback_id)
            if cb.state not in ACTIVE:
                return OutcomeRecord(cb.id, result, None, None, cb.attempts)
            attempt = await self._attempt_for(session, cb, None, False, late_ok)
            if attempt is None:
                cb.attempts += 1
                attempt = m.CallbackAttempt(
                    callback_id=cb.id, started_at=now, mode=(mode or CallbackMode(cb.mode)).value
                )
                session.add(attempt)
            _finish_attempt(
                attempt,
                result,
                now,
                operator_id=operator_id,
                note=note,
                recording=recording,
                call_uniqueid=call_uniqueid,
            )
            nxt = self.policy.after_attempt(result, cb.attempts, now, _window(cb))
            self._apply_next(cb, nxt, result, now)
            if nxt.decision is Decision.DONE:
                await session.execute(
                    update(m.CallbackTicket)
                    .where(m.CallbackTicket.callback_id == cb.id, m.CallbackTicket.applied_at.is_(None))
                    .values(outcome=result.value)
                )
            return OutcomeRecord(cb.id, result, nxt.decision, nxt.due_at, cb.attempts)

    async def _lock_callback(self, session: AsyncSession, callback_id: int) -> m.Callback:
        stmt = select(m.Callback).where(m.Callback.id == callback_id)
        if _is_pg(session):
            stmt = stmt.with_for_update()
        cb = (await session.execute(stmt)).scalar_one_or_none()
        if cb is None:
            raise CallbackNotFound(callback_id)
        return cb

    async def _open_attempt(self, session: AsyncSession, callback_id: int) -> m.CallbackAttempt | None:
        return (
            await session.execute(
                select(m.CallbackAttempt)
                .where(m.CallbackAttempt.callback_id == callback_id, m.CallbackAttempt.result.is_(None))
                .order_by(m.CallbackAttempt.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def _attempt_for(
        self, session: AsyncSession, cb: m.Callback, action_id: str | None, strict: bool, late_ok: bool
    ) -> m.CallbackAttempt | None:
        if action_id is not None:
            attempt = (
                await session.execute(
                    select(m.CallbackAttempt).where(
                        m.CallbackAttempt.callback_id == cb.id, m.CallbackAttempt.action_id == action_id
                    )
                )
            ).scalar_one_or_none()
            return None if attempt is None or (strict and attempt.result is not None) else attempt
        latest = (
            await session.execute(
                select(m.CallbackAttempt)
                .where(m.CallbackAttempt.callback_id == cb.id)
                .order_by(m.CallbackAttempt.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        # An outcome that arrives after we stopped waiting for the call still belongs to it.
        late = (None, AttemptResult.TIMED_OUT.value, AttemptResult.LOST.value) if late_ok else (None,)
        return latest if latest is not None and latest.result in late else None

    def _apply_next(self, cb: m.Callback, nxt: Next, result: AttemptResult | None, now: datetime) -> None:
        for name, value in _next_values(nxt, result, now, cb.attempts).items():
            setattr(cb, name, value)

    # ------------------------------------------------------------------ applying outcomes to tickets

    async def pending_applications(self, limit: int = 100, callback_id: int | None = None) -> list[Application]:
        """Covered tickets whose callback has an outcome not yet applied to them."""
        via = m.Ticket.__table__.alias("via")
        stmt = (
            select(m.CallbackTicket, m.Ticket.number, m.Ticket.status, m.Ticket.citizen_id, via.c.number)
            .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
            .outerjoin(via, via.c.id == m.CallbackTicket.via_ticket_id)
            .where(m.CallbackTicket.outcome.is_not(None), m.CallbackTicket.applied_at.is_(None))
            .order_by(m.CallbackTicket.callback_id, m.CallbackTicket.via_ticket_id.is_not(None), m.Ticket.id)
            .limit(limit)
        )
        if callback_id is not None:
            stmt = stmt.where(m.CallbackTicket.callback_id == callback_id)
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
            deciding = await self._deciding_attempts(session, {r[0].callback_id for r in rows})
        apps = []
        for link, number, status, citizen_id, via_number in rows:
            attempt = deciding.get(link.callback_id)
            apps.append(
                Application(
                    link.callback_id,
                    link.ticket_id,
                    number,
                    Status(status),
                    citizen_id is not None,
                    via_number,
                    AttemptResult(link.outcome),
                    attempt.note if attempt else None,
                    attempt.recording if attempt else None,
                    attempt.operator_id if attempt else None,
                )
            )
        return apps

    async def _deciding_attempts(self, session: AsyncSession, ids: set[int]) -> dict[int, m.CallbackAttempt]:
        if not ids:
            return {}
        rows = (
            (
                await session.execute(
                    select(m.CallbackAttempt)
                    .where(
                        m.CallbackAttempt.callback_id.in_(ids),
                        m.CallbackAttempt.result.in_(["satisfied", "not_satisfied"]),
                    )
                    .order_by(m.CallbackAttempt.id)
                )
            )
            .scalars()
            .all()
        )
        return {a.callback_id: a for a in rows}  # the latest reached attempt wins

    async def mark_applied(self, callback_id: int, ticket_id: int, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(m.CallbackTicket)
                .where(m.CallbackTicket.callback_id == callback_id, m.CallbackTicket.ticket_id == ticket_id)
                .values(applied_at=now)
            )

    async def has_attachment(self, ticket_id: int, path: str) -> bool:
        async with self._sessions() as session:
            found = await session.execute(
                select(m.Attachment.id).where(
                    m.Attachment.ticket_id == ticket_id, m.Attachment.path == path, m.Attachment.kind == "comment"
                )
            )
            return found.first() is not None

    # ------------------------------------------------------------------ lookups

    async def find_for_ticket(self, number: str) -> int | None:
        """The newest active callback covering the ticket with this number (the IVR's fallback)."""
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(m.Callback.id)
                    .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
                    .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
                    .where(m.Ticket.number == number, m.Callback.state.in_(ACTIVE))
                    .order_by(m.Callback.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()

    async def get(self, callback_id: int) -> m.Callback:
        async with self._sessions() as session:
            cb = await session.get(m.Callback, callback_id)
            if cb is None:
                raise CallbackNotFound(callback_id)
            return cb

    async def numbers_of(self, callback_id: int, *, own_only: bool = False) -> tuple[str, ...]:
        async with self._sessions() as session:
            stmt = (
                select(m.Ticket.number)
                .join(m.CallbackTicket, m.CallbackTicket.ticket_id == m.Ticket.id)
                .where(m.CallbackTicket.callback_id == callback_id)
                .order_by(m.Ticket.id)
            )
            if own_only:
                stmt = stmt.where(m.CallbackTicket.via_ticket_id.is_(None))
            return tuple((await session.execute(stmt)).scalars().all())

    # ------------------------------------------------------------------ operators

    async def take(
        self, callback_id: int, user_id: int, now: datetime, lease: timedelta, *, require_due: bool = True
    ) -> m.Callback:
        """An operator takes a callback (or keeps the one they hold); others no longer see it."""
        owner = f"user:{user_id}"
        async with self._sessions.begin() as session:
            cb = await self._lock_callback(session, callback_id)
            if cb.state not in ACTIVE:
                raise CallbackBusy("Этот обратный звонок уже завершён", details={"callback": cb.id})
            held = cb.state == CallbackState.CLAIMED.value and cb.lease_until is not None and cb.lease_until > now
            if held and cb.claimed_by != owner:
                message = (
                    "По этому обратному звонку сейчас идёт автоматический вызов"
                    if cb.mode == CallbackMode.AUTO.value
                    else "Этот обратный звонок уже взял другой сотрудник"
                )
                raise CallbackBusy(message, details={"callback": cb.id})
            if require_due and not held and cb.due_at > now:
                raise CallbackBusy("Время этого обратного звонка ещё не наступило", details={"callback": cb.id})
            cb.state, cb.mode, cb.claimed_by = CallbackState.CLAIMED.value, CallbackMode.OPERATOR.value, owner
            cb.lease_until = now + max(lease, OPERATOR_LEASE)
            return cb

    async def start_operator_attempt(self, callback_id: int, user_id: int, now: datetime) -> tuple[str, int]:
        """Write the click-to-call attempt (and its Originate key) before anything is dialled."""
        async with self._sessions.begin() as session:
            cb = await self._lock_callback(session, callback_id)
            if cb.claimed_by != f"user:{user_id}" or cb.state != CallbackState.CLAIMED.value:
                raise CallbackBusy("Сначала возьмите этот обратный звонок", details={"callback": cb.id})
            open_attempt = await self._open_attempt(session, cb.id)
            if open_attempt is not None:  # an earlier click without a recorded outcome
                open_attempt.result, open_attempt.ended_at = AttemptResult.LOST.value, now
            cb.attempts += 1
            key = new_action_id(cb.id, cb.attempts)
            session.add(
                m.CallbackAttempt(
                    callback_id=cb.id,
                    started_at=now,
                    mode=CallbackMode.OPERATOR.value,
                    operator_id=user_id,
                    action_id=key,
                )
            )
            return key, cb.attempts

    async def cancel_attempt(self, callback_id: int, action_id: str, now: datetime, *, note: str) -> None:
        """An attempt that never reached the citizen (the operator's phone did not answer): not counted."""
        async with self._sessions.begin() as session:
            cb = await self._lock_callback(session, callback_id)
            attempt = await self._attempt_for(session, cb, action_id, strict=True, late_ok=False)
            if attempt is None:
                return
            attempt.result, attempt.ended_at, attempt.note = AttemptResult.NOT_SENT.value, now, note
            cb.attempts = max(0, cb.attempts - 1)

    # ------------------------------------------------------------------ supervisors

    async def reschedule(self, callback_id: int, now: datetime, *, mode: CallbackMode) -> m.Callback:
        """Retry now (or hand to the operators): a new round of attempts, due as soon as allowed."""
        async with self._sessions.begin() as session:
            cb = await self._lock_callback(session, callback_id)
            if cb.state not in (CallbackState.UNREACHABLE.value, CallbackState.PLANNED.value):
                raise CallbackBusy(
                    "Повторить можно только недозвон или ещё не начатый звонок",
                    details={"callback": cb.id, "state": cb.state},
                )
            cb.state, cb.mode, cb.attempts = CallbackState.PLANNED.value, mode.value, 0
            cb.due_at = self.policy.next_callable(now, _window(cb))
            cb.outcome, cb.completed_at, cb.claimed_by, cb.lease_until = None, None, None, None
            return cb

    async def give_up(self, callback_id: int, now: datetime) -> m.Callback:
        """A supervisor marks an unreachable callback "недозвон"; its tickets stay done."""
        async with self._sessions.begin() as session:
            cb = await self._lock_callback(session, callback_id)
            if cb.state != CallbackState.UNREACHABLE.value:
                raise CallbackBusy(
                    "Отметить как недозвон можно только звонок, по которому не дозвонились",
                    details={"callback": cb.id, "state": cb.state},
                )
            cb.state, cb.outcome, cb.completed_at = CallbackState.GIVEN_UP.value, "given_up", now
            return cb


class _Stale(Exception):
    """Rolls back a dial result that arrived after its attempt was closed."""


def _finish_attempt(
    attempt: m.CallbackAttempt,
    result: AttemptResult,
    now: datetime,
    *,
    operator_id: int | None,
    note: str | None,
    recording: str | None,
    call_uniqueid: str | None,
) -> None:
    attempt.result, attempt.ended_at = result.value, now
    attempt.operator_id = operator_id or attempt.operator_id
    # A reached result's note is the citizen's words (or nothing), never an earlier dial detail.
    attempt.note = note if note is not None or result in REACHED else attempt.note
    attempt.recording = recording or attempt.recording
    attempt.call_uniqueid = call_uniqueid or attempt.call_uniqueid


def _next_values(nxt: Next, result: AttemptResult | None, now: datetime, attempts: int) -> dict[str, Any]:
    """The callback columns a decision sets (one place for the ORM and the Core paths)."""
    values: dict[str, Any] = {"claimed_by": None, "lease_until": None}
    if result is not None:
        values["last_result"] = result.value
    if nxt.decision is Decision.DONE:
        values.update(state=CallbackState.DONE.value, outcome=result.value if result else None, completed_at=now)
    elif nxt.decision is Decision.UNREACHABLE:
        values.update(state=CallbackState.UNREACHABLE.value, outcome="unreachable", completed_at=now)
    elif nxt.decision is Decision.RELEASE:
        values.update(state=CallbackState.PLANNED.value, attempts=max(0, attempts - 1))
    else:
        if nxt.decision is Decision.TO_OPERATOR:
            values["mode"] = CallbackMode.OPERATOR.value
        values.update(state=CallbackState.PLANNED.value, due_at=nxt.due_at or now)
    return values


__all__ = [
    "Application",
    "CallbackBusy",
    "CallbackNotFound",
    "CallbackStore",
    "ClaimedCall",
    "OutcomeRecord",
]
