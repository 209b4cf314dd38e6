"""Escalation on a real Asterisk 22: a ticket not accepted within its category's target makes
an escalation call to the department's duty phone (Originate into the shipped [escalation]
context and the `escalation` FastAGI script); the duty dispatcher presses 1; the ticket is
accepted on the department's behalf, every step on its timeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from callcenter.domain.phones import format_phone
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket
from callcenter.wallboard.wiring import WALLBOARD
from tests.asterisk.pbx import Driver, Pbx, agi_lines
from tests.telephony_fixtures import RunningApp

pytestmark = pytest.mark.timeout(240)

DUTY = "+79780000044"  # tests/asterisk/overlay/extensions.conf: answers and presses 1
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор Смирнова")


async def late_dispatched_ticket(app: RunningApp) -> str:
    tickets = app.services.tickets
    view = await tickets.create(
        NewTicket(
            channel=Channel.PHONE,
            phone="+79780001122",
            category="water_leak",
            title="Течь трубы",
            address="ул. Ленина, 1",
        ),
        OPERATOR,
    )
    await tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    long_ago = datetime.now(UTC) - timedelta(hours=3)  # far past water_leak's accept target
    async with app.services.sessions.begin() as session:
        await session.execute(update(m.TicketEvent).where(m.TicketEvent.ticket_id == view.id).values(at=long_ago))
    return view.number


@pytest.mark.app_settings(escalation_tick_seconds=0.5, escalation_step_minutes=30)
async def test_unaccepted_ticket_calls_the_duty_phone_and_pressing_1_accepts_it(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    number = await late_dispatched_ticket(hotline)
    view = await hotline.services.tickets.get(number)
    escalator = hotline.app[WALLBOARD].escalator
    await escalator.contacts.save(view.department, {"duty_phone": "8 978 000-00-44", "head_phone": "+79780000055"})
    async with asyncio.timeout(120):
        while (await hotline.services.tickets.get(number)).status is not Status.IN_PROGRESS:
            await asyncio.sleep(0.5)  # the escalation tick, the call, the dispatcher's key: bounded above
    await hotline.services.agi.wait_idle(30)
    detail = await hotline.services.tickets.detail(number)
    commands = agi_lines(pbx.asterisk.log_text(), log_mark)
    dialled = [
        e
        for e in driver.events
        if e.get("Event") == "Newchannel"
        and e.get("Channel", "").startswith(f"Local/{DUTY}@city-")
        and e["Channel"].endswith(";2")
    ]
    assert dialled, "the duty phone was never dialled"
    assert any(c.startswith(f"SAY DIGITS {number}") for c in commands), commands
    escalations = [e for e in detail.events if e.kind == "escalation"]
    assert (
        escalations and "звонок дежурному службы" in escalations[0].note and "+7 978 000-00-44" in escalations[0].note
    )
    [accepted] = [e for e in detail.events if e.kind == "status" and e.to_status == "in_progress"]
    assert "по телефону" in accepted.actor_name and "эскалации" in accepted.note
    results = [
        e["Value"] for e in driver.events if e.get("Event") == "VarSet" and e.get("Variable") == "ESCALATION_RESULT"
    ]
    assert results == ["accepted"]
    await escalator.tick()
    again = await hotline.services.tickets.detail(number)
    assert len([e for e in again.events if e.kind == "escalation"]) == len(escalations)  # nothing more: accepted
    assert len(dialled) == 1


@pytest.mark.app_settings(escalation_tick_seconds=0.5, escalation_step_minutes=0.05)
async def test_a_busy_duty_phone_moves_the_chain_to_the_head_who_accepts_with_1(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    """duty (busy: tests/asterisk/overlay [city] +79780000001) -> head, 3 s later, presses 1."""
    number = await late_dispatched_ticket(hotline)
    view = await hotline.services.tickets.get(number)
    escalator = hotline.app[WALLBOARD].escalator
    await escalator.contacts.save(view.department, {"duty_phone": "+79780000001", "head_phone": DUTY})
    async with asyncio.timeout(120):
        while (await hotline.services.tickets.get(number)).status is not Status.IN_PROGRESS:
            await asyncio.sleep(0.5)  # two steps, two calls, the head's key: bounded above
    await hotline.services.agi.wait_idle(30)
    await escalator.wait_calls()
    detail = await hotline.services.tickets.detail(number)
    notes = [e.note for e in detail.events if e.kind == "escalation"]
    duty = next(i for i, n in enumerate(notes) if "звонок дежурному службы" in n)
    head = next(i for i, n in enumerate(notes) if "звонок руководителю службы" in n)
    assert "+7 978 000-00-01" in notes[duty] and f"{format_phone(DUTY)}" in notes[head]
    assert duty < head and any("Звонок эскалации: busy" in n for n in notes[duty + 1 : head]), notes
    # the supervisor step (3 s after the head's) waited for the head's call, which accepted it
    assert not any("старшему смены" in n for n in notes), notes
    [accepted] = [e for e in detail.events if e.kind == "status" and e.to_status == "in_progress"]
    assert "эскалации" in accepted.note
    await escalator.tick()  # accepted: the chain is over, whichever step it had reached (3 s apart here)
    assert await escalator.panel_lines() == []
