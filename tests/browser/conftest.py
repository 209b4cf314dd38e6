"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright's async API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = os.environ.get("CALLCENTER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A fresh browser per test; fails (never skips) when Chromium is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (see .ci/run)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        _bypass_csp_by_default(browser)
        try:
            yield browser
        finally:
            await browser.close()


def _bypass_csp_by_default(browser: Browser) -> None:
    """Playwright's wait_for_function(<string>) polls with eval(), which the app's CSP forbids
    (script-src 'self', no 'unsafe-eval'). Journey tests therefore bypass CSP unless they ask
    otherwise; tests/security/test_csp_browser.py passes bypass_csp=False and checks the policy."""
    new_context, new_page = browser.new_context, browser.new_page

    async def context_bypassing(**kwargs: Any) -> BrowserContext:
        kwargs.setdefault("bypass_csp", True)
        return await new_context(**kwargs)

    async def page_bypassing(**kwargs: Any) -> Page:
        kwargs.setdefault("bypass_csp", True)
        return await new_page(**kwargs)

    browser.new_context = context_bypassing  # type: ignore[method-assign]
    browser.new_page = page_bypassing  # type: ignore[method-assign]
