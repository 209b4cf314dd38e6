"""Headless Chromium at 1366x768 and 1920x1080: a supervisor reads a kept conversation.

The live conversation feature kept the operator's talk with the caller on the call's row. On the
ticket page (the calls linked to the ticket) and on «Звонки сейчас» the supervisor reads it as a
dialogue, «Абонент» / «Оператор», each line at its local time (Europe/Simferopol), and both
recordings play (the browser loads and decodes the WAVs through the authorised route). Nothing
scrolls sideways. An analyst sees only that a conversation was kept.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Locator, expect

from callcenter.domain.tickets import Role
from tests.browser.journey_support import STAFF_SIZES, assert_no_sideways_scrolling, sign_in
from tests.conftest import LiveServer
from tests.conversation_fixtures import CALLER_SAYS, OPERATOR_SAYS, add_call_with_conversation
from tests.integration.test_staff_support import make_user, new_ticket

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

LOCAL = ZoneInfo("Europe/Simferopol")


async def duration_of(audio: Locator) -> float:
    """Load the <audio> and answer its duration in seconds (-1 when the browser could not play it)."""
    return float(
        await audio.evaluate(
            """a => new Promise(done => {
                 a.addEventListener('loadedmetadata', () => done(a.duration), {once: true});
                 a.addEventListener('error', () => done(-1), {once: true});
                 a.preload = 'auto'; a.load();
               })"""
        )
    )


async def check_dialogue(conversation: Locator, started, where: str) -> None:  # type: ignore[no-untyped-def]
    lines = conversation.locator(".dialogue-line")
    await expect(lines).to_have_count(2)
    caller_at = (started + timedelta(seconds=2.5)).astimezone(LOCAL).strftime("%H:%M:%S")
    operator_at = (started + timedelta(seconds=9)).astimezone(LOCAL).strftime("%H:%M:%S")
    await expect(lines.nth(0)).to_have_text(f"{caller_at} Абонент: {CALLER_SAYS}")
    await expect(lines.nth(1)).to_have_text(f"{operator_at} Оператор: {OPERATOR_SAYS}")
    await expect(conversation).to_contain_text("положили трубку")
    audios = conversation.locator("audio")
    await expect(audios).to_have_count(2)
    for i in range(2):
        await audios.nth(i).scroll_into_view_if_needed()
        assert abs(await duration_of(audios.nth(i)) - 1.0) < 0.1, f"{where}: recording {i} does not play"


@pytest.mark.parametrize("size", list(STAFF_SIZES))
async def test_the_supervisor_reads_and_hears_a_kept_conversation(
    browser: Browser, live_server: LiveServer, size: str
) -> None:
    services = live_server.services
    await make_user(services, "nadia", Role.SUPERVISOR)
    await make_user(services, "ada", Role.ANALYST)
    ticket = await new_ticket(services, category="water_leak", title="Прорыв трубы во дворе")
    started = await add_call_with_conversation(services, "1765000000.21", ticket_id=ticket.id)

    supervisor = await sign_in(browser, live_server.url, "nadia", STAFF_SIZES[size])
    page = supervisor.page
    await supervisor.goto(f"/staff/tickets/{ticket.number}")
    await check_dialogue(page.locator(".conversation[data-linkedid='1765000000.21']"), started, "ticket page")
    await assert_no_sideways_scrolling(page, "ticket page with a conversation")
    await supervisor.shot("conversation-ticket", full_page=True)

    await supervisor.goto("/staff/calls")
    section = page.locator("#conversations")
    await expect(section.locator("summary")).to_contain_text(f"№ {ticket.number}")
    await check_dialogue(section.locator(".conversation"), started, "calls page")
    await assert_no_sideways_scrolling(page, "calls page with a conversation")
    await supervisor.shot("conversation-calls", full_page=True)
    supervisor.check_clean()
    await supervisor.context.close()

    analyst = await sign_in(browser, live_server.url, "ada", STAFF_SIZES[size])
    await analyst.goto(f"/staff/tickets/{ticket.number}")
    await expect(analyst.page.locator(".conversation")).to_have_count(0)
    await expect(analyst.page.get_by_text("расшифровка и запись аналитику недоступны")).to_be_visible()
    reply = await analyst.context.request.get(live_server.url + "/staff/calls/1765000000.21/conversation/caller.wav")
    assert reply.status == 403
    analyst.check_clean()
    await analyst.context.close()
