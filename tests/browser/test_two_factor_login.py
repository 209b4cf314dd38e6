"""A supervisor enrols in two-factor sign-in and signs in with a code, in Chromium at 1366x768."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from playwright.async_api import Browser, expect

from callcenter.domain.tickets import Role
from tests.browser.conftest import browser  # noqa: F401 - the fixture
from tests.browser.journey_support import (
    PASSWORD,
    STAFF_SIZES,
    assert_fully_visible,
    assert_no_sideways_scrolling,
    sign_in,
)
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user

pytestmark = pytest.mark.browser


async def test_a_supervisor_enrols_and_signs_in_with_a_code_at_1366x768(
    browser: Browser, live_server: LiveServer
) -> None:
    await make_user(live_server.services, "boss", Role.SUPERVISOR)
    size = STAFF_SIZES["1366x768"]
    boss = await sign_in(browser, live_server.url, "boss", size)
    page = boss.page
    await page.click("a.whoami")  # «Мой профиль» from the header
    await expect(page.locator("h1")).to_have_text("Мой профиль")
    await page.click("#totp button:has-text('Подключить')")
    secret = (await page.locator("code.totp-secret").inner_text()).replace(" ", "")
    qr = page.locator("#totp svg.totp-qr")
    await assert_fully_visible(qr, "the enrolment QR code")  # inline SVG: the CSP lets it draw
    box = await qr.bounding_box()
    assert box and box["width"] >= 100 and box["height"] >= 100, box  # big enough for a phone camera
    await assert_fully_visible(page.locator("#f-code"), "the enrolment code field")
    await page.fill("#f-code", pyotp.TOTP(secret).now())
    await page.click("#totp button:has-text('Подтвердить')")
    await expect(page.locator(".alert-ok")).to_contain_text("Двухфакторный вход подключён")
    await boss.shot("2fa-enrolled")
    await page.click("form.logout button")
    await page.wait_for_url("**/login")

    await page.fill("#f-login", "boss")
    await page.fill("#f-password", PASSWORD)
    await page.click("button[type=submit]")
    code_field = page.locator("#f-code")
    await assert_fully_visible(code_field, "the sign-in code field")
    await assert_no_sideways_scrolling(page, "the code step")
    await boss.shot("2fa-code-step")
    await page.fill("#f-code", "123456" if pyotp.TOTP(secret).now() != "123456" else "654321")
    await page.click("button:has-text('Подтвердить')")
    await expect(page.locator("#code-error")).to_contain_text("Неверный или уже использованный код")
    # The enrolment spent this 30 s step's code: the next one (one step of drift is accepted).
    await page.fill("#f-code", pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30)))
    await page.click("button:has-text('Подтвердить')")
    await page.wait_for_url("**/staff/board")
    await expect(page.locator("a.whoami")).to_be_visible()
    boss.check_clean()
