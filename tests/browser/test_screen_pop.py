"""Screen pops and the live calls board in a real browser (headless Chromium).

The full app runs with its AMI link at the fake Asterisk, which replays the recorded
queue call: Operator One's phone (Local/op1@operators/n) rings. The operator signed in
with that device sees the pop; another operator sees nothing; a supervisor's board shows
the waiting caller. Screenshots go to /tmp/screen-pop-*.png for a human to look at.
"""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    IVR_LEG,
    OP1,
    OP2,
    PASSWORD,
    QUEUE_CALL,
    TRACE_CALLER,
    connected,
    fake,
    index_of,
    make_user,
    queue_events,
    settings,
    stamp,
    varset_after,
)

ACTOR = Actor(role=Role.OPERATOR, name="Оператор из теста")
POP = f'.pop[data-linkedid="{QUEUE_CALL}"]'


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    await connected(live_server, fake)
    return live_server


async def signed_in_page(browser: Browser, base: str, login: str, path: str = "/staff/") -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    await page.goto(base + "/login?next=" + path)
    await page.fill("#f-login", login)
    await page.fill("#f-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + path)
    await page.wait_for_selector('body[data-live="connected"]', state="attached")
    # Remember every /ws message the page's live.js receives (it re-dispatches them).
    await page.evaluate("""() => { window.seen = [];
        document.addEventListener("cc:message", (e) => window.seen.push(e.detail.type)); }""")
    return context, page


def the_call() -> list:
    return stamp(varset_after(queue_events(), "IVR_PATH", "1>water_leak>record"), time.time() - 60)


async def test_the_ringing_operator_sees_the_pop_and_another_does_not(
    server: LiveServer, fake: FakeAmi, browser: Browser
):
    services = server.services
    await make_user(services, "op1", device=OP1, full_name="Анна Операторова")
    await make_user(services, "op2", device=OP2, full_name="Борис Операторов")
    earlier = await services.tickets.create(
        NewTicket(
            channel=Channel.WEB,
            phone=TRACE_CALLER,
            category="no_water",
            title="Нет воды во всём доме",
            description="Третий день",
            address="ул. Ленина, 5",
            citizen_name="Мария Петрова",
        ),
        ACTOR,
    )
    draft = await services.tickets.create(
        NewTicket(
            channel=Channel.IVR,
            phone=TRACE_CALLER,
            category="water_leak",
            title="Голосовое сообщение",
            description="Во дворе прорвало трубу, вода идёт на дорогу",
            is_draft=True,
            extra={"call_uniqueid": IVR_LEG},
        ),
        ACTOR,
    )
    events = the_call()
    cut = index_of(events, "AgentCalled") + 1
    _, one = await signed_in_page(browser, server.url, "op1")
    _, two = await signed_in_page(browser, server.url, "op2")

    await fake.send_frames(events[:cut])
    panel = await one.wait_for_selector(f'{POP}[data-complete="1"]')
    text = await panel.inner_text()
    await one.screenshot(path="/tmp/screen-pop-op1-ringing.png")
    assert "входящий звонок" in text.lower() and "+7 978 000-33-30" in text and "Мария Петрова" in text
    assert f"№ {draft.number}" in text and "Во дворе прорвало трубу" in text and earlier.number in text
    assert "клавиша 1 → Порыв водопровода → голосовое сообщение" in text
    assert await one.locator(".pop").count() == 1  # one panel: live.js left the pops to pop.js

    await fake.send_frames(events[cut:])
    await one.wait_for_selector(f'{POP}[data-state="ended"]')
    await one.screenshot(path="/tmp/screen-pop-op1-ended.png")
    assert "звонок завершён" in (await one.locator(POP).inner_text()).lower()

    # A ticket message reaches every operator after the pops: op2 has seen all it will see.
    await services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=None, category="other", description="метка", address="—"), ACTOR
    )
    await two.wait_for_function("() => window.seen.includes('ticket')")
    await two.screenshot(path="/tmp/screen-pop-op2-nothing.png")
    assert await two.locator(".pop").count() == 0
    assert "pop" not in await two.evaluate("() => window.seen")

    # The call has the IVR's draft: the pop's button starts the ticket from that draft (issue 14).
    assert await one.locator(f"{POP} a.pop-new").inner_text() == "Оформить заявку из черновика"
    await one.click(f"{POP} a.pop-new")
    await one.wait_for_url(f"**/staff/tickets/{draft.number}/edit")
    assert "Во дворе прорвало трубу" in await one.locator('textarea[name="description"]').input_value()


