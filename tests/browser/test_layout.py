"""Each role's main pages at 1366×768 and 1920×1080 (the portal also on a 390×844 phone), filled with a
working day's data: nothing scrolls sideways, neither the document nor a box inside it.

Screenshots go to /tmp/journey-shots/layout-*.png for a human look.
"""

from __future__ import annotations

import dataclasses

import pytest
from playwright.async_api import Browser

from callcenter.config import Settings
from tests.browser.journey_support import (
    PHONE_SIZE,
    STAFF_SIZES,
    assert_no_sideways_scrolling,
    build_world,
    open_person,
    sign_in,
)
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, callback_mode="operator", callback_hours="00:00-24:00", callback_delay_seconds=0
    )


def pages_of(role: str, t: dict[str, str], user_id: int) -> list[str]:
    return {
        "op": [
            "/staff/",
            f"/staff/tickets/{t['new']}",
            f"/staff/tickets/{t['draft']}",
            f"/staff/tickets/{t['done']}/edit",
            "/staff/tickets/new",
            "/staff/callbacks/mine",
            "/staff/archive",
        ],
        "ex": ["/staff/queue", f"/staff/tickets/{t['in_progress']}", "/staff/queue?status="],
        "sv": [
            "/staff/",
            "/staff/board",
            "/staff/callbacks",
            "/staff/calls",
            "/staff/queue?department=vodokanal",
            f"/staff/tickets/{t['unreachable']}",
        ],
        "an": ["/staff/board", "/staff/callbacks"],
        "ad": [
            "/staff/admin/users",
            "/staff/admin/departments",
            "/staff/admin/users/new",
            f"/staff/admin/users/{user_id}",
        ],
    }[role]


@pytest.mark.parametrize("size", list(STAFF_SIZES))
async def test_staff_pages_fit_the_screen(browser: Browser, live_server: LiveServer, size: str) -> None:
    world = await build_world(live_server.services)
    operator_id = world.users["operator"].id
    for login in ("op", "ex", "sv", "an", "ad"):
        person = await sign_in(browser, live_server.url, login, STAFF_SIZES[size])
        for path in pages_of(login, world.tickets, operator_id):
            response = await person.page.goto(live_server.url + path)
            assert response is not None and response.status == 200, (login, path)
            await person.page.wait_for_load_state("networkidle")
            await person.shot("layout" + path.replace("/", "_").replace("?", "_").replace("=", "-"), full_page=True)
            await assert_no_sideways_scrolling(person.page, f"{login} {path}")
        person.check_clean()
        await person.context.close()


@pytest.mark.parametrize("size", ["phone", *STAFF_SIZES])
async def test_public_pages_fit_the_screen(browser: Browser, live_server: LiveServer, size: str) -> None:
    world = await build_world(live_server.services)
    screen = PHONE_SIZE if size == "phone" else STAFF_SIZES[size]
    visitor = await open_person(browser, live_server.url, "visitor", screen)
    for path in ("/", "/track", "/login"):
        await visitor.goto(path)
        await visitor.page.wait_for_load_state("networkidle")
        await visitor.shot("layout" + path.replace("/", "_"), full_page=True)
        await assert_no_sideways_scrolling(visitor.page, path)
    await visitor.goto("/track")
    await visitor.page.fill("#number", world.tickets["closed"])
    await visitor.page.fill("#digits", "0007")
    await visitor.page.click(".track-form button[type=submit]")
    await visitor.page.wait_for_selector("#ticket-status")
    await visitor.shot("layout_track-closed", full_page=True)
    await assert_no_sideways_scrolling(visitor.page, "/track with a ticket")
    visitor.check_clean()
    await visitor.context.close()
