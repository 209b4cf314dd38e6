"""Real Chromium under the app's Content-Security-Policy: every page still works and reports no violation.

Each page is opened as a user would; the console is recorded (Chromium reports each CSP refusal
there as "Refused to ..."), and each page's own script must have run (the map drawn, the live
board connected, the error page's back link bound), so a policy that silently broke a page fails.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from callcenter.domain.tickets import Role
from tests.browser.conftest import browser  # noqa: F401 - the fixture
from tests.conftest import LiveServer
from tests.integration.test_staff_support import PASSWORD, make_user, new_ticket

pytestmark = pytest.mark.browser
WAIT = 15_000


def record(page: Page) -> list[str]:
    messages: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            messages.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda err: messages.append(f"pageerror: {err}"))
    return messages


def violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m or m.startswith("pageerror")]


async def open_page(page: Page, url: str) -> None:
    response = await page.goto(url)
    assert response is not None and response.status == 200, url
    assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    await page.wait_for_load_state("load")


async def test_an_injected_inline_script_does_not_run(browser: Browser, live_server: LiveServer) -> None:
    page = await browser.new_page(bypass_csp=False)
    record(page)  # keeps the console on record, as in every page of these tests
    await open_page(page, live_server.url + "/")
    async with page.expect_event("console", predicate=lambda m: "Content Security Policy" in m.text, timeout=WAIT):
        await page.evaluate("""() => {
            const s = document.createElement('script'); s.textContent = 'window.__injected = 1';
            document.body.appendChild(s);
            const a = document.createElement('img'); a.setAttribute('onerror', 'window.__handler = 1');
            a.src = '/x.png'; document.body.appendChild(a);
        }""")
    # Wait for the image's error event (the point where an allowed onerror handler would have run).
    await page.evaluate("""() => new Promise(done => {
        const img = document.querySelector('img[src="/x.png"]');
        if (img.complete) { done(); } else { img.addEventListener('error', done); img.addEventListener('load', done); }
    })""")
    assert await page.evaluate("window.__injected === undefined && window.__handler === undefined")


async def test_public_pages_work_without_violations(browser: Browser, live_server: LiveServer) -> None:
    await new_ticket(live_server.services, lat=44.6085, lon=33.5265)
    page = await browser.new_page(bypass_csp=False)
    messages = record(page)
    await page.route("https://tile.openstreetmap.org/**", lambda route: route.fulfill(status=204))
    await open_page(page, live_server.url + "/")
    await page.wait_for_selector(".leaflet-container", timeout=WAIT)  # map.js ran
    await page.fill("#address", "Ленина")
    await page.wait_for_selector("#street-suggestions option", timeout=WAIT, state="attached")  # form.js ran
    await open_page(page, live_server.url + "/track")
    await open_page(page, live_server.url + "/login")
    await page.goto(live_server.url + "/no-such-page")
    await page.click("a[data-history-back]")  # back.js bound: goes back
    await page.wait_for_url(live_server.url + "/login")
    assert violations(messages) == []


async def sign_in(browser: Browser, live_server: LiveServer, login: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU", bypass_csp=False)
    page = await context.new_page()
    messages = record(page)
    await page.goto(live_server.url + "/login")
    await page.fill("#f-login", login)
    await page.fill("#f-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    return page, messages


@pytest.mark.parametrize(
    "role, paths",
    [
        (
            Role.SUPERVISOR,
            [
                "/staff/",
                "/staff/board",
                "/staff/calls",
                "/staff/callbacks",
                "/staff/archive",
                "/staff/tickets/{number}",
                "/staff/tickets/new",
            ],
        ),
        (Role.OPERATOR, ["/staff/callbacks/mine", "/staff/tickets/{number}/edit"]),
        (Role.EXECUTOR, ["/staff/queue"]),
        (
            Role.ADMIN,
            ["/staff/admin/users", "/staff/admin/users/new", "/staff/admin/departments", "/staff/admin/audit"],
        ),
        (Role.ANALYST, ["/staff/account"]),
    ],
)
async def test_staff_pages_work_without_violations(
    browser: Browser, live_server: LiveServer, role: Role, paths: list[str]
) -> None:
    await make_user(live_server.services, "user", role)
    ticket = await new_ticket(live_server.services)
    page, messages = await sign_in(browser, live_server, "user")
    for path in paths:
        await open_page(page, live_server.url + path.format(number=ticket.number))
        if path.startswith(("/staff/board", "/staff/calls", "/staff/queue")) or path == "/staff/":
            # live.js ran and its WebSocket (connect-src 'self') is up
            await page.wait_for_selector("body[data-live=connected]", timeout=WAIT)
    assert violations(messages) == []
