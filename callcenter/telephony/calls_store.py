"""Call rows in the store, written off the AMI reader's path.

Three parts:

* :class:`OperatorDirectory`: a queue member's interface (``Local/op1@operators/n``) ->
  the staff user whose ``device`` names it, cached, because every ring asks;
* :class:`CallStore`: the ``calls`` table: batch upserts by Linkedid, click-to-call
  claims, the missed calls of the last day;
* :class:`CallWriter`: a bounded, coalescing queue between the tracker's notifications
  and the store. ``offer()`` never waits; one writer task drains the queue in batches.
  Each call snapshot is the whole call, so only the newest per Linkedid is kept: memory
  is bounded by the number of distinct calls waiting, not by the event rate. A failed
  batch (database gone) is logged, kept and retried with backoff; it never reaches the
  AMI link.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.users import UserService, UserView
from callcenter.domain.calls import CallDirection, CallSnapshot
from callcenter.domain.conversations import CONVERSATION_KEY, PARTIES, Dialogue, read_conversation, recording_path
from callcenter.domain.phones import format_phone
from callcenter.domain.queue_stats import QueueCall
from callcenter.store import models as m
from callcenter.tasks import supervise
from callcenter.telephony.tracker import device_of_interface

logger = logging.getLogger(__name__)


# --- operators ------------------------------------------------------------------------


class OperatorDirectory:
    """Which staff user sits at a queue member's interface (``Local/op1@operators/n``).

    ``refresh()`` loads every active user with a device in one query; the telephony
    service calls it at start and then every ``REFRESH_SECONDS``, so a ring normally
    needs no database round trip and the screen pop's first frame goes out from memory.
    An interface missing from that map is asked for once and the answer (found or not)
    kept for ``ask_ttl`` seconds. A user matches when their ``device`` is the interface
    itself or its device part (``Local/op1@operators``).
    """

    REFRESH_SECONDS = 30.0

    def __init__(
        self, users: UserService, *, ask_ttl: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._users = users
        self._ask_ttl = ask_ttl
        self._clock = clock
        self._devices: dict[str, UserView] = {}
        self._asked: dict[str, tuple[UserView | None, float]] = {}

    def cached(self, interface: str) -> tuple[bool, UserView | None]:
        """(known, user) from memory only; ``known`` False means the database must be asked."""
        user = self._devices.get(interface) or self._devices.get(device_of_interface(interface))
        if user is not None:
            return True, user
        entry = self._asked.get(interface)
        if entry is not None and entry[1] >= self._clock():
            return True, entry[0]
        return False, None

    async def resolve(self, interface: str) -> UserView | None:
        """The user at ``interface``, or None; asks the database only when not cached."""
        known, user = self.cached(interface)
        if known:
            return user
        user = await self._users.by_device(interface)
        device = device_of_interface(interface)
        if user is None and device != interface:
            user = await self._users.by_device(device)
        self._asked[interface] = (user, self._clock() + self._ask_ttl)
        return user

    async def refresh(self) -> int:
        """Reload every active user's device (one query); returns how many have one."""
        users = [u for u in await self._users.all() if u.device and u.active]
        self._devices = {u.device: u for u in users}  # type: ignore[misc]
        self._asked.clear()
        return len(users)


# --- rows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MissedCall:
    """A caller who left the queue unanswered lately, for the supervisors' board."""

    linkedid: str
    caller: str | None
    started_at: datetime
    ended_at: datetime | None
    wait_seconds: float | None
    ivr_path: str | None
    ticket_number: str | None
    reached_at: datetime | None  # a later answered call with this number, if any

    def as_json(self) -> dict[str, Any]:
        return {
            "linkedid": self.linkedid,
            "caller": self.caller,
            "caller_display": format_phone(self.caller) if self.caller else "номер скрыт",
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "wait_seconds": self.wait_seconds,
            "ivr_path": self.ivr_path,
            "ticket": self.ticket_number,
            "reached_at": _iso(self.reached_at),
        }


@dataclass(frozen=True, slots=True)
class SavedConversation:
    """A call's kept conversation (the live conversation feature's transcript), as pages show it."""

    linkedid: str
    caller: str | None
    started_at: datetime
    operator: str | None
    ticket_number: str | None
    ticket_department: str | None
    dialogue: Dialogue
    files: dict[str, str]  # party -> its WAV, relative to the data folder


