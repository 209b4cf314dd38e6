"""Least privilege: analysts get citizens' numbers masked on every page, export and live board.

The review found analysts reading full phone numbers on the board, ticket pages, the CSV and the
live calls board. Whoever works with citizens still sees the number whole, and that view is audited.
"""

from __future__ import annotations

import time

import pytest

from callcenter.accounts.audit import AuditQuery
from callcenter.domain.phones import mask_phone
from callcenter.domain.tickets import Role
from callcenter.services import Services
from callcenter.web.audit import mask_callers
from callcenter.web.context import WEB
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, new_ticket, staff_client
from tests.integration.test_staff_support import make_user as make_staff
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    QUEUE_CALL,
    TRACE_CALLER,
    connected,
    fake,
    index_of,
    make_user,
    queue_events,
    settings,
    signed_in,
    stamp,
)

PHONE = "+79781234567"


def test_a_masked_number_keeps_only_the_operator_code_and_last_two_digits() -> None:
    assert mask_phone(PHONE) == "+7 978 ***-**-67"
    message = {"type": "call", "call": {"caller": PHONE, "caller_display": "+7 978 123-45-67", "caller_name": "x"}}
    masked = mask_callers(message)
    assert masked["call"]["caller"] == masked["call"]["caller_display"] == "+7 978 ***-**-67"
    assert message["call"]["caller"] == PHONE  # the shared message itself is untouched


async def test_analysts_see_masked_numbers_on_the_ticket_page_and_in_the_csv(live_server: LiveServer) -> None:
    services = live_server.services
    await make_staff(services, "lena", Role.ANALYST)
    await make_staff(services, "boss", Role.SUPERVISOR)
    ticket = await new_ticket(
        services,
        phone=PHONE,
        citizen_name="Петрова Анна",
        description="Звонила Петрова, тел 89787654321, прорыв трубы",
    )
    async with staff_client(live_server.url, "lena") as lena:
        page = await (await lena.get(f"/staff/tickets/{ticket.number}")).text()
        csv_text = await (await lena.get("/staff/export.csv")).text()
    for shown in (page, csv_text):
        assert "123-45-67" not in shown and "1234567" not in shown and "7654321" not in shown
        assert "Петрова Анна" not in shown
    assert "+7 978 ***-**-67" in page and "+7 978 ***-**-67" in csv_text
    assert 'href="tel:' not in page
    async with staff_client(live_server.url, "boss") as boss:
        full_page = await (await boss.get(f"/staff/tickets/{ticket.number}")).text()
        full_csv = await (await boss.get("/staff/export.csv")).text()
    assert "+7 978 123-45-67" in full_page and PHONE in full_csv and "Петрова Анна" in full_csv
    events = await live_server.app[WEB].audit.search(AuditQuery())
    seen = {(e.login, e.action, e.details.get("full_phones")) for e in events}
    assert ("boss", "ticket_viewed", None) in seen and ("boss", "tickets_exported", True) in seen
    assert ("lena", "tickets_exported", False) in seen
    assert ("lena", "ticket_viewed", None) not in seen  # nothing personal was shown to her


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    await connected(live_server, fake)
    await make_user(live_server.services, "boss", role=Role.SUPERVISOR)
    await make_user(live_server.services, "lena", role=Role.ANALYST)
    return live_server


async def test_the_live_calls_board_masks_callers_for_analysts_only(server: LiveServer, fake: FakeAmi) -> None:
    events = stamp(queue_events(), time.time() - 50)
    head = events[: index_of(events, "AgentCalled") + 1]
    async with signed_in(server.url, "boss") as boss, boss.socket() as boss_inbox:
        async with signed_in(server.url, "lena") as lena, lena.socket() as lena_inbox:
            await boss_inbox.wait_for(lambda m: m["type"] == "hello")
            await lena_inbox.wait_for(lambda m: m["type"] == "hello")
            await fake.send_frames(head)
            full = await boss_inbox.wait_for(lambda m: m["type"] == "board" and m["queued"])
            masked = await lena_inbox.wait_for(lambda m: m["type"] == "board" and m["queued"])
            lena_state = await (await lena.get("/staff/calls/state")).json()
            boss_state = await (await boss.get("/staff/calls/state")).json()
    assert full["queued"][0]["caller"] == TRACE_CALLER
    assert masked["queued"][0]["linkedid"] == QUEUE_CALL
    assert masked["queued"][0]["caller"] == mask_phone(TRACE_CALLER) != TRACE_CALLER
    assert TRACE_CALLER[-7:] not in str(masked) and TRACE_CALLER[-7:] not in str(lena_state)
    assert boss_state["board"]["queued"][0]["caller"] == TRACE_CALLER
    actions = {(e.login, e.action) for e in await server.app[WEB].audit.search(AuditQuery())}
    assert ("boss", "calls_board_viewed") in actions and ("lena", "calls_board_viewed") not in actions


async def test_the_callbacks_csv_masks_numbers_for_analysts(services: Services) -> None:
    from tests.integration.test_callback_web import done_ticket, running_app

    async with running_app(services) as (url, svc):
        await make_staff(svc, "lena", Role.ANALYST)
        await make_staff(svc, "sv", Role.SUPERVISOR)
        await done_ticket(svc, phone="8 978 000-11-22")
        async with staff_client(url, "lena") as lena:
            masked = (await (await lena.get("/staff/callbacks/export.csv")).read()).decode("utf-8-sig")
        async with staff_client(url, "sv") as sv:
            full = (await (await sv.get("/staff/callbacks/export.csv")).read()).decode("utf-8-sig")
        assert "+79780001122" in full
        assert "+79780001122" not in masked and "+7 978 ***-**-22" in masked


async def test_analysts_do_not_hear_citizens_voices(live_server: LiveServer) -> None:
    """A voice report says the caller's name, address and number: analysts get no player and a 403;
    a supervisor hears it, and that is audited."""
    services = live_server.services
    await make_staff(services, "lena", Role.ANALYST)
    await make_staff(services, "boss", Role.SUPERVISOR)
    ticket = await new_ticket(services, phone=PHONE)
    folder = services.settings.data_dir / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "voice.wav").write_bytes(b"RIFF0000WAVEfmt ")
    voice = await services.tickets.add_attachment(
        ticket.number,
        kind="recording",
        path="recordings/voice.wav",
        mime="audio/wav",
        size=16,
        sha256=None,
        public=False,
        actor=OPERATOR_ACTOR,
    )
    async with staff_client(live_server.url, "lena") as lena:
        page = await (await lena.get(f"/staff/tickets/{ticket.number}")).text()
        refused = await lena.get(f"/staff/attachments/{voice}")
        refused_text = await refused.text()
    assert refused.status == 403 and "не аналитики" in refused_text
    assert f'src="/staff/attachments/{voice}"' not in page and "Запись голоса доступна операторам" in page
    async with staff_client(live_server.url, "boss") as boss:
        page = await (await boss.get(f"/staff/tickets/{ticket.number}")).text()
        heard = await boss.get(f"/staff/attachments/{voice}")
        body = await heard.read()
    assert heard.status == 200 and body.startswith(b"RIFF") and f'src="/staff/attachments/{voice}"' in page
    events = await live_server.app[WEB].audit.search(AuditQuery())
    heard_by = {e.login for e in events if e.action == "attachment_viewed"}
    assert heard_by == {"boss"}
