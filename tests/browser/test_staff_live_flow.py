"""Headless Chromium: a ticket made elsewhere appears live on the operators' board, is dispatched,
accepted and done by the executor in another browser, and the operator's row turns green without a reload."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from callcenter.domain.tickets import Role, Status
from tests.conftest import LiveServer
from tests.integration.test_staff_support import PASSWORD, make_user, new_ticket

pytestmark = pytest.mark.browser
WAIT = 15_000


async def sign_in(browser: Browser, live_server: LiveServer, login: str) -> Page:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="ru-RU")
    page = await context.new_page()
    await page.goto(live_server.url + "/login")
    await page.fill("#f-login", login)
    await page.fill("#f-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    return page


async def live(page: Page) -> None:
    """Wait until the page's WebSocket is subscribed (the server said hello)."""
    await page.wait_for_function("document.body.dataset.live === 'connected'", timeout=WAIT)


async def test_a_ticket_goes_from_elsewhere_to_green_live(browser: Browser, live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")

    operator = await sign_in(browser, live_server, "anna")
    assert operator.url.endswith("/staff/")
    await live(operator)
    ticket = await new_ticket(services)  # made by the portal, not by this browser
    row = operator.locator(f"#t-{ticket.number}")
    await expect(row).to_be_visible(timeout=WAIT)
    await expect(row).to_contain_text("Новая")
    await expect(row).to_contain_text("Портал")
    first = await row.locator(".timer").inner_text()
    await operator.wait_for_function(
        f"document.querySelector('#t-{ticket.number} .timer').textContent !== {first!r}", timeout=WAIT
    )

    await row.locator("a").first.click()
    await operator.wait_for_url(f"**/staff/tickets/{ticket.number}")
    await expect(operator.locator("#action-dispatched select[name=department]")).to_have_value("vodokanal")
    await operator.screenshot(path="/tmp/staff-ticket-page.png", full_page=True)
    await operator.locator("#action-dispatched button[type=submit]").click()
    await expect(operator.locator(".alert-ok")).to_contain_text("Статус изменён")
    assert (await services.tickets.get(ticket.number)).status is Status.DISPATCHED

    await operator.goto(live_server.url + "/staff/")
    await live(operator)
    await operator.evaluate("window.__sameDocument = true")
    executor = await sign_in(browser, live_server, "vera")
    assert executor.url.endswith("/staff/queue")
    queue_row = executor.locator(f"#t-{ticket.number}")
    await queue_row.get_by_role("button", name="Принять в работу").click()
    await executor.wait_for_url("**/staff/queue*")
    await expect(operator.locator(f"#t-{ticket.number}")).to_contain_text("Заявка принята в работу", timeout=WAIT)
    await executor.locator(f"#t-{ticket.number} input[name=note]").fill("Заменили участок трубы 2 м")
    await executor.locator(f"#t-{ticket.number}").get_by_role("button", name="Выполнено").click()
    await executor.wait_for_url("**/staff/queue*")

    green = operator.locator(f"#t-{ticket.number}.status-done")
    await expect(green).to_be_visible(timeout=WAIT)
    await expect(green).to_contain_text("Выполнено")
    assert await operator.evaluate("window.__sameDocument === true")  # no reload happened
    # Green once the row's short "just changed" highlight has faded.
    await operator.wait_for_function(
        f"getComputedStyle(document.querySelector('#t-{ticket.number} td')).backgroundColor === 'rgb(230, 244, 234)'",
        timeout=WAIT,
    )
    await operator.screenshot(path="/tmp/staff-board.png", full_page=False)
    detail = await services.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.DONE and detail.events[-1].note == "Заменили участок трубы 2 м"
    await operator.context.close()
    await executor.context.close()
