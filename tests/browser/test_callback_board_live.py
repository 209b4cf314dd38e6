"""Headless Chromium: the supervisors' callback board updates itself when a callback is planned."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from callcenter.domain.tickets import Actor, Role, Status
from tests.browser.test_staff_live_flow import WAIT, live, sign_in
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, new_ticket

pytestmark = pytest.mark.browser


async def test_a_done_ticket_appears_on_the_callback_board_without_a_reload(
    browser: Browser, live_server: LiveServer
) -> None:
    services = live_server.services
    await make_user(services, "olga", Role.SUPERVISOR)
    page = await sign_in(browser, live_server, "olga")
    await page.goto(live_server.url + "/staff/callbacks")
    await live(page)
    await page.evaluate("window.__sameDocument = true")
    scheduled = page.locator("#counts [data-count=scheduled]")
    before = await scheduled.inner_text()

    ticket = await new_ticket(services)
    staff = Actor(role=Role.SUPERVISOR, name="Руководитель")
    await services.tickets.move(ticket.number, Status.DISPATCHED, staff)
    await services.tickets.move(ticket.number, Status.IN_PROGRESS, staff)
    await services.tickets.move(ticket.number, Status.DONE, staff, note="Устранено")  # plans a callback

    await expect(scheduled).to_have_text(str(int(before) + 1), timeout=WAIT)
    assert await page.evaluate("window.__sameDocument === true")  # refreshed in place, no reload
    await page.screenshot(path="/tmp/callback-board.png", full_page=True)
