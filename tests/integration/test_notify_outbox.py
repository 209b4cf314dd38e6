"""The outbox over the real databases: rows written with their events, sent exactly once across a
graceful stop, a crash and two racing workers; failures retried with backoff, then shown."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.domain.errors import DomainError
from callcenter.domain.notifications import NotifyChannel
from callcenter.domain.tickets import Actor, Status
from callcenter.notifications.api import NOTIFICATIONS, build_notifications
from callcenter.notifications.channels import DeliveryError, EmailChannel
from callcenter.notifications.models import Notification
from callcenter.notifications.worker import NotificationWorker
from callcenter.services import Services
from callcenter.store import models as m
from tests.conftest import LiveServer
from tests.integration.test_callback_support import FakeClock
from tests.notify_support import (
    OPERATOR,
    MailServer,
    mail_settings,
    new_ticket,
    to_done,
)


def _mail_settings(settings: Settings, server: MailServer) -> Settings:
    return mail_settings(settings, server, notify_quiet_channels=["sms"])


def _wire(services: Services, settings: Settings, **kwargs: object):
    feature = build_notifications(settings, sessions=services.sessions, tickets=services.tickets, **kwargs)
    services.tickets.add_in_transaction_hook(feature.writer, feature.writer.kinds)
    return feature


async def _rows(services: Services) -> list[Notification]:
    async with services.sessions() as session:
        return list((await session.execute(select(Notification).order_by(Notification.id))).scalars().all())


async def test_rows_written_with_each_event_and_sent_once(services: Services, settings: Settings, mail_server) -> None:
    feature = _wire(services, _mail_settings(settings, mail_server))
    view = await new_ticket(services.tickets, "citizen@example.ru")
    await to_done(services.tickets, view.number)
    rows = await _rows(services)
    assert [r.trigger for r in rows] == ["registered", "accepted", "done"]  # dispatch tells nothing
    assert {r.state for r in rows} == {"pending"}
    assert await feature.worker.tick() == 3
    assert await feature.worker.tick() == 0
    subjects = mail_server.handler.subjects()
    assert sorted(subjects) == sorted(r.subject for r in rows) and len(set(subjects)) == 3
    bodies = "\n".join(mail_server.handler.bodies())
    assert f"/track?number={view.number}" in bodies and "/n/answer/" in bodies and "/n/unsubscribe/" in bodies
    assert "Смирнова" not in bodies  # no staff names
    assert {r.state for r in await _rows(services)} == {"sent"}
    # The tracking page's history has the same texts.
    from callcenter.portal.public import NOTICE_TITLE, public_timeline

    detail = await services.tickets.detail(view.number, include_internal=False)
    notices = [e.note for e in public_timeline(detail) if e.title == NOTICE_TITLE]
    assert notices == [
        f"Заявка № {view.number} зарегистрирована.",
        f"Заявка № {view.number} принята в работу.",
        f"Заявка № {view.number}: выполнено. Подтвердите, пожалуйста, что проблема устранена.",
    ]


async def test_event_rollback_takes_its_notification_with_it(
    services: Services, settings: Settings, mail_server
) -> None:
    _wire(services, _mail_settings(settings, mail_server))
    view = await new_ticket(services.tickets, "citizen@example.ru")
    before = len(await _rows(services))

    async def failing_hook(session, ticket, event) -> None:
        raise DomainError("boom")

    services.tickets.add_in_transaction_hook(failing_hook, ["status"])
    with pytest.raises(DomainError):
        await services.tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    services.tickets.remove_in_transaction_hook(failing_hook)
    assert len(await _rows(services)) == before
    assert (await services.tickets.detail(view.number)).ticket.status is Status.NEW


async def test_no_consent_no_row_and_unique_key(services: Services, settings: Settings, mail_server) -> None:
    _wire(services, _mail_settings(settings, mail_server))
    await new_ticket(services.tickets, None)  # ticked nothing
    assert await _rows(services) == []
    view = await new_ticket(services.tickets, "x@example.ru")
    (row,) = await _rows(services)
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with services.sessions.begin() as session:
            session.add(
                Notification(
                    ticket_id=row.ticket_id, event_id=row.event_id, trigger="registered", channel="email",
                    address="x@example.ru", subject="s", body="b", state="pending", attempts=0, due_at=row.due_at,
                )
            )  # fmt: skip
    assert view.number


async def test_restart_sends_each_exactly_once(services: Services, settings: Settings, mail_server) -> None:
    """A graceful stop mid-way, and a crash with rows claimed but unsent: after restarts every
    message has arrived exactly once."""
    mail = _mail_settings(dataclasses.replace(settings, notify_batch=2), mail_server)
    clock = FakeClock(services.tickets._clock() + timedelta(seconds=5))
    first = _wire(services, mail, clock=clock, owner="instance-1")
    numbers = [(await new_ticket(services.tickets, f"c{i}@example.ru")).number for i in range(7)]
    # Instance 1 sends one batch, then is stopped gracefully (mid-way through the queue).
    assert await first.worker.tick() == 2
    await first.worker.close()
    # Instance 2 claims a batch and crashes before sending it.
    crashed = build_notifications(
        mail, sessions=services.sessions, tickets=services.tickets, clock=clock, owner="instance-2"
    )
    claimed = await crashed.outbox.claim(
        "instance-2", clock(), timedelta(seconds=120), 2, frozenset({NotifyChannel.EMAIL})
    )
    assert len(claimed) == 2
    # Instance 3 starts: sends the rest; the crashed claims come back when their lease runs out.
    third = build_notifications(
        mail, sessions=services.sessions, tickets=services.tickets, clock=clock, owner="instance-3"
    )
    while await third.worker.tick():
        pass
    assert len(mail_server.handler.received) == 5
    clock.advance(seconds=121)
    while await third.worker.tick():
        pass
    await third.worker.close()
    got = Counter(r.recipients[0] for r in mail_server.handler.received)
    assert got == Counter({f"c{i}@example.ru": 1 for i in range(7)})
    assert {r.state for r in await _rows(services)} == {"sent"}
    assert len(numbers) == 7


class FlakyChannel:
    """Fails as scripted, then delivers (a channel at the port, for the retry schedule)."""

    def __init__(self, failures: list[bool]) -> None:
        self.failures = failures  # True: permanent
        self.sent: list[str] = []

    async def send(self, address: str, subject: str, text: str, key: str) -> str | None:
        if self.failures:
            raise DeliveryError("шлюз недоступен", permanent=self.failures.pop(0))
        self.sent.append(key)
        return "ok"

    async def close(self) -> None:
        return None


async def test_retries_with_backoff_then_failed_and_retry_button(services: Services, settings: Settings) -> None:
    clock = FakeClock(services.tickets._clock() + timedelta(seconds=5))
    flaky = FlakyChannel([False, False, False])
    tuned = dataclasses.replace(settings, notify_retry_minutes=[1, 5], notify_max_attempts=3)
    feature = _wire(services, tuned, channels={"email": flaky}, clock=clock)
    await new_ticket(services.tickets, "c@example.ru")
    assert await feature.worker.tick() == 1
    (row,) = await _rows(services)
    assert row.state == "pending" and row.attempts == 1 and row.due_at == clock() + timedelta(minutes=1)
    assert "шлюз недоступен" in row.last_error
    assert await feature.worker.tick() == 0  # not due yet
    clock.advance(minutes=1)
    assert await feature.worker.tick() == 1
    (row,) = await _rows(services)
    assert row.due_at == clock() + timedelta(minutes=5)
    clock.advance(minutes=5)
    assert await feature.worker.tick() == 1
    (row,) = await _rows(services)
    assert row.state == "failed" and row.attempts == 3 and "шлюз недоступен" in row.last_error
    problems = await feature.outbox.problems()
    assert [p["state"] for p in problems] == ["failed"]
    assert await feature.outbox.retry(row.id, clock())
    assert await feature.worker.tick() == 1
    assert flaky.sent == [f"n{row.id}"]


async def test_permanent_failure_is_not_retried(services: Services, settings: Settings) -> None:
    flaky = FlakyChannel([True])
    feature = _wire(services, settings, channels={"email": flaky})
    await new_ticket(services.tickets, "c@example.ru")
    assert await feature.worker.tick() == 1
    (row,) = await _rows(services)
    assert row.state == "failed" and row.attempts == 1


async def test_sms_waits_for_quiet_hours(services: Services, settings: Settings) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    night = datetime(2026, 12, 7, 23, 30, tzinfo=ZoneInfo("Europe/Simferopol"))
    clock = FakeClock(night)
    tickets = services.tickets
    tickets._clock = clock  # the event's time is the ticket service's clock
    sms = FlakyChannel([])
    feature = _wire(services, settings, channels={"sms": sms, "email": FlakyChannel([])}, clock=clock)
    await new_ticket(tickets, "c@example.ru", sms=True)
    rows = {r.channel: r for r in await _rows(services)}
    assert rows["email"].due_at == clock()
    assert rows["sms"].due_at.astimezone(ZoneInfo("Europe/Simferopol")).hour == 9
    assert await feature.worker.tick() == 1  # e-mail only
    clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Europe/Simferopol")))
    assert await feature.worker.tick() == 1
    assert len(sms.sent) == 1


async def test_two_workers_racing_never_double_send(services: Services, settings: Settings, mail_server) -> None:
    """Two instances (two workers, one database) drain one queue at once: each message once."""
    mail = _mail_settings(dataclasses.replace(settings, notify_batch=3), mail_server)
    a = _wire(services, mail, owner="instance-a")
    b = build_notifications(mail, sessions=services.sessions, tickets=services.tickets, owner="instance-b")
    count = 24
    for i in range(count):
        await new_ticket(services.tickets, f"r{i}@example.ru")

    async def drain(worker: NotificationWorker) -> int:
        total = 0
        while n := await worker.tick():
            total += n
            await asyncio.sleep(0)
        return total

    sent_a, sent_b = await asyncio.gather(drain(a.worker), drain(b.worker))
    assert sent_a + sent_b == count
    got = Counter(r.recipients[0] for r in mail_server.handler.received)
    assert got == Counter({f"r{i}@example.ru": 1 for i in range(count)})
    async with services.sessions() as session:
        owners = dict(
            (
                await session.execute(select(Notification.claimed_by, func.count()).group_by(Notification.claimed_by))
            ).all()
        )
    assert sum(owners.values()) == count
    if services.engine.dialect.name == "postgresql":
        assert sent_a > 0 and sent_b > 0, owners  # both really worked the queue at once


async def test_email_channel_is_real_in_outbox(services: Services, settings: Settings, mail_server) -> None:
    feature = _wire(services, _mail_settings(settings, mail_server))
    assert isinstance(feature.worker.channels["email"], EmailChannel)
    assert "sms" not in feature.worker.channels
    view = await new_ticket(services.tickets, "c@example.ru", sms=True)  # SMS consent, SMS not configured
    assert [r.channel for r in await _rows(services)] == ["email"]
    async with services.sessions() as session:
        ticket = (await session.execute(select(m.Ticket).where(m.Ticket.number == view.number))).scalar_one()
    assert ticket.extra["notify"]["sms"] is True


class HoldingChannel:
    """Delivers only when the test says so: a send in flight can be caught mid-way."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.in_flight = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, address: str, subject: str, text: str, key: str) -> str | None:
        self.in_flight += 1
        self.started.set()
        await self.release.wait()
        self.in_flight -= 1
        self.sent.append(address)
        return None

    async def close(self) -> None:
        return None


