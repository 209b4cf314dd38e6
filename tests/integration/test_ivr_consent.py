"""The IVR's SMS consent question inside the running app (issue 17, item 5): a fake Asterisk on a
real socket, the shipped menu, the real store and outbox, a fake SMS gateway on a real socket.

Pressing 1 after the voice report records consent on the draft exactly as the staff form does
(``extra["notify"]``), so the operator's confirmation of the draft queues the «зарегистрирована»
SMS (number and tracking link) and taking it in hand the «принята в работу» one; no key, no consent; a
withheld number is not asked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.config import Settings
from callcenter.domain.tickets import Actor, Role, Status
from callcenter.ivr import channel_vars as cv
from callcenter.notifications.api import NOTIFICATIONS
from tests.conftest import LiveServer
from tests.notify_support import Gateway, start_gateway
from tests.protocol.agi_peer import PeerResult, Step, call_app_ivr, play, scripted_agi_settings, step

pytestmark = pytest.mark.timeout(120)
CALLER = "+79780001122"
WAV = b"RIFF" + b"\0" * 40 + b"voice" * 200
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="Старший смены")


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    runner, info = await start_gateway()
    try:
        yield info
    finally:
        await runner.cleanup()


@pytest.fixture
def settings(settings: Settings, gateway: Gateway) -> Settings:
    """RECORD FILE (as tests/integration/test_ivr_app.py) and SMS through the fake gateway."""
    return scripted_agi_settings(settings, sms_url=gateway.url)


REPORT = [
    step("ANSWER", "200 result=0"),
    play("greeting"),
    play("main-menu", "1"),
    play("report-category", "2"),
    play("record-after-beep"),
    step("RECORD FILE ", "200 result=35 (dtmf) endpos=16000"),
    play("report-accepted"),
    play("ticket-number"),
    step("SAY DIGITS ", "200 result=0"),
]


async def run(server: LiveServer, script: list[Step], callerid: str = CALLER) -> PeerResult:
    return await call_app_ivr(server.services.agi, script, callerid=callerid, recording_bytes=WAV, auto_variables=True)


async def accept(server: LiveServer, number: str) -> list[tuple[str, str, str]]:
    """The operator confirms the draft; it is dispatched and taken in hand: the outbox rows."""
    tickets = server.services.tickets
    await tickets.edit(number, {}, SUPERVISOR, confirm_draft=True)
    await tickets.edit(number, {"address": "ул. Ленина, д. 7"}, SUPERVISOR)
    await tickets.move(number, Status.DISPATCHED, SUPERVISOR)
    await tickets.move(number, Status.IN_PROGRESS, SUPERVISOR)
    rows = await server.app[NOTIFICATIONS].outbox.for_ticket(number)
    return [(n.channel, n.address, n.body) for n in rows]


async def test_key_1_records_consent_and_the_registered_and_accepted_sms_are_queued(live_server: LiveServer) -> None:
    script = [*REPORT, play("sms-consent", "1"), play("sms-consent-recorded"), play("goodbye")]
    result = await run(live_server, script)
    number = result.variables[cv.IVR_TICKET]
    ticket = (await live_server.services.tickets.detail(number)).ticket
    assert ticket.is_draft and ticket.phone == CALLER
    consent = ticket.extra["notify"]
    assert (consent["sms"], consent["email"], consent["via"]) == (True, None, "ivr") and consent["at"]
    assert result.variables[cv.IVR_PATH].endswith(">record>sms")

    rows = await accept(live_server, number)
    # The confirmation registers the ticket: number and tracking link; then «принята в работу».
    # The consent's own edit and a later edit of the confirmed ticket send nothing.
    assert [(channel, address) for channel, address, _ in rows] == [("sms", CALLER), ("sms", CALLER)]
    assert f"Заявка № {number} зарегистрирована." in rows[0][2] and f"/track?number={number}" in rows[0][2]
    assert f"Заявка № {number} принята в работу." in rows[1][2]


async def test_no_key_is_no_consent_and_no_sms(live_server: LiveServer) -> None:
    script = [*REPORT, play("sms-consent"), step("WAIT FOR DIGIT 4000", "200 result=0"), play("goodbye")]
    result = await run(live_server, script)
    number = result.variables[cv.IVR_TICKET]
    assert "notify" not in (await live_server.services.tickets.detail(number)).ticket.extra
    assert await accept(live_server, number) == []


async def test_withheld_number_is_not_asked(live_server: LiveServer) -> None:
    result = await run(live_server, [*REPORT, play("goodbye")], callerid="anonymous")
    number = result.variables[cv.IVR_TICKET]
    ticket = (await live_server.services.tickets.detail(number)).ticket
    assert ticket.phone is None and "notify" not in ticket.extra
    assert not any("sms-consent" in c for c in result.commands)
    assert await accept(live_server, number) == []
