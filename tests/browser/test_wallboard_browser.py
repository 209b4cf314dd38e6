"""Headless Chromium at 1366x768 and 1920x1080: the wallboard follows a queued call live and
stays readable without scrolling sideways; an operator pauses from the browser with a reason
and the wallboard shows it (the app's AMI link on the fake Asterisk replaying the recorded call)."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, expect

from callcenter.domain.tickets import Role
from tests.browser.journey_support import (
    STAFF_SIZES,
    assert_fully_visible,
    assert_no_sideways_scrolling,
    sign_in,
)
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    OP1,
    connected,
    fake,
    index_of,
    queue_events,
    settings,
    stamp,
    varset_after,
)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", list(STAFF_SIZES))
async def test_wallboard_follows_a_call_and_an_operators_pause_with_its_reason(
    browser: Browser, live_server: LiveServer, fake: FakeAmi, size: str
) -> None:
    await connected(live_server, fake)
    await make_user(live_server.services, "boss", Role.SUPERVISOR)
    await make_user(live_server.services, "op1", Role.OPERATOR, device=OP1)
    boss = await sign_in(browser, live_server.url, "boss", STAFF_SIZES[size])
    op1 = await sign_in(browser, live_server.url, "op1", STAFF_SIZES[size])
    wall = boss.page
    await boss.goto("/staff/wallboard")
    await expect(wall.locator("body[data-live]")).to_have_count(1)  # subscribed to /ws
    row = wall.locator(f'#wb-operators tr[data-interface="{OP1}"]')
    await expect(row).to_have_attribute("data-status", "free")

    events = stamp(varset_after(queue_events(), "IVR_PATH", "0>operator"), time.time() - 25, step=0.001)
    head = events[: index_of(events, "AgentCalled") + 1]
    await fake.send_frames(head)
    await expect(wall.locator("#wb-waiting")).to_have_text("1")
    await expect(row).to_have_attribute("data-status", "ringing")
    await expect(wall.locator("#wb-longest")).not_to_have_text("—")
    await expect(wall.locator('#wb-queues tr[data-queue="hotline"]')).to_be_visible()
    await boss.shot("wallboard-queued")
    for tile in ("waiting", "longest", "sl-today", "sl-hour", "abandoned", "asa", "aht", "answered"):
        await assert_fully_visible(wall.locator(f'[data-tile="{tile}"]'), f"wallboard tile {tile} at {size}")
    await assert_no_sideways_scrolling(wall, f"wallboard at {size}")
    font = await wall.locator("#wb-waiting").evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
    assert font >= 40, f"the waiting count is {font}px: not readable across the room"

    await fake.send_frames(events[len(head) :])
    await expect(wall.locator("#wb-waiting")).to_have_text("0")
    await expect(wall.locator("#wb-answered")).to_have_text("1", timeout=30_000)
    await expect(wall.locator("#wb-sl-today")).to_have_text("100 %")
    # today's chart: one bar per hour since midnight, the answered call drawn in its hour
    bar = wall.locator('#wb-chart g[data-answered="1"]')
    await expect(bar).to_have_count(1)
    await expect(bar.locator("rect.wb-bar-in-time")).to_have_count(1)
    await assert_fully_visible(wall.locator("#wb-chart"), f"wallboard chart at {size}")
    box = await wall.locator("#wb-chart").bounding_box()
    assert box is not None and box["y"] + box["height"] <= STAFF_SIZES[size][1], f"chart below the screen at {size}"
    await boss.shot("wallboard-answered")

    await op1.goto("/staff/pause")
    await expect(op1.page.locator("#pause-state")).to_contain_text("Вы принимаете звонки")
    await op1.page.click('button[data-reason="Обед"]')
    await expect(op1.page.locator("#pause-state")).to_contain_text("Вы на паузе")
    await expect(op1.page.locator("#pause-reason")).to_have_text("Обед")
    await expect(row).to_have_attribute("data-status", "paused")
    await expect(row.locator(".wb-reason")).to_contain_text("Обед")
    await boss.shot("wallboard-paused")
    await op1.shot("pause-paused")
    await assert_no_sideways_scrolling(op1.page, f"pause page at {size}")

    await op1.page.click("#pause-resume")
    await expect(op1.page.locator("#pause-state")).to_contain_text("Вы принимаете звонки")
    await expect(row).not_to_have_attribute("data-status", "paused")
    # the supervisor's statistics of the same call: both charts and the table fit the screen
    await boss.goto("/staff/wallboard/stats?by=operator")
    await expect(wall.locator("#stats-table tbody tr")).to_have_count(1)
    await expect(wall.locator("#stats-table tbody tr td").first).to_have_text("Operator One")
    for chart in ("#stats-level svg", "#stats-volume svg"):
        await assert_fully_visible(wall.locator(chart), f"statistics chart {chart} at {size}")
    await assert_no_sideways_scrolling(wall, f"statistics page at {size}")
    await boss.shot("wallboard-stats")

    [pause, resume] = [a for a in fake.actions if a.get("Action") == "QueuePause"]
    assert (pause["Paused"], pause["Reason"], resume["Paused"]) == ("true", "Обед", "false")
    boss.check_clean()
    op1.check_clean()
