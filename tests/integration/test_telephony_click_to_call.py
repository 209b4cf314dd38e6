"""Click-to-call from the ticket page against the fake Asterisk.

The outcomes come from tests/fixtures/asterisk-traces/ami-originate-callbacks.txt: the fake answers
our Originate with exactly the frames Asterisk sent for the lab's answered, busy, no-answer
and no-such-extension originates (their ActionID swapped for ours).
"""

from __future__ import annotations

import asyncio

import pytest

from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.telephony.click_to_call import DISABLED_TEXT, DOWN_TEXT
from callcenter.telephony.wiring import TELEPHONY
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi, Frame, frame_get, load_trace
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    CALL_KEY_INPUT,
    HubWatch,
    clean_database,
    connected,
    fake,
    make_user,
    running_app,
    settings,
    signed_in,
    telephony_settings,
)

ACTOR = Actor(role=Role.OPERATOR, name="Оператор из теста")
CITIZEN = "+79780001122"
JSON = {"Accept": "application/json"}


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    await connected(live_server, fake)
    await make_user(live_server.services, "op1", device="PJSIP/op1")
    return live_server


async def a_ticket(services, phone: str | None = CITIZEN):
    return await services.tickets.create(
        NewTicket(
            channel=Channel.WEB,
            phone=phone,
            category="water_leak",
            title="Порыв",
            description="Течёт",
            address="ул. Ленина, 5",
        ),
        ACTOR,
    )


def as_ours(frames: list[Frame], theirs: str, ours: str) -> list[Frame]:
    return [[(k, ours if k == "ActionID" and v == theirs else v) for k, v in frame] for frame in frames]


async def call_events(services, number: str) -> list:
    return [e for e in (await services.tickets.detail(number)).events if e.kind == "call"]


@pytest.mark.parametrize(
    ("lab_action", "outcome", "words"),
    [
        ("cb-satisfied", "answered", "вызов принят"),
        ("cb-busy", "busy", "занято"),
        ("cb-noanswer", "no_answer", "нет ответа"),
        ("cb-nosuch", "failed", "вызов не удался"),
    ],
)
async def test_outcome_is_recorded_on_the_ticket_and_shown(
    server: LiveServer, fake: FakeAmi, lab_action, outcome, words
):
    ticket = await a_ticket(server.services)
    trace = load_trace("ami-originate-callbacks.txt")
    async with signed_in(server.url, "op1") as op1:
        key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)
        reply = trace.reply_to(lab_action)
        assert any(
            frame_get(f, "Event") == "OriginateResponse" and frame_get(f, "ActionID") == lab_action for f in reply
        )
        fake.scripted_replies[key] = as_ours(reply, lab_action, key)
        resp = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
        body = await resp.json()
        page = await op1.page(f"/staff/tickets/{ticket.number}")
    assert resp.status == 200 and body["outcome"] == outcome and not body["repeated"]
    assert words in body["message"] and body["next_key"] != key
    sent = [a for a in fake.actions if a.get("Action") == "Originate"]
    assert len(sent) == 1
    assert (sent[0]["ActionID"], sent[0]["ChannelId"], sent[0]["Channel"]) == (key, f"cc-{key}", "PJSIP/op1")
    assert (sent[0]["Context"], sent[0]["Exten"]) == ("outbound", CITIZEN[1:])
    assert f"TICKET_ID={ticket.number}" in sent[0]["Variable"]
    [event] = await call_events(server.services, ticket.number)
    assert event.data["outcome"] == outcome and event.data["request_id"] == key and words in event.note
    assert event.actor_name == "Тест op1"
    assert words in page  # the ticket's history shows the call
    row = await server.app[TELEPHONY].calls.get(f"cc-{key}")
    assert row.direction == "out" and row.caller == CITIZEN and row.data["outcome"] == outcome
    assert row.ticket_id == ticket.id


