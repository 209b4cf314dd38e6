"""The live conversation transcript in the operator's call panel, in a real browser.

The app runs with CALLCENTER_LIVE_CONVERSATION on and its AMI link at the fake Asterisk, which
replays the recorded queue call; Operator One answers. The ``conversation`` messages the spies'
transcripts make are published on the hub here (the spies themselves are covered by
tests/protocol/test_conversation_spies.py and, on a real Asterisk, tests/asterisk/), and the
panel beside the page shows «Абонент»/«Оператор» lines as they come, then the kept transcript.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from callcenter.config import Settings
from tests.browser.test_screen_pop import POP, signed_in_page, the_call
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import OP1, QUEUE_CALL, connected, fake, index_of, make_user, telephony_settings  # noqa: F401


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake: FakeAmi) -> Settings:  # noqa: F811
    return telephony_settings(
        database_url, tmp_path, fake, agi_enabled=True, agi_port=0, audiosocket_port=0, live_conversation=True
    )


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:  # noqa: F811
    await connected(live_server, fake)
    return live_server


def said(user_id: int, state: str, **fields) -> dict:
    return {
        "type": "conversation",
        "state": state,
        "user_id": user_id,
        "linkedid": QUEUE_CALL,
        "interface": OP1,
        **fields,
    }


async def test_the_operator_reads_the_conversation_while_talking_then_the_kept_transcript(
    server: LiveServer,
    fake: FakeAmi,
    browser: Browser,  # noqa: F811
):
    services = server.services
    op1 = await make_user(services, "op1", device=OP1, full_name="Анна Операторова")
    events = the_call()
    answered = index_of(events, "AgentConnect") + 1
    _, page = await signed_in_page(browser, server.url, "op1", "/staff/tickets/new")
    await fake.send_frames(events[:answered])
    await page.wait_for_selector(f'{POP}[data-state="talking"]')

    services.hub.publish(said(op1.id, "started", parties=["caller", "operator"]))
    await page.wait_for_selector(f"{POP} .pop-conversation")
    assert "Слушаем" in await page.locator(f"{POP} .pop-conversation").inner_text()
    services.hub.publish(said(op1.id, "line", party="operator", speaker="Оператор", text="служба 1563 слушаю вас"))
    services.hub.publish(said(op1.id, "partial", party="caller", speaker="Абонент", text="у нас во дворе"))
    await page.wait_for_selector(f"{POP} .pop-line-partial")
    services.hub.publish(said(op1.id, "line", party="caller", speaker="Абонент", text="у нас во дворе течёт вода"))
    await page.wait_for_function(
        f"() => document.querySelectorAll('{POP} .pop-line').length === 2"
        f" && !document.querySelector('{POP} .pop-line-partial')"
    )
    lines = await page.locator(f"{POP} .pop-line").all_inner_texts()
    assert lines == ["Оператор: служба 1563 слушаю вас", "Абонент: у нас во дворе течёт вода"]
    # The ticket form is still there beside the panel: the operator types while listening.
    assert await page.locator('textarea[name="description"]').count() == 1

    kept = [
        {"party": "operator", "speaker": "Оператор", "text": "служба 1563 слушаю вас", "at_seconds": 1.0},
        {"party": "caller", "speaker": "Абонент", "text": "у нас во дворе течёт вода", "at_seconds": 3.5},
    ]
    services.hub.publish(said(op1.id, "ended", lines=kept, saved=True))
    await page.wait_for_selector(f'{POP} .pop-conversation[data-ended="1"]')
    await page.screenshot(path="/tmp/conversation-pop.png")
    text = await page.locator(f"{POP} .pop-conversation").inner_text()
    assert "звонок завершён" in text and "Расшифровка сохранена в записи звонка." in text
