"""Escalation of late tickets: duty contacts per department and the chain that calls them.

Every ``tick`` (``escalation_tick_seconds``) looks at the dispatched and in-progress tickets.
A ticket past its category's target in its stage (callcenter.domain.escalation.late_stage)
gets one ``escalations`` row for that stage; each step of the configured chain is taken in
turn, ``escalation_step_minutes`` apart, until the ticket moves on:

* ``duty``: an Originate to the department's duty phone (the same AMI originate path as the
  callbacks, asterisk-config [escalation] context, the ``escalation`` FastAGI script): the
  dispatcher hears the number, category and address and presses 1 to accept the ticket on the
  department's behalf (ivr/escalation_backend.py moves it to «в работе»);
* ``head``: the same call to the department head's phone;
* ``supervisor``: the ticket is listed on the wallboard's escalation panel.

The ``duty`` and ``head`` steps also queue an e-mail to the department's duty address (when one
is set and the e-mail channel is configured) through the notifications outbox, written in the
same transaction as the step's event, so one step sends one e-mail.

Every step is an ``escalation`` event on the ticket's timeline. The step is written before the
call is placed and the originate's key is ``esc-<row>-<step>``, so a restart or a second app
instance never rings a phone twice for one step.

A step's call is never overlapped by the next step: while it rings or talks, the row's
``next_at`` is held at the step interval plus ``call_limit_seconds``; when the call is over (not
answered, busy, failed, or answered and hung up: its ``calls`` row, written by the AMI leader's
call tracker, has ``ended_at``) the next step is due at the step interval or at once if that has
passed. A lost hang-up event, or an instance that dies mid-call, only delays the chain to the
held time, never stops it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import DomainError
from callcenter.domain.escalation import KIND_LABELS, STEP_LABELS, Step, late_stage, parse_chain
from callcenter.domain.notifications import ESCALATION_EMAIL_KEY
from callcenter.domain.phones import format_phone, try_normalize_phone
from callcenter.domain.tickets import Actor, Status, Targets
from callcenter.reference import ReferenceData
from callcenter.store import models as m
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.telephony.api import AmiActions, AmiLink, channel_id_for, escalation
from callcenter.tickets.schemas import TicketFilter, TicketView
from callcenter.tickets.service import TicketService
from callcenter.wallboard.models import DutyContact, Escalation

logger = logging.getLogger(__name__)

EVENT_KIND = "escalation"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_TICKETS = 1000  # late tickets looked at per tick (far above a real day)
# Longest a step's call may keep the next step waiting: the escalation originate rings 40 s,
# the script reads the ticket and asks twice (about a minute); the rest is margin.
CALL_LIMIT_SECONDS = 180.0
CALL_POLL_SECONDS = 1.0  # how often an answered call's row is looked at until it ends


class BadContact(DomainError):
    code = "bad_duty_contact"


@dataclass(frozen=True)
class Contacts:
    department: str
    department_name: str
    duty_phone: str | None = None
    duty_email: str | None = None
    head_name: str | None = None
    head_phone: str | None = None


def _phone(raw: object, label: str) -> str | None:
    text = str(raw or "").strip()
    if not text:
        return None
    phone = try_normalize_phone(text)
    if phone is None:
        raise BadContact(f"{label}: «{text[:40]}» — не номер телефона.")
    return phone


class DutyContacts:
    """The ``duty_contacts`` table, one row per department."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], reference: ReferenceData) -> None:
        self._sessions = sessions
        self._reference = reference

    async def all(self) -> list[Contacts]:
        async with self._sessions() as session:
            rows = {r.department_code: r for r in (await session.execute(select(DutyContact))).scalars()}
        return [self._contacts(d.code, rows.get(d.code)) for d in self._reference.departments]

    async def get(self, department: str | None) -> Contacts | None:
        if not department:
            return None
        async with self._sessions() as session:
            row = await session.get(DutyContact, department)
        return self._contacts(department, row)

    def _contacts(self, code: str, row: DutyContact | None) -> Contacts:
        name = next((d.short_name or d.name for d in self._reference.departments if d.code == code), code)
        if row is None:
            return Contacts(code, name)
        return Contacts(code, name, row.duty_phone, row.duty_email, row.head_name, row.head_phone)

    async def save(self, department: str, form: dict[str, Any]) -> Contacts:
        """Store a department's contacts from a form; a bad phone or e-mail raises BadContact, nothing saved."""
        if department not in {d.code for d in self._reference.departments}:
            raise BadContact("Такой службы нет.")
        duty_phone = _phone(form.get("duty_phone"), "Телефон дежурного")
        head_phone = _phone(form.get("head_phone"), "Телефон руководителя")
        email = str(form.get("duty_email") or "").strip() or None
        if email is not None and (len(email) > 200 or not _EMAIL.fullmatch(email)):
            raise BadContact(f"Электронная почта дежурного: «{email[:40]}» — не адрес.")
        head = " ".join(str(form.get("head_name") or "").split())[:200] or None
        async with self._sessions.begin() as session:
            row = await session.get(DutyContact, department)
            if row is None:
                row = DutyContact(department_code=department)
                session.add(row)
            row.duty_phone, row.duty_email, row.head_name, row.head_phone = duty_phone, email, head, head_phone
        return self._contacts(department, row)