async def test_running_worker_stopped_mid_batch_then_restarted(services: Services, settings: Settings) -> None:
    """The worker's own loop: a graceful stop lets the batch in flight finish; a hard stop
    (timeout) abandons it, and those rows come back after their lease; each delivered once."""
    clock = FakeClock(services.tickets._clock() + timedelta(seconds=5))
    tuned = dataclasses.replace(settings, notify_batch=2, notify_tick_seconds=0.05)
    held = HoldingChannel()
    first = _wire(services, tuned, channels={"email": held}, clock=clock, owner="loop-1")
    for i in range(6):
        await new_ticket(services.tickets, f"h{i}@example.ru")
    first.worker.start()
    await held.started.wait()
    stopping = asyncio.create_task(first.worker.close(timeout=30))
    await asyncio.sleep(0)
    held.release.set()  # the batch in flight completes; the loop does not take another
    await stopping
    assert len(held.sent) == 2
    assert Counter(r.state for r in await _rows(services)) == Counter({"sent": 2, "pending": 4})

    hard = HoldingChannel()
    second = build_notifications(
        tuned,
        sessions=services.sessions,
        tickets=services.tickets,
        channels={"email": hard},
        clock=clock,
        owner="loop-2",
    )
    second.worker.start()
    await hard.started.wait()
    await second.worker.close(timeout=0.05)  # a crash-like stop: the two sends never finished
    assert hard.sent == [] and Counter(r.state for r in await _rows(services)) == Counter(
        {"sent": 2, "sending": 2, "pending": 2}
    )

    final = FlakyChannel([])
    third = build_notifications(
        tuned,
        sessions=services.sessions,
        tickets=services.tickets,
        channels={"email": final},
        clock=clock,
        owner="loop-3",
    )
    while await third.worker.tick():
        pass
    assert len(final.sent) == 2  # the two never claimed; the abandoned ones wait for their lease
    clock.advance(seconds=tuned.notify_lease_seconds + 1)
    while await third.worker.tick():
        pass
    delivered = held.sent + [r.address for r in await _rows(services) if r.claimed_by == "loop-3"]
    assert sorted(delivered) == sorted(f"h{i}@example.ru" for i in range(6))
    assert len(held.sent) + len(final.sent) == 6
    assert {r.state for r in await _rows(services)} == {"sent"}


