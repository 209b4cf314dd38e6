"""Escalation steps e-mail the department's duty address through the notifications outbox, to a
real SMTP server (aiosmtpd on a loopback port): one e-mail per step, however often the chain ticks."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from callcenter.config import Settings
from callcenter.domain.tickets import Status
from callcenter.notifications.api import NOTIFICATIONS
from callcenter.store import models as m
from callcenter.wallboard.wiring import WALLBOARD
from tests.conftest import LiveServer
from tests.integration.test_escalation import late_ticket, update_next_at
from tests.notify_support import MailServer, mail_settings

DUTY = "duty@vodokanal.example.ru"


@pytest.fixture
def settings(settings: Settings, mail_server: MailServer) -> Settings:
    return mail_settings(
        settings,
        mail_server,
        escalation_tick_seconds=0,  # the test ticks by hand
        escalation_step_minutes=10,
    )


async def escalation_rows(server: LiveServer, number: str) -> list:
    rows = await server.app[NOTIFICATIONS].outbox.for_ticket(number)
    return [r for r in rows if r.trigger == "escalation"]


async def test_each_department_step_mails_the_duty_address_once(
    live_server: LiveServer, mail_server: MailServer
) -> None:
    server = live_server
    escalator = server.app[WALLBOARD].escalator
    number = await late_ticket(server, Status.DISPATCHED, 3)
    view = await server.services.tickets.get(number)
    await escalator.contacts.save(view.department, {"duty_email": DUTY, "head_phone": "+79780000055"})
    assert await escalator.tick() == 1  # duty: no phone, but the duty e-mail goes out
    assert await escalator.tick() == 1  # head: the call cannot be placed (no telephony); mailed too
    await escalator.wait_calls()  # the head call's task noted "телефония отключена": no e-mail for that
    assert await escalator.tick() == 0  # nothing due: no new step, no new e-mail
    rows = await escalation_rows(server, number)
    assert [(r.channel, r.address) for r in rows] == [("email", DUTY), ("email", DUTY)]

    worker = server.app[NOTIFICATIONS].worker
    while await worker.tick():  # the live app's own worker may take some first; either way, each once
        pass
    await mail_server.handler.wait_for(2)
    assert len(mail_server.handler.received) == 2 and {tuple(r.recipients) for r in mail_server.handler.received} == {
        (DUTY,)
    }
    assert mail_server.handler.subjects() == [f"Эскалация: заявка № {number} не принята вовремя — 1563"] * 2
    # Two workers (the test's and the live app's) may deliver the two mails in either order.
    bodies = mail_server.handler.bodies()
    [duty_body] = [b for b in bodies if "звонок дежурному службы" in b]
    [head_body] = [b for b in bodies if "звонок руководителю службы" in b]
    assert "звонок дежурному службы невозможен — телефон не указан" in duty_body
    assert "звонок руководителю службы" in head_body and f"Письмо дежурному: {DUTY}" in head_body
    for body in (duty_body, head_body):
        assert f"/staff/tickets/{number}" in body and "ул. Ленина, 1" in body
        assert "0001122" not in body and "Отписаться" not in body  # no citizen's phone; staff mail
    assert {r.state for r in await escalation_rows(server, number)} == {"sent"}

    # The supervisor step (on the wallboard) mails nobody; the chain is over, ticks add nothing.
    async with server.services.sessions.begin() as session:
        await session.execute(update_next_at())
    assert await escalator.tick() == 1
    assert await escalator.tick() == 0
    while await worker.tick():
        pass
    assert len(await escalation_rows(server, number)) == 2 and len(mail_server.handler.received) == 2

    # The step's event is the idempotency key: writing its e-mail again is refused by the database.
    writer = server.app[NOTIFICATIONS].writer
    with pytest.raises(IntegrityError):
        async with server.services.sessions.begin() as session:
            ticket = (await session.execute(select(m.Ticket).where(m.Ticket.number == number))).scalar_one()
            event = await session.get(m.TicketEvent, rows[0].event_id)
            assert event is not None and event.data["duty_email"] == DUTY
            await writer(session, ticket, event)
            await session.flush()


async def test_no_duty_email_no_message(live_server: LiveServer, mail_server: MailServer) -> None:
    escalator = live_server.app[WALLBOARD].escalator
    number = await late_ticket(live_server, Status.DISPATCHED, 3)
    assert await escalator.tick() == 1  # no contacts at all: the step is noted, nothing queued
    assert await escalation_rows(live_server, number) == []
    assert mail_server.handler.received == []