class Escalator:
    """Finds late tickets and takes the chain's steps; the wallboard's escalation panel."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tickets: TicketService,
        reference: ReferenceData,
        contacts: DutyContacts,
        ami: AmiLink | AmiActions | None,
        *,
        dial_template: str,
        chain: str,
        step_minutes: float,
        tick_seconds: float,
        dispatch_target_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[], None] = lambda: None,
        call_limit_seconds: float = CALL_LIMIT_SECONDS,
        call_poll_seconds: float = CALL_POLL_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._tickets = tickets
        self._on_change = on_change
        self._reference = reference
        self.contacts = contacts
        self._ami = ami
        self._dial_template = dial_template
        self.chain = parse_chain(chain)
        self._step = timedelta(minutes=step_minutes)
        self._tick_seconds = tick_seconds
        self._dispatch = timedelta(seconds=dispatch_target_seconds)
        self._clock = clock
        self._call_limit = timedelta(seconds=call_limit_seconds)
        self._call_poll = call_poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tick_seconds > 0 and self.chain:
            self._task = start_task(self._loop(), name="escalation-ticks", logger=logger)

    async def close(self) -> None:
        await cancel_and_wait(self._task, *self._calls)

    async def wait_calls(self, timeout: float = 60.0) -> None:
        """Wait until the calls placed so far have their outcome (tests, shutdown scripts)."""
        if self._calls:
            await asyncio.wait(list(self._calls), timeout=timeout)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the next tick tries again
                logger.exception("escalation tick failed")
            await asyncio.sleep(self._tick_seconds)

    # --- the tick ---------------------------------------------------------------------------

    def targets(self, category: str | None) -> Targets:
        if category and self._reference.has_category(category):
            cat = self._reference.category(category)
            return Targets(
                dispatch=self._dispatch,
                accept=timedelta(minutes=cat.accept_target_minutes),
                done=timedelta(hours=cat.done_target_hours),
            )
        return Targets(dispatch=self._dispatch)

    async def tick(self) -> int:
        """Take every step that is due; the number of steps taken."""
        async with self._lock:
            now = self._clock()
            page = await self._tickets.list(
                TicketFilter(statuses=(Status.DISPATCHED, Status.IN_PROGRESS)), limit=MAX_TICKETS
            )
            late: dict[tuple[int, str, datetime], TicketView] = {}
            for view in page.rows:
                stage = view.last_change_at or view.created_at
                kind = late_stage(view.status, stage, now, self.targets(view.category))
                if kind is not None:
                    late[(view.id, kind, _utc(stage))] = view
            rows = await self._open_rows()
            taken = 0
            for row in rows:  # the ticket moved on: this stage's chain is over
                if (row.ticket_id, row.kind, _utc(row.stage_started_at)) not in late:
                    await self._set(row.id, state="resolved", next_at=None)
            known = {(r.ticket_id, r.kind, _utc(r.stage_started_at)): r for r in rows}
            for key, view in late.items():
                found = known.get(key)
                current = found if found is not None else await self._new_row(key, now)
                if current is None or current.state != "open" or (current.next_at and _utc(current.next_at) > now):
                    continue
                await self._take_step(current, view, now)
                taken += 1
            return taken

    async def _open_rows(self) -> list[Escalation]:
        async with self._sessions() as session:
            query = select(Escalation).where(Escalation.state.in_(("open", "finished")))
            return list((await session.execute(query)).scalars())

    async def _new_row(self, key: tuple[int, str, datetime], now: datetime) -> Escalation | None:
        ticket_id, kind, stage = key
        try:
            async with self._sessions.begin() as session:
                row = Escalation(
                    ticket_id=ticket_id,
                    kind=kind,
                    stage_started_at=stage,
                    step=0,
                    state="open",
                    next_at=now,
                    created_at=now,
                )
                session.add(row)
                await session.flush()
                session.expunge(row)
                return row
        except IntegrityError:  # another instance made it first: it takes the step
            return None

    async def _set(self, row_id: int, **values: Any) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(Escalation, row_id)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)

    async def _claim(self, row: Escalation, now: datetime) -> bool:
        """Move the row one step on, unless another instance did (the step it read is stale)."""
        async with self._sessions.begin() as session:
            fresh = await session.get(Escalation, row.id, with_for_update=True)
            if fresh is None or fresh.step != row.step or fresh.state != "open":
                return False
            fresh.step = row.step + 1
            last = fresh.step >= len(self.chain)
            fresh.state = "finished" if last else "open"
            fresh.next_at = None if last else now + self._step
            return True

    async def _take_step(self, row: Escalation, view: TicketView, now: datetime) -> None:
        if row.step >= len(self.chain) or not await self._claim(row, now):
            return
        step = self.chain[row.step]
        late = KIND_LABELS[row.kind]
        waited = _minutes(now - _utc(row.stage_started_at))
        if step is Step.SUPERVISOR:
            note = f"Эскалация: заявка {late} ({waited}) — {STEP_LABELS[step]}."
            await self._event(view, note, row, step)
            await self._set(row.id, last_note=note[:300])
            self._on_change()
            return
        contacts = await self.contacts.get(view.department)
        # Every department step also mails the duty address (queued in the notifications outbox
        # with the step's event: one e-mail per step; no e-mail channel configured, none sent).
        email = contacts.duty_email if contacts is not None else None
        mailed = f" Письмо дежурному: {email}." if email else ""
        phone = None
        if contacts is not None:
            phone = contacts.duty_phone if step is Step.DUTY else contacts.head_phone
        who = (contacts.department_name if contacts else view.department_name) or "служба не указана"
        if phone is None:
            note = f"Эскалация: заявка {late} ({waited}); {STEP_LABELS[step]} невозможен — телефон не указан ({who})."
            await self._event(view, note + mailed, row, step, email=email)
            await self._set(row.id, next_at=now, last_note=note[:300])  # the next step at once
            return
        note = f"Эскалация: заявка {late} ({waited}) — {STEP_LABELS[step]} {who}, {format_phone(phone)}."
        await self._event(view, note + mailed, row, step, email=email)
        await self._set(row.id, last_note=note[:300])
        await self._hold(row, now + self._step + self._call_limit)  # released when the call is over
        task = start_task(
            self._call_then_release(row, view, step, phone, now),
            name=f"escalation-call-{row.id}-{row.step}",
            logger=logger,
        )
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _hold(self, row: Escalation, until: datetime) -> None:
        """Set when the step after ``row.step`` is due, unless the chain has moved on meanwhile
        (resolved, finished, or a later step taken)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Escalation)
                .where(Escalation.id == row.id, Escalation.step == row.step + 1, Escalation.state == "open")
                .values(next_at=until)
            )

    async def _call_then_release(
        self, row: Escalation, view: TicketView, step: Step, phone: str, taken: datetime
    ) -> None:
        """Place the step's call; once it is over the next step is due (at the step interval,
        or now if that has passed). An answered call is over when its ``calls`` row ends; if that
        is not seen before the held time, the next step comes then, noted on the timeline."""
        in_progress = await self._call(row, view, step, phone)
        if in_progress is not None:
            held = taken + self._step + self._call_limit
            if not await self._call_ended(in_progress, held):
                await self._event(
                    view,
                    f"Звонок эскалации: окончание звонка не получено за {_minutes(held - taken)}; следующий шаг — сейчас.",
                    row,
                    step,
                )
                return
        await self._hold(row, max(taken + self._step, self._clock()))

    async def _call_ended(self, linkedid: str, held: datetime) -> bool:
        """Wait until the call ``linkedid`` has ended (its ``calls`` row), at most until ``held``."""
        query = select(m.Call.id).where(m.Call.linkedid == linkedid, m.Call.ended_at.is_not(None))
        while True:
            async with self._sessions() as session:
                if (await session.execute(query)).first() is not None:
                    return True
            if self._clock() >= held:
                return False
            await asyncio.sleep(self._call_poll)

    async def _call(self, row: Escalation, view: TicketView, step: Step, phone: str) -> str | None:
        """Place the call; the Linkedid of a call that may still be going on (answered, or its
        OriginateResponse lost), None when it is already over (not answered, not placed)."""
        if self._ami is None:
            await self._event(view, "Звонок эскалации не сделан: телефония отключена.", row, step)
            return None
        request = escalation(
            f"esc-{row.id}-{row.step}",
            phone=phone,
            dial_template=self._dial_template,
            ticket_number=view.number,
            escalation_id=str(row.id),
            kind=row.kind,
        )
        try:
            result = await self._ami.originate(request)
        except Exception as err:  # noqa: BLE001 - recorded on the timeline, the chain goes on
            await self._event(view, f"Звонок эскалации не удался: {err}", row, step)
            return None
        if result.outcome.value == "answered":
            return channel_id_for(request.request_id)
        await self._event(view, f"Звонок эскалации: {result.outcome.value} {result.detail}".strip(), row, step)
        return channel_id_for(request.request_id) if result.outcome.value == "timed_out" else None

    async def _event(
        self, view: TicketView, note: str, row: Escalation, step: Step, *, email: str | None = None
    ) -> None:
        data: dict[str, Any] = {"escalation_id": row.id, "step": step.value, "kind": row.kind}
        if email:
            data[ESCALATION_EMAIL_KEY] = email  # the outbox queues the step's e-mail with this event
        await self._tickets.record_event(view.number, EVENT_KIND, Actor.system("эскалация"), note=note, data=data)

    # --- the wallboard panel ------------------------------------------------------------------

    async def panel_lines(self) -> list[dict[str, str]]:
        """Late tickets whose chain reached the supervisor, oldest first."""
        if Step.SUPERVISOR not in self.chain:
            return []
        reached = self.chain.index(Step.SUPERVISOR) + 1
        async with self._sessions() as session:
            query = (
                select(Escalation.kind, m.Ticket.number, m.Ticket.address)
                .join(m.Ticket, m.Ticket.id == Escalation.ticket_id)
                .where(Escalation.state.in_(("open", "finished")), Escalation.step >= reached)
                .order_by(Escalation.stage_started_at)
                .limit(20)
            )
            rows = (await session.execute(query)).all()
        return [
            {"text": f"Заявка {number}: {KIND_LABELS[kind]}" + (f" — {address}" if address else ""), "level": "alert"}
            for kind, number, address in rows
        ]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} ч {minutes % 60} мин" if minutes >= 60 else f"{minutes} мин"