async def test_the_outbox_hook_is_asked_only_about_the_kinds_that_notify(live_server: LiveServer) -> None:
    tickets = live_server.services.tickets
    writer = live_server.app[NOTIFICATIONS].writer
    for kind in ("created", "status", "edit", "escalation"):
        assert writer in tickets.in_transaction_hooks(kind)
    for kind in ("note", "transcript", "call", "callback_attempt"):
        assert tickets.in_transaction_hooks(kind) == []


async def test_an_event_runs_only_the_hooks_of_its_kind(services: Services) -> None:
    seen: list[str] = []

    async def escalation_hook(session, ticket, event) -> None:
        seen.append(event.kind)

    services.tickets.add_in_transaction_hook(escalation_hook, ["escalation"])
    view = await new_ticket(services.tickets, None)
    system = Actor.system("тест")
    await services.tickets.record_event(view.number, "transcript", system, note="текст")
    await services.tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    assert seen == []
    await services.tickets.record_event(view.number, "escalation", system, note="шаг 1")
    assert seen == ["escalation"]
    services.tickets.remove_in_transaction_hook(escalation_hook)
    await services.tickets.record_event(view.number, "escalation", system, note="шаг 2")
    assert seen == ["escalation"]


async def test_a_lease_running_out_at_night_keeps_the_sms_for_the_calling_window(
    services: Services, settings: Settings
) -> None:
    """An instance claims an SMS and an e-mail just before the calling window closes and dies;
    the claims come back after the window closed: the e-mail goes at once, the SMS at 09:00."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Simferopol")
    clock = FakeClock(datetime(2026, 12, 7, 20, 59, 30, tzinfo=zone))
    services.tickets._clock = clock
    sms, mail = FlakyChannel([]), FlakyChannel([])
    feature = _wire(services, settings, channels={"sms": sms, "email": mail}, clock=clock, owner="alive")
    await new_ticket(services.tickets, "c@example.ru", sms=True)
    claimed = await feature.outbox.claim(
        "dead", clock(), timedelta(seconds=120), 10, frozenset({NotifyChannel.SMS, NotifyChannel.EMAIL})
    )
    assert sorted(c.channel.value for c in claimed) == ["email", "sms"]  # then the instance dies
    clock.advance(seconds=121)  # 21:01:31: the window has closed
    assert await feature.worker.tick() == 1
    assert len(mail.sent) == 1 and sms.sent == []
    rows = {r.channel: r for r in await _rows(services)}
    assert rows["sms"].state == "pending"
    assert rows["sms"].due_at.astimezone(zone) == datetime(2026, 12, 8, 9, 0, tzinfo=zone)
    clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=zone))
    assert await feature.worker.tick() == 1
    assert len(sms.sent) == 1


class BrokenChannel:
    """An adapter with a bug: raises something that is not a DeliveryError."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, address: str, subject: str, text: str, key: str) -> str | None:
        self.calls += 1
        raise KeyError("template field")

    async def close(self) -> None:
        return None