async def test_a_double_submit_dials_once(server: LiveServer, fake: FakeAmi):
    ticket = await a_ticket(server.services)
    async with signed_in(server.url, "op1") as op1:
        key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)
        path = f"/staff/tickets/{ticket.number}/call"
        first, second = await asyncio.gather(
            op1.post(path, {"call_key": key}, headers=JSON), op1.post(path, {"call_key": key}, headers=JSON)
        )
        bodies = [await first.json(), await second.json()]
        third = await (await op1.post(path, {"call_key": key}, headers=JSON)).json()
        html = await op1.post(path, {"call_key": key})  # a browser resending the plain form
        html_text = await html.text()
    assert fake.count("Originate") == 1 and fake.count("Originate", key) == 1
    assert sorted(b["repeated"] for b in bodies) == [False, True]
    assert third["repeated"] and "уже был сделан" in third["message"]
    assert html.status == 200 and "Повторно не набираем" in html_text
    assert len(await call_events(server.services, ticket.number)) == 1


async def test_link_down_dials_nothing_and_says_so(server: LiveServer, fake: FakeAmi):
    ticket = await a_ticket(server.services)
    async with signed_in(server.url, "op1") as op1:
        key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)
        with HubWatch(server.services, lambda m: m.get("type") == "board" and m["link"] == "disconnected") as down:
            await fake.close()  # Asterisk is gone
            await down.next()
        resp = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
        body = await resp.json()
        page = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key})
        page_text = await page.text()
    assert resp.status == 503 and body["message"] == DOWN_TEXT
    assert page.status == 503 and "Нет связи с АТС" in page_text and "Вернуться к заявке" in page_text
    assert fake.count("Originate") == 0
    assert await call_events(server.services, ticket.number) == []
    assert await server.app[TELEPHONY].calls.get(f"cc-{key}") is None


async def test_bad_requests_are_refused_with_a_reason(server: LiveServer, fake: FakeAmi):
    services = server.services
    ticket = await a_ticket(services)
    silent = await a_ticket(services, phone=None)
    await make_user(services, "nodevice")
    await make_user(services, "analyst", role=Role.ANALYST)
    async with signed_in(server.url, "op1") as op1:
        page = await op1.page(f"/staff/tickets/{ticket.number}")
        key = CALL_KEY_INPUT.search(page).group(1)
        forged = await op1.post(
            f"/staff/tickets/{ticket.number}/call", {"call_key": "c2c-1\r\nAction: Originate"}, headers=JSON
        )
        no_phone = await op1.post(f"/staff/tickets/{silent.number}/call", {"call_key": key}, headers=JSON)
        no_csrf = await op1.http.post(
            f"{server.url}/staff/tickets/{ticket.number}/call", data={"call_key": key}, headers=JSON
        )
        assert CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{silent.number}")) is None
        assert (forged.status, no_phone.status, no_csrf.status) == (422, 422, 403)
        assert "обновите страницу" in (await forged.json())["message"]
        assert "нет телефона" in (await no_phone.json())["message"]
    async with signed_in(server.url, "nodevice") as nodevice:
        page = await nodevice.page(f"/staff/tickets/{ticket.number}")
        resp = await nodevice.post(
            f"/staff/tickets/{ticket.number}/call", {"call_key": CALL_KEY_INPUT.search(page).group(1)}, headers=JSON
        )
        assert resp.status == 422 and "не указан телефон" in (await resp.json())["message"]
    async with signed_in(server.url, "analyst") as analyst:
        page = await analyst.page(f"/staff/tickets/{ticket.number}")
        assert CALL_KEY_INPUT.search(page) is None  # no button for analysts
        resp = await analyst.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
        assert resp.status == 403
    assert fake.count("Originate") == 0
    assert await call_events(services, ticket.number) == []


async def test_with_ami_off_the_button_says_telephony_is_disabled(database_url, tmp_path):
    settings = telephony_settings(database_url, tmp_path, None)
    async with running_app(settings) as app:
        await clean_database(app.services)
        assert app.telephony.live is None and app.services.ami is None
        ticket = await a_ticket(app.services)
        await make_user(app.services, "op1", device="PJSIP/op1")
        async with signed_in(app.url, "op1") as op1:
            key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)
            resp = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
            body = await resp.json()
            health = await (await op1.get("/healthz")).json()
    assert resp.status == 503 and body["message"] == DISABLED_TEXT
    assert health["ami"] == "disabled"