@dataclass(frozen=True)
class OutboundClaim:
    """The row a click-to-call reserved before dialling (its Linkedid is ``cc-<key>``)."""

    linkedid: str
    ticket_id: int | None
    operator_id: int | None
    outcome: str | None
    detail: str | None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _trim(value: str | None, size: int) -> str | None:
    return value[:size] if value else None


def _hangup_text(call: CallSnapshot) -> str | None:
    if call.hangup_cause is None and not call.hangup_cause_text:
        return None
    parts = [str(call.hangup_cause) if call.hangup_cause is not None else "", call.hangup_cause_text or ""]
    return " ".join(p for p in parts if p)[:80]


def call_data(call: CallSnapshot) -> dict[str, Any]:
    """The facts without a column of their own, kept in ``calls.data``."""
    data: dict[str, Any] = {
        "wait_seconds": _round(call.queue_wait_seconds),
        "duration_seconds": _round(call.duration_seconds),
        "needs_callback": call.needs_callback,
        "rang": [r.interface for r in call.rang],
    }
    optional = {
        "caller_raw": call.caller_raw,
        "caller_name": call.caller_name,
        "ivr_route": call.ivr_route,
        "ivr_choices": list(call.ivr_choices) or None,
        "operator_name": call.answered_by_name,
        "request_id": call.request_id,
        "callback_id": call.callback_id,
        "ticket_number": call.ticket_id,
    }
    data.update({k: v for k, v in optional.items() if v})
    if call.answered_at is not None and call.ended_at is not None:
        data["talk_seconds"] = _round((call.ended_at - call.answered_at).total_seconds())
    return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class CallStore:
    """The ``calls`` table (one row per Linkedid)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def upsert(self, calls: list[CallSnapshot], operators: dict[str, int]) -> None:
        """Insert or update the rows of ``calls`` in one transaction.

        ``operators`` maps answering interfaces to user ids. A ticket number the IVR or a
        callback set becomes ``ticket_id`` unless the row already points at a ticket (an
        operator's link wins); ``data`` is merged, so a click-to-call's outcome stays.
        """
        ids = [c.linkedid for c in calls]
        async with self._sessions.begin() as session:
            rows = {
                r.linkedid: r
                for r in (
                    await session.execute(select(m.Call).where(m.Call.linkedid.in_(ids)).with_for_update())
                ).scalars()
            }
            numbers = {c.ticket_id for c in calls if c.ticket_id}
            tickets = (
                dict(
                    (
                        await session.execute(select(m.Ticket.number, m.Ticket.id).where(m.Ticket.number.in_(numbers)))
                    ).all()
                )
                if numbers
                else {}
            )
            for call in calls:
                row = rows.get(call.linkedid)
                if row is None:
                    row = m.Call(linkedid=call.linkedid, data={}, started_at=call.arrived_at)
                    session.add(row)
                _apply(row, call, operators.get(call.answered_by or ""), tickets.get(call.ticket_id or ""))

    async def claim_outbound(
        self,
        linkedid: str,
        *,
        caller: str,
        ticket_id: int,
        operator_id: int,
        interface: str,
        request_id: str,
        now: datetime,
    ) -> bool:
        """Reserve the row of a click-to-call before dialling; False if it exists already.

        The unique Linkedid makes this atomic across app instances: of two submits of
        one form (double click, another instance, a reconnect) only one dials.
        """
        try:
            async with self._sessions.begin() as session:
                session.add(
                    m.Call(
                        linkedid=linkedid,
                        direction="out",
                        caller=caller,
                        started_at=now,
                        agent_interface=interface,
                        operator_id=operator_id,
                        ticket_id=ticket_id,
                        data={"request_id": request_id, "kind": "click_to_call"},
                    )
                )
        except IntegrityError:
            return False
        return True

    async def outbound(self, linkedid: str) -> OutboundClaim | None:
        async with self._sessions() as session:
            row = (await session.execute(select(m.Call).where(m.Call.linkedid == linkedid))).scalar_one_or_none()
        if row is None:
            return None
        data = row.data or {}
        return OutboundClaim(row.linkedid, row.ticket_id, row.operator_id, data.get("outcome"), data.get("detail"))

    async def finish_outbound(self, linkedid: str, outcome: str, detail: str, now: datetime, answered: bool) -> None:
        """Write a click-to-call's outcome on its row."""
        async with self._sessions.begin() as session:
            row = (
                await session.execute(select(m.Call).where(m.Call.linkedid == linkedid).with_for_update())
            ).scalar_one_or_none()
            if row is None:
                return
            row.data = {**(row.data or {}), "outcome": outcome, "detail": detail[:300]}
            if not answered and row.ended_at is None:
                row.ended_at = now

    async def release_outbound(self, linkedid: str) -> None:
        """Forget a claim that dialled nothing (link down), so the same form can try again."""
        async with self._sessions.begin() as session:
            await session.execute(delete(m.Call).where(m.Call.linkedid == linkedid, m.Call.answered_at.is_(None)))

    async def missed_since(self, since: datetime) -> list[MissedCall]:
        """Inbound calls abandoned since ``since``, newest first, with whether we reached them later.

        The board asks for the last 24 hours, not the calendar day: the hotline works round
        the clock and a caller who gave up at 23:55 still waits for a call at 00:05.
        """
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(m.Call, m.Ticket.number)
                    .outerjoin(m.Ticket, m.Ticket.id == m.Call.ticket_id)
                    .where(m.Call.started_at >= since)
                    .order_by(m.Call.started_at.desc())
                )
            ).all()
        return _missed(rows)

    async def queue_calls(self, since: datetime, until: datetime, *, limit: int = 200_000) -> list[QueueCall]:
        """The calls that joined a queue in [since, until), for the queue statistics (oldest first)."""
        query = (
            select(m.Call)
            .where(m.Call.queued_at >= since, m.Call.queued_at < until, m.Call.queue.is_not(None))
            .order_by(m.Call.queued_at)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [queue_call(row) for row in rows]

    async def save_conversation(self, linkedid: str, conversation: dict[str, Any], started_at: datetime) -> None:
        """Keep a live conversation's transcript on the call's row (``data["conversation"]``),
        merged like every other fact; the row is made when the call writer has not yet made it
        (and written again once if both made it at the same moment)."""
        for attempt in (1, 2):
            try:
                async with self._sessions.begin() as session:
                    row = (
                        await session.execute(select(m.Call).where(m.Call.linkedid == linkedid).with_for_update())
                    ).scalar_one_or_none()
                    if row is None:
                        row = m.Call(linkedid=linkedid, data={}, started_at=started_at)
                        session.add(row)
                    row.data = {**(row.data or {}), "conversation": conversation}
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    async def conversations_since(self, since: datetime, *, limit: int = 100) -> list[SavedConversation]:
        """Calls since ``since`` with a kept conversation, newest first (the calls page)."""
        query = _conversation_query().where(m.Call.started_at >= since).order_by(m.Call.started_at.desc())
        async with self._sessions() as session:
            rows = (await session.execute(query.limit(limit))).all()
        return [found for row in rows if (found := _saved_conversation(*row)) is not None]

    async def conversation(self, linkedid: str) -> SavedConversation | None:
        """The kept conversation of one call, or None."""
        async with self._sessions() as session:
            row = (await session.execute(_conversation_query().where(m.Call.linkedid == linkedid))).first()
        return _saved_conversation(*row) if row is not None else None

    async def get(self, linkedid: str) -> m.Call | None:
        """One row (for tests, the CLI and support)."""
        async with self._sessions() as session:
            return (await session.execute(select(m.Call).where(m.Call.linkedid == linkedid))).scalar_one_or_none()


def _conversation_query() -> Any:
    # The JSON column as text: one filter for SQLite and PostgreSQL; rows are read in Python after.
    return (
        select(m.Call, m.User.full_name, m.User.login, m.Ticket.number, m.Ticket.department_code)
        .outerjoin(m.User, m.User.id == m.Call.operator_id)
        .outerjoin(m.Ticket, m.Ticket.id == m.Call.ticket_id)
        .where(cast(m.Call.data, Text).like(f'%"{CONVERSATION_KEY}"%'))
    )


def _saved_conversation(
    call: m.Call, full_name: str | None, login: str | None, number: str | None, department: str | None
) -> SavedConversation | None:
    dialogue = read_conversation(call.data)
    if dialogue is None:
        return None
    files = {party: path for party in PARTIES if (path := recording_path(call.data, party)) is not None}
    started = _aware(call.started_at) or datetime.now(UTC)
    return SavedConversation(
        call.linkedid, call.caller, started, full_name or login, number, department, dialogue, files
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def queue_call(row: m.Call) -> QueueCall:
    """A calls row as the queue statistics read it (see callcenter/domain/queue_stats.py)."""
    data = row.data or {}
    queued_at = _aware(row.queued_at) or _aware(row.started_at)
    answered_at, ended_at = _aware(row.answered_at), _aware(row.ended_at)
    answered = answered_at is not None and bool(row.agent_interface)
    wait = data.get("wait_seconds")
    if wait is None and queued_at is not None:
        left = answered_at if answered else ended_at
        wait = None if left is None else max(0.0, (left - queued_at).total_seconds())
    if not answered and ended_at is None:
        wait = None  # still in the queue
    talk = data.get("talk_seconds")
    rang = data.get("rang") or []
    return QueueCall(
        queue=row.queue or "",
        queued_at=queued_at or datetime.now(UTC),
        wait_seconds=None if wait is None else float(wait),
        answered=answered,
        abandoned=bool(row.abandoned) and not answered,
        talk_seconds=None if talk is None else float(talk),
        operator=data.get("operator_name") or row.agent_interface,
        rang=tuple(str(r) for r in rang if isinstance(r, str)),
        operator_interface=row.agent_interface,
    )


def _apply(row: m.Call, call: CallSnapshot, operator_id: int | None, ticket_id: int | None) -> None:
    row.direction = "in" if call.direction is CallDirection.INBOUND else "out"
    row.caller = _trim(call.caller, 20) or row.caller
    row.started_at = min(row.started_at, call.arrived_at) if row.started_at else call.arrived_at
    row.queued_at = call.queued_at or row.queued_at
    row.answered_at = call.answered_at or row.answered_at
    row.ended_at = call.ended_at or row.ended_at
    row.queue = _trim(call.queue, 60) or row.queue
    row.agent_interface = _trim(call.answered_by, 120) or row.agent_interface
    row.operator_id = operator_id or row.operator_id
    row.ivr_path = _trim(call.ivr_path, 200) or row.ivr_path
    row.hangup_cause = _hangup_text(call) or row.hangup_cause
    row.abandoned = call.abandoned
    row.ticket_id = row.ticket_id or ticket_id
    row.data = {**(row.data or {}), **call_data(call)}


def _missed(rows: Iterable[tuple[m.Call, str | None]]) -> list[MissedCall]:
    rows = list(rows)
    reached: dict[str, list[datetime]] = {}
    for call, _number in rows:
        if call.caller and call.answered_at is not None:
            reached.setdefault(call.caller, []).append(call.answered_at)
    result = []
    for call, number in rows:
        if not call.abandoned or call.direction != "in":
            continue
        later = [t for t in reached.get(call.caller or "", []) if t >= call.started_at]
        result.append(
            MissedCall(
                call.linkedid,
                call.caller,
                call.started_at,
                call.ended_at,
                (call.data or {}).get("wait_seconds"),
                call.ivr_path,
                number,
                min(later) if later else None,
            )
        )
    return result


# --- the writer -----------------------------------------------------------------------


@dataclass(slots=True)
class WriterStats:
    """What the writer did, for logs, tests and the benchmark."""

    written: int = 0  # rows upserted
    batches: int = 0
    failures: int = 0  # failed batch attempts
    dropped: int = 0  # calls refused because the queue was full
    coalesced: int = 0  # snapshots replaced by a newer one before they were written


@dataclass(slots=True)
class _Backoff:
    initial: float
    ceiling: float
    current: float = field(default=0.0)

    def next(self) -> float:
        self.current = self.initial if not self.current else min(self.current * 2, self.ceiling)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class CallWriter:
    """The bounded queue of call snapshots and the task that writes them.

    ``offer()`` is what the tracker's consumer calls; it only touches memory. The
    writer waits ``linger`` seconds after a wake-up (updates of one call coalesce), then
    takes up to ``batch_size`` calls per transaction; a failure puts them back
    (a newer snapshot that arrived meanwhile wins) and waits ``retry_initial`` doubling
    to ``retry_max`` seconds before the next try.
    """

    def __init__(
        self,
        store: CallStore,
        directory: OperatorDirectory,
        *,
        max_pending: int = 5000,
        batch_size: int = 50,
        linger: float = 0.1,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        write_timeout: float = 60.0,
    ) -> None:
        self._store = store
        self._directory = directory
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._backoff = _Backoff(retry_initial, retry_max)
        self._write_timeout = write_timeout
        self._linger = linger
        self._pending: OrderedDict[str, CallSnapshot] = OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._attempted = asyncio.Condition()
        self.stats = WriterStats()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def offer(self, call: CallSnapshot) -> bool:
        """Queue the newest state of a call; never waits. False (counted, logged) when full."""
        if call.linkedid in self._pending:
            self.stats.coalesced += 1
        elif len(self._pending) >= self._max_pending:
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                logger.error(
                    "call writer queue full (%d calls): %d call update(s) dropped so far",
                    self._max_pending,
                    self.stats.dropped,
                )
            return False
        self._pending[call.linkedid] = call
        self._idle.clear()
        self._wake.set()
        return True

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="calls-writer")
        supervise(self._task, logger)

    async def close(self, flush_timeout: float = 5.0) -> None:
        """Write what is pending (within ``flush_timeout`` s), then stop."""
        if self._pending and not await self.wait_idle(flush_timeout):
            logger.warning("call writer stopped with %d unwritten call(s)", len(self._pending))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until everything offered so far is written; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_stats(self, predicate: Callable[[WriterStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(stats)`` holds (checked after each write attempt); False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                async with self._attempted:
                    await self._attempted.wait_for(lambda: predicate(self.stats))
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # A call changes several times a second while it rings and connects: wait a
            # moment so those updates coalesce into one row write.
            await asyncio.sleep(self._linger)
            self._wake.clear()
            while self._pending:
                batch = self._take()
                written = await self._write(batch)
                async with self._attempted:
                    self._attempted.notify_all()
                if written:
                    await asyncio.sleep(0)  # ORM work runs on the loop: let pops through between batches
                    continue
                self._put_back(batch)
                await asyncio.sleep(self._backoff.next())
            self._idle.set()

    def _take(self) -> list[CallSnapshot]:
        batch = []
        while self._pending and len(batch) < self._batch_size:
            batch.append(self._pending.popitem(last=False)[1])
        return batch

    def _put_back(self, batch: list[CallSnapshot]) -> None:
        for call in reversed(batch):
            if call.linkedid not in self._pending:  # a newer snapshot that came meanwhile wins
                self._pending[call.linkedid] = call
                self._pending.move_to_end(call.linkedid, last=False)

    async def _write(self, batch: list[CallSnapshot]) -> bool:
        try:
            async with asyncio.timeout(self._write_timeout):
                operators = await self._operators(batch)
                await self._store.upsert(batch, operators)
        except Exception as err:  # noqa: BLE001 - the database may fail in any way; retried
            self._failed(err, len(batch))
            return False
        self.stats.written += len(batch)
        self.stats.batches += 1
        if self._failing_since is not None:
            logger.warning(
                "call writer: database back after %.1f s; writing %d queued call(s)",
                time.monotonic() - self._failing_since,
                len(self._pending) + len(batch),
            )
            self._failing_since = None
        self._backoff.reset()
        return True

    def _failed(self, err: Exception, size: int) -> None:
        self.stats.failures += 1
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            logger.error("call writer: %d call row(s) not written, retrying: %s", size, err, exc_info=err)
        else:
            logger.warning(
                "call writer: still failing (%d queued): %s",
                len(self._pending) + size,
                str(err).splitlines()[0] if str(err) else type(err).__name__,
            )

    async def _operators(self, batch: list[CallSnapshot]) -> dict[str, int]:
        found: dict[str, int] = {}
        for interface in {c.answered_by for c in batch if c.answered_by}:
            user = await self._directory.resolve(interface)
            if user is not None:
                found[interface] = user.id
        return found