async def test_an_adapter_bug_is_retried_on_the_schedule_then_shown_as_failed(
    services: Services, settings: Settings
) -> None:
    clock = FakeClock(services.tickets._clock() + timedelta(seconds=5))
    broken = BrokenChannel()
    tuned = dataclasses.replace(settings, notify_retry_minutes=[2], notify_max_attempts=2)
    feature = _wire(services, tuned, channels={"email": broken}, clock=clock)
    await new_ticket(services.tickets, "c@example.ru")
    assert await feature.worker.tick() == 1
    (row,) = await _rows(services)
    assert row.state == "pending" and row.due_at == clock() + timedelta(minutes=2) and "KeyError" in row.last_error
    clock.advance(minutes=2)
    assert await feature.worker.tick() == 1
    (row,) = await _rows(services)
    assert row.state == "failed" and row.attempts == 2 and broken.calls == 2
    assert [p["state"] for p in await feature.outbox.problems()] == ["failed"]


async def test_the_app_restarted_sends_what_the_stopped_one_left_exactly_once(
    settings: Settings, mail_server: MailServer
) -> None:
    """The real app, stopped and started again over the same database: messages queued by the
    first run and left in the outbox go out once each from the second; a third run sends nothing."""
    from aiohttp import web

    from callcenter.app import init_app
    from callcenter.services import SERVICES

    # A tick far away: after its first (empty) look the worker waits; «created» does not wake it.
    tuned = _mail_settings(dataclasses.replace(settings, notify_tick_seconds=3600.0), mail_server)

    async def run_app(body) -> None:  # type: ignore[no-untyped-def]
        app = init_app(tuned)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await body(app[SERVICES])
        finally:
            await runner.cleanup()  # a graceful stop: the worker finishes its batch and closes

    numbers: list[str] = []

    async def first(services: Services) -> None:
        if services.engine.dialect.name == "postgresql":
            from tests.conftest import _truncate_postgres

            await _truncate_postgres(services)
        from callcenter.store.reference_sync import sync_reference

        await sync_reference(services.sessions, services.reference)
        for i in range(5):
            numbers.append((await new_ticket(services.tickets, f"left{i}@example.ru")).number)
        assert {r.state for r in await _rows(services)} == {"pending"}

    async def second(services: Services) -> None:
        await mail_server.handler.wait_for(5)

    async def third(services: Services) -> None:
        assert {r.state for r in await _rows(services)} == {"sent"}

    await run_app(first)
    assert mail_server.handler.received == []  # stopped with 5 messages waiting in the outbox
    await run_app(second)
    await run_app(third)
    got = Counter(r.recipients[0] for r in mail_server.handler.received)
    assert got == Counter({f"left{i}@example.ru": 1 for i in range(5)})
    assert len(numbers) == 5


async def test_a_stop_during_a_send_ends_the_worker_when_the_send_ends(services: Services, settings: Settings) -> None:
    """close() while a batch is in flight: the worker stops as soon as the batch is recorded, not
    after its tick (an hour here) or close's own timeout."""
    tuned = dataclasses.replace(settings, notify_tick_seconds=3600.0)
    held = HoldingChannel()
    feature = _wire(services, tuned, channels={"email": held}, owner="w")
    await new_ticket(services.tickets, "in-flight@example.ru")
    feature.worker.start()
    await held.started.wait()
    stopping = asyncio.create_task(feature.worker.close(timeout=3600))
    await asyncio.sleep(0)
    held.release.set()
    await asyncio.wait_for(stopping, 60)  # the bound only turns a hang into a failure
    assert held.sent == ["in-flight@example.ru"]
    assert [r.state for r in await _rows(services)] == ["sent"]
