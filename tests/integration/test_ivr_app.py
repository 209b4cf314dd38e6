"""The IVR inside the running app: a fake Asterisk on a real socket, the shipped menu, the real store."""

from __future__ import annotations

import pytest

from callcenter.config import Settings
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.ivr import channel_vars as cv
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.protocol.agi_peer import (
    ESC,
    HANGUP,
    FakeAsterisk,
    Step,
    environment_lines,
    play,
    scripted_agi_settings,
    step,
)

pytestmark = pytest.mark.timeout(120)
CALLER = "+79780001122"
WAV = b"RIFF" + b"\0" * 40 + b"voice" * 200


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These journeys use the RECORD FILE fallback (tests/integration/test_ivr_audiosocket.py: AudioSocket)."""
    return scripted_agi_settings(settings)


def peer(server: LiveServer, script: list[Step], **kw: object) -> FakeAsterisk:
    agi = server.services.agi
    assert agi is not None, "the FastAGI server did not start with the app"
    return FakeAsterisk("127.0.0.1", agi.port, env=environment_lines("ivr", callerid=CALLER), script=script, **kw)  # type: ignore[arg-type]


async def test_a_voice_report_becomes_a_draft_ticket_read_back_to_the_caller(live_server: LiveServer) -> None:
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "2"),
        play("record-after-beep"),
        step("RECORD FILE ", "200 result=35 (dtmf) endpos=16000"),
        play("report-accepted"),
        play("ticket-number"),
    ]
    result = await peer(live_server, script, recording_bytes=WAV, dead_after=True, auto_variables=True).run()
    (ticket,) = await live_server.services.tickets.tickets_for_phone(CALLER)
    assert ticket.is_draft and ticket.channel is Channel.IVR and ticket.category == "no_water"
    assert result.variables[cv.IVR_TICKET] == ticket.number
    assert any(c.startswith(f"SAY DIGITS {ticket.number}") for c in result.commands)
    detail = await live_server.services.tickets.detail(ticket.number)
    assert detail.attachments[0].kind == "recording" and detail.attachments[0].size == len(WAV)


async def test_caller_with_an_open_ticket_hears_it(live_server: LiveServer) -> None:
    view = await live_server.services.tickets.create(
        NewTicket(channel=Channel.WEB, phone="8 978 000-11-22", category="elevator", title="Лифт"),
        Actor(role=Role.OPERATOR, name="op"),
    )
    await live_server.services.tickets.move(view.number, Status.DISPATCHED, Actor(role=Role.OPERATOR, name="op"))
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("open-ticket-found"),
        play("ticket-number"),
        step(f"SAY DIGITS {view.number} {ESC}", "200 result=0"),
        play("status-dispatched"),
    ]
    result = await peer(live_server, script, dead_after=True, auto_variables=True).run()
    assert result.script_left == 0, result.commands
    assert result.variables[cv.IVR_TICKET] == view.number


async def test_hang_up_during_the_greeting_loses_nothing_and_frees_the_server(live_server: LiveServer) -> None:
    script = [step("ANSWER", "200 result=0"), step("STREAM FILE 1563/greeting", HANGUP, "200 result=-1 endpos=100")]
    await peer(live_server, script, dead_after=True, auto_variables=True).run()
    assert await live_server.services.tickets.tickets_for_phone(CALLER) == []
    # the next caller is served normally
    script = [step("ANSWER", "200 result=0"), play("greeting"), play("main-menu", "0"), play("operator")]
    result = await peer(live_server, script, dead_after=True, auto_variables=True).run()
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
