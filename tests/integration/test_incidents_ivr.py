"""Outage mode in the IVR, inside the running app: a fake Asterisk on a real socket, the shipped
menu, the real store. The keypad path, the per-incident recording (played only when it is
there; never silence when it is not), and a repeat caller who is not subscribed twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.domain.incidents import Area, StreetPart, parse_houses
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.incidents.models import IncidentCall
from callcenter.incidents.service import IncidentInput, IncidentView
from callcenter.ivr import channel_vars as cv
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.protocol.agi_peer import ESC, PeerResult, Step, call_app_ivr, play, scripted_agi_settings, step

pytestmark = pytest.mark.timeout(120)
CALLER = "+79780001122"
BOSS = Actor(role=Role.SUPERVISOR, name="Руководитель")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    (tmp_path / "prompts").mkdir()
    return scripted_agi_settings(settings, ivr_prompts_dir=tmp_path / "prompts")


def say_time(incident: IncidentView, zone) -> list[Step]:
    local = incident.expected_at.astimezone(zone)
    steps = [play("outage-restore-time")]
    if local.date() > incident.created_at.astimezone(zone).date():  # 40 minutes on crossed midnight
        steps.append(play("outage-tomorrow"))
    steps.append(step(f"SAY NUMBER {local.hour} {ESC}", "200 result=0"))
    if local.minute == 0:
        steps.append(step(f"SAY DIGITS 00 {ESC}", "200 result=0"))
    else:
        if local.minute < 10:
            steps.append(step(f"SAY DIGITS 0 {ESC}", "200 result=0"))
        steps.append(step(f"SAY NUMBER {local.minute} {ESC}", "200 result=0"))
    return steps


async def incident(server: LiveServer, recording: str | None = None) -> IncidentView:
    service = server.services.incidents.service
    now = service.now()
    return await service.create(
        IncidentInput(
            category="no_water",
            title="Порыв",
            area=Area(streets=(StreetPart("улица Ленина", parse_houses("1-15")),)),
            starts_at=now - timedelta(minutes=30),
            expected_at=now + timedelta(minutes=40),
            recording=recording,
        ),
        BOSS,
    )


async def run(server: LiveServer, script: list[Step], *, whole_script: bool = True) -> PeerResult:
    return await call_app_ivr(
        server.services.agi, script, callerid=CALLER, whole_script=whole_script, dead_after=True, auto_variables=True
    )


async def calls(server: LiveServer) -> list[tuple[str, str]]:
    async with server.services.sessions() as session:
        return [
            (c.how, c.outcome)
            for c in (await session.execute(select(IncidentCall).order_by(IncidentCall.id))).scalars()
        ]


async def test_keypad_path_category_then_district_then_operator(live_server: LiveServer) -> None:
    made = await incident(live_server)
    zone = live_server.services.settings.zone
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "2"),  # нет воды
        play("outage-which-district", "2"),  # Ленинский
        play("outage-intro"),
        play("outage-no_water"),
        play("outage-where"),
        play("district-leninsky"),
        *say_time(made, zone),
        play("outage-offer", "0"),
        play("operator"),
    ]
    result = await run(live_server, script)
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert result.variables[cv.IVR_INCIDENT] == str(made.id)
    assert await calls(live_server) == [("keypad", "operator")]
    # a district the incident does not reach: the voice report goes on as before
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "2"),
        play("outage-which-district", "1"),  # Гагаринский
        play("record-after-beep"),
        step("RECORD FILE ", "200 result=-1 endpos=0"),  # (the caller hangs up here)
    ]
    await run(live_server, script, whole_script=False)


@pytest.mark.parametrize("installed", [False, True])
async def test_a_per_incident_recording_plays_only_when_it_is_there(live_server: LiveServer, installed: bool) -> None:
    if installed:
        (live_server.services.settings.ivr_prompts_dir / "incident-leak.wav").write_bytes(b"RIFF")
    made = await incident(live_server, recording="incident-leak")
    await live_server.services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=CALLER, category="no_water", title="Нет воды", address="ул. Ленина, 3"),
        Actor(role=Role.OPERATOR, name="op"),
    )
    what = (
        [play("incident-leak")]
        if installed
        else [play("outage-no_water"), play("outage-where"), play("district-leninsky")]
    )
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("outage-intro"),
        *what,
        *say_time(made, live_server.services.settings.zone),
        play("outage-offer", "1"),
        play("outage-subscribed"),
        play("ticket-number"),
        step("SAY DIGITS ", "200 result=0"),
        play("goodbye"),
    ]
    result = await run(live_server, script)
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_DONE
    assert await calls(live_server) == [("address", "subscribed")]


async def test_a_recording_that_fails_to_play_falls_back_to_the_spoken_parts(live_server: LiveServer) -> None:
    (live_server.services.settings.ivr_prompts_dir / "incident-leak.wav").write_bytes(b"RIFF")
    made = await incident(live_server, recording="incident-leak")
    await live_server.services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=CALLER, category="no_water", title="Нет воды", address="ул. Ленина, 3"),
        Actor(role=Role.OPERATOR, name="op"),
    )
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("outage-intro"),
        play("incident-leak", failed=True),
        play("outage-no_water"),
        play("outage-where"),
        play("district-leninsky"),
        *say_time(made, live_server.services.settings.zone),
        play("outage-offer", "9"),
        play("open-ticket-found"),  # 9: the menus go on (this caller also has an open ticket)
    ]
    await run(live_server, script, whole_script=False)
    assert await calls(live_server) == [("address", "menu")]


async def test_a_repeat_caller_keeps_one_linked_ticket(live_server: LiveServer) -> None:
    made = await incident(live_server)
    await live_server.services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=CALLER, category="no_water", title="Нет воды", address="ул. Ленина, 3"),
        Actor(role=Role.OPERATOR, name="op"),
    )
    service = live_server.services.incidents.service
    first = await service.subscribe(made.id, CALLER)
    again = await service.subscribe(made.id, "8 978 000-11-22")
    assert first.created and not again.created and again.ticket.number == first.ticket.number
    board = await service.board(made.id)
    assert (board.linked_tickets, board.subscribers) == (2, 1)  # the master and theirs
