"""The escalation chain without a telephone line: every step lands on the ticket's timeline,
a missing phone moves on to the next step, the supervisor step shows on the wallboard; the
duty contacts admins edit refuse bad numbers and keep nothing of a bad form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callcenter.config import Settings, load_settings
from callcenter.domain.escalation import Step, late_stage, parse_chain
from callcenter.domain.tickets import Actor, Channel, Role, Status, Targets
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket
from callcenter.wallboard.wiring import WALLBOARD
from tests.conftest import LiveServer
from tests.telephony_fixtures import make_user, signed_in

OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": "test-secret",
            "agi_enabled": False,
            "escalation_tick_seconds": 0,  # the test ticks by hand
            "escalation_step_minutes": 10,
        },
    )


def test_chain_and_late_stage_are_defined_plainly():
    assert parse_chain(" duty, head ,supervisor") == (Step.DUTY, Step.HEAD, Step.SUPERVISOR)
    for bad in ("duty,boss", "duty,duty"):
        with pytest.raises(ValueError):
            parse_chain(bad)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    targets = Targets(accept=timedelta(minutes=30), done=timedelta(hours=24))
    assert late_stage(Status.DISPATCHED, now - timedelta(minutes=31), now, targets) == "accept"
    assert late_stage(Status.DISPATCHED, now - timedelta(minutes=30), now, targets) is None
    assert late_stage(Status.IN_PROGRESS, now - timedelta(hours=25), now, targets) == "done"
    assert late_stage(Status.NEW, now - timedelta(days=3), now, targets) is None


async def late_ticket(server: LiveServer, status: Status, hours: float) -> str:
    tickets = server.services.tickets
    view = await tickets.create(
        NewTicket(
            channel=Channel.PHONE, phone="+79780001122", category="water_leak", title="Течь", address="ул. Ленина, 1"
        ),
        OPERATOR,
    )
    await tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    if status is Status.IN_PROGRESS:
        await tickets.move(view.number, Status.IN_PROGRESS, OPERATOR)
    past = datetime.now(UTC) - timedelta(hours=hours)
    async with server.services.sessions.begin() as session:
        await session.execute(update(m.TicketEvent).where(m.TicketEvent.ticket_id == view.id).values(at=past))
    return view.number


async def escalation_notes(server: LiveServer, number: str) -> list[str]:
    detail = await server.services.tickets.detail(number)
    return [e.note for e in detail.events if e.kind == "escalation"]


async def test_each_step_is_a_timeline_event_and_the_supervisor_sees_it_on_the_wallboard(live_server: LiveServer):
    server = live_server
    escalator = server.app[WALLBOARD].escalator
    number = await late_ticket(server, Status.DISPATCHED, 3)
    view = await server.services.tickets.get(number)
    await escalator.contacts.save(view.department, {"head_phone": "+79780000055"})  # no duty phone
    assert await escalator.tick() == 1  # duty: no phone -> noted, the next step is due at once
    assert await escalator.tick() == 1  # head: the call cannot be placed without telephony
    assert await escalator.tick() == 0  # the supervisor step comes a step interval later
    notes = await escalation_notes(server, number)
    assert "звонок дежурному службы невозможен — телефон не указан" in notes[0]
    assert "звонок руководителю службы" in notes[1] and "+7 978 000-00-55" in notes[1]
    await escalator.wait_calls()  # the head call's task ran (and found no telephony)
    assert "телефония отключена" in (await escalation_notes(server, number))[-1]
    board = server.app[WALLBOARD].board
    assert await escalation_lines(board) == []
    async with server.services.sessions.begin() as session:  # the step interval has passed
        await session.execute(update_next_at())
    assert await escalator.tick() == 1
    notes = await escalation_notes(server, number)
    assert "старшему смены на табло" in notes[-1] and "не принята в работу вовремя" in notes[-1]
    assert (await escalation_lines(board))[0]["text"].startswith(f"Заявка {number}")
    await server.services.tickets.move(number, Status.IN_PROGRESS, OPERATOR)  # accepted at last
    assert await escalator.tick() == 0
    assert await escalation_lines(board) == []
    assert len(await escalation_notes(server, number)) == len(notes)


def update_next_at():
    from callcenter.wallboard.models import Escalation

    return update(Escalation).values(next_at=datetime.now(UTC) - timedelta(seconds=1))


async def test_done_overdue_escalates_too_and_a_fresh_ticket_does_not(live_server: LiveServer):
    escalator = live_server.app[WALLBOARD].escalator
    late = await late_ticket(live_server, Status.IN_PROGRESS, 200)
    fresh = await late_ticket(live_server, Status.DISPATCHED, 0)
    assert await escalator.tick() == 1
    assert "не выполнена в срок" in (await escalation_notes(live_server, late))[0]
    assert await escalation_notes(live_server, fresh) == []
    # the whole chain for the "done" stage: no duty phone, no head phone, then the supervisor
    assert await escalator.tick() == 1
    assert await escalator.tick() == 1
    notes = await escalation_notes(live_server, late)
    assert len(notes) == 3 and all("не выполнена в срок" in n for n in notes)
    assert "звонок дежурному службы невозможен" in notes[0] and "звонок руководителю службы невозможен" in notes[1]
    assert "старшему смены на табло" in notes[2]
    board = live_server.app[WALLBOARD].board
    [line] = await escalation_lines(board)
    assert line["text"].startswith(f"Заявка {late}: не выполнена в срок") and line["level"] == "alert"
    assert await escalator.tick() == 0  # the chain is over: nothing more until the ticket moves on
    await live_server.services.tickets.move(late, Status.DONE, OPERATOR, note="Устранено")
    assert await escalator.tick() == 0 and await escalation_lines(board) == []


async def test_duty_contacts_admin_page_refuses_bad_numbers(live_server: LiveServer):
    await make_user(live_server.services, "admin", role=Role.ADMIN)
    dept = live_server.services.reference.departments[0].code
    async with signed_in(live_server.url, "admin") as admin:
        page = await admin.page("/staff/admin/duty-contacts")
        assert f'data-department="{dept}"' in page
        bad = await admin.post(
            f"/staff/admin/duty-contacts/{dept}", {"duty_phone": "звоните Ивану", "head_name": "И. И."}
        )
        assert bad.status == 400 and "не номер телефона" in await bad.text()
        bad_mail = await admin.post(f"/staff/admin/duty-contacts/{dept}", {"duty_email": "нет"})
        assert bad_mail.status == 400
        assert (await admin.post("/staff/admin/duty-contacts/nosuch", {"duty_phone": "+79780000044"})).status == 400
        ok = await admin.post(
            f"/staff/admin/duty-contacts/{dept}",
            {"duty_phone": "8 (978) 000-00-44", "duty_email": "duty@example.org", "head_name": "  Иванов  И. И. "},
        )
        assert ok.status == 303
    saved = await live_server.app[WALLBOARD].escalator.contacts.get(dept)
    assert (saved.duty_phone, saved.duty_email, saved.head_name, saved.head_phone) == (
        "+79780000044",
        "duty@example.org",
        "Иванов И. И.",
        None,
    )


async def escalation_lines(board: Any) -> list[dict[str, str]]:
    """The wallboard's «Просроченные заявки» panel (other features add panels of their own)."""
    [panel] = [p for p in (await board.state())["panels"] if p["key"] == "escalations"]
    return panel["lines"]