async def test_the_supervisors_board_shows_the_waiting_caller_live(server: LiveServer, fake: FakeAmi, browser: Browser):
    await make_user(server.services, "boss", role=Role.SUPERVISOR, full_name="Старший смены")
    events = the_call()
    _, board = await signed_in_page(browser, server.url, "boss", "/staff/calls")
    assert (await board.locator("#calls-link").inner_text()) == "АТС на связи"
    await fake.send_frames(events[: index_of(events, "AgentCalled") + 1])
    row = await board.wait_for_selector(f'#calls-queued tr[data-linkedid="{QUEUE_CALL}"]')
    first = await row.inner_text()
    await board.wait_for_function(
        f"""(before) => document.querySelector('#calls-queued tr[data-linkedid="{QUEUE_CALL}"]')
                      .innerText !== before""",
        arg=first,
    )  # the wait ticks
    await board.screenshot(path="/tmp/screen-pop-board.png", full_page=True)
    assert "+7 978 000-33-30" in first and "Operator One" in first
    operator = await board.locator(f'#calls-operators tr[data-interface="{OP1}"]').inner_text()
    assert "звонит телефон" in operator
    await fake.send_frames(events[index_of(events, "AgentCalled") + 1 :])
    await board.wait_for_selector(f'#calls-queued tr[data-linkedid="{QUEUE_CALL}"]', state="detached")
    assert await board.locator('[data-empty="queued"]').is_visible()


async def test_click_to_call_shows_the_outcome_beside_the_button(server: LiveServer, fake: FakeAmi, browser: Browser):
    await make_user(server.services, "op3", device="PJSIP/op3")
    ticket = await server.services.tickets.create(
        NewTicket(
            channel=Channel.WEB,
            phone="+79780001122",
            category="garbage",
            title="Мусор",
            description="Не вывозят",
            address="ул. Ленина, 5",
        ),
        ACTOR,
    )
    fake.originate_reason = "5"  # the line is busy
    _, page = await signed_in_page(browser, server.url, "op3", f"/staff/tickets/{ticket.number}")
    key = await page.locator('input[name="call_key"]').get_attribute("value")
    await page.click("button.call-button")
    status = await page.wait_for_selector(".call-status.call-busy")
    await page.screenshot(path="/tmp/screen-pop-click-to-call.png")
    assert "занято" in await status.inner_text()
    assert await page.locator('input[name="call_key"]').get_attribute("value") != key  # ready for a new call
    assert fake.count("Originate", key) == 1


def _voice(text: str, nearby: list[dict]) -> dict:
    return {
        "type": "voice_live",
        "call_uniqueid": IVR_LEG,
        "phone": TRACE_CALLER,
        "kind": "ivr",
        "text": text,
        "final": False,
        "audio_seconds": 2.0,
        "suggestion": {"category": "water_leak", "category_name": "Порыв водопровода", "address": "ул. Ленина, д. 5"},
        "nearby": nearby,
    }


async def test_the_ringing_pop_lists_open_tickets_at_the_place_the_caller_names(
    server: LiveServer, fake: FakeAmi, browser: Browser
):
    services = server.services
    await make_user(services, "op1", device=OP1, full_name="Анна Операторова")
    found = {
        "number": "2600042",
        "url": "/staff/tickets/2600042",
        "category": "water_leak",
        "category_name": "Порыв водопровода",
        "address": "ул. Ленина, д. 5",
        "status": "new",
        "status_label": "Новая",
        "distance_m": 12,
        "same_address": True,
    }
    services.hub.publish(_voice("на улице ленина", []))
    events = the_call()
    cut = index_of(events, "AgentCalled") + 1
    _, one = await signed_in_page(browser, server.url, "op1")
    await fake.send_frames(events[:cut])
    panel = one.locator(POP)
    await one.wait_for_selector(f"{POP} .pop-live")
    assert await panel.locator(".pop-nearby").count() == 0  # nothing found yet
    services.hub.publish(_voice("на улице ленина дом пять течёт вода", [found]))
    await one.wait_for_selector(f"{POP} .pop-nearby")
    await one.screenshot(path="/tmp/screen-pop-op1-nearby.png")
    text = await panel.locator(".pop-nearby").inner_text()
    assert "Похожие открытые заявки" in text
    assert "№ 2600042" in text and "ул. Ленина, д. 5" in text and "Новая" in text and "12 м" in text
    assert await panel.locator('.pop-nearby a[href="/staff/tickets/2600042"]').count() == 1
