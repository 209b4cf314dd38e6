"""Shared pieces of the callback tests (no tests here): a settable clock, a recording dialer, a rig.

The rig is the real thing over the real database of the ``services`` fixture: the ticket
service (with the test's clock), the callback store, service and dispatcher. Only the
dialer is a fake, at the port; tests/integration/test_callback_e2e.py drives the real AMI
adapter against the fake Asterisk instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.callbacks.dialer import DialOutcome, DialResult
from callcenter.callbacks.dispatcher import CallbackDispatcher
from callcenter.callbacks.service import CallbackOutcomes, CallbackService
from callcenter.callbacks.store import CallbackStore
from callcenter.domain.callbacks import CallbackMode, CallbackPolicy
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket, TicketView
from callcenter.tickets.service import TicketService

SIMFEROPOL = ZoneInfo("Europe/Simferopol")
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор Смирнова")
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="Руководитель Петров")
EXECUTOR_NOTE = "Течь устранена, заменён участок трубы"


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SIMFEROPOL)


class FakeClock:
    """The test's clock: time moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.astimezone(UTC)


@dataclass
class DialCall:
    phone: str
    callback_id: int
    ticket_numbers: tuple[str, ...]
    action_id: str
    attempt_row_existed: bool


@dataclass
class RecordingDialer:
    """A Dialer at the port: records each originate, answers from a script (default: answered).

    Before answering it looks the attempt up in the database, to prove the key was stored
    before the call was placed. ``hold`` makes calls wait until released (concurrency tests).
    """

    sessions: async_sessionmaker[AsyncSession]
    available: bool = True
    script: list[DialResult] = field(default_factory=list)
    default: DialResult = DialResult.ANSWERED
    calls: list[DialCall] = field(default_factory=list)
    clicks: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; re-checked whenever a call starts or ends."""
        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def originate_callback(
        self, *, phone: str, callback_id: int, ticket_numbers: Sequence[str], action_id: str
    ) -> DialOutcome:
        async with self.sessions() as session:
            row = (
                await session.execute(select(m.CallbackAttempt.id).where(m.CallbackAttempt.action_id == action_id))
            ).first()
        self.calls.append(DialCall(phone, callback_id, tuple(ticket_numbers), action_id, row is not None))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await self._notify()
        try:
            if self.hold is not None:
                await asyncio.wait_for(self.hold.wait(), 10)
        finally:
            self.in_flight -= 1
        result = self.script.pop(0) if self.script else self.default
        return DialOutcome(result, f"fake {result.value}", "cc-" + action_id if result is DialResult.ANSWERED else None)

    async def click_to_call(
        self, *, operator_device: str, phone: str, ticket_number: str | None, action_id: str
    ) -> DialOutcome:
        self.clicks.append({"device": operator_device, "phone": phone, "ticket": ticket_number, "action_id": action_id})
        result = self.script.pop(0) if self.script else self.default
        return DialOutcome(result, f"fake {result.value}")


@dataclass
class Rig:
    services: Any
    clock: FakeClock
    tickets: TicketService
    store: CallbackStore
    callbacks: CallbackService
    outcomes: CallbackOutcomes
    dialer: Any  # a RecordingDialer, or the real AmiDialer in the end-to-end tests
    dispatcher: CallbackDispatcher

    async def done_ticket(
        self,
        phone: str | None,
        *,
        category: str = "water_leak",
        title: str = "Течь трубы",
        address: str = "ул. Ленина, 1",
    ) -> TicketView:
        """A ticket taken by an operator, dispatched, accepted and marked done at the clock's time."""
        view = await self.tickets.create(
            NewTicket(channel=Channel.PHONE, phone=phone, category=category, title=title, address=address), OPERATOR
        )
        await self.tickets.move(view.number, Status.DISPATCHED, OPERATOR)
        await self.tickets.move(view.number, Status.IN_PROGRESS, OPERATOR)
        return await self.tickets.move(view.number, Status.DONE, OPERATOR, note=EXECUTOR_NOTE)

    async def callbacks_rows(self) -> list[m.Callback]:
        async with self.services.sessions() as session:
            return list((await session.execute(select(m.Callback).order_by(m.Callback.id))).scalars())

    async def links(self, callback_id: int) -> list[m.CallbackTicket]:
        async with self.services.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(m.CallbackTicket)
                        .where(m.CallbackTicket.callback_id == callback_id)
                        .order_by(m.CallbackTicket.ticket_id)
                    )
                ).scalars()
            )

    async def attempts(self, callback_id: int) -> list[m.CallbackAttempt]:
        async with self.services.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(m.CallbackAttempt)
                        .where(m.CallbackAttempt.callback_id == callback_id)
                        .order_by(m.CallbackAttempt.id)
                    )
                ).scalars()
            )

    async def tick(self) -> None:
        """One dispatcher pass, then wait for the calls it started to be recorded."""
        await self.dispatcher.tick()
        await self.dispatcher.wait_idle(10)


def build_rig(
    services: Any,
    *,
    start: datetime,
    mode: CallbackMode = CallbackMode.AUTO,
    max_concurrent: int = 4,
    dialer: Any = None,
    policy: CallbackPolicy | None = None,
    sessions: Any = None,
    owner: str | None = None,
    batch: int = 50,
) -> Rig:
    """Everything real but the dialer, sharing the test's clock; the planner listens to ticket moves."""
    settings = services.settings
    sessions = sessions or services.sessions
    clock = FakeClock(start)
    tickets = TicketService(sessions, services.hub, clock=clock, zone=settings.zone)
    store = CallbackStore(sessions, policy or CallbackPolicy.from_settings(settings))
    service = CallbackService(
        store,
        tickets,
        default_mode=mode,
        lease=timedelta(seconds=settings.callback_lease_seconds),
        data_dir=settings.data_dir,
        users=services.users,
        hub=services.hub,
        clock=clock,
    )
    tickets.on_status_change.append(service.on_ticket_status)
    dialer = dialer or RecordingDialer(sessions)
    dispatcher = CallbackDispatcher(service, dialer, max_concurrent=max_concurrent, owner=owner, batch=batch)
    return Rig(services, clock, tickets, store, service, CallbackOutcomes(service), dialer, dispatcher)


async def set_category_callback(services: Any, code: str, enabled: bool) -> None:
    async with services.sessions.begin() as session:
        (await session.get(m.Category, code)).callback = enabled
