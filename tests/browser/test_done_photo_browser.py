"""Headless Chromium at 1366x768 and 1920x1080: an executor marks a pothole done with a photo.

``road_pothole`` needs a note and a photo for «Выполнено» (issue 16, no empty answers). From the
queue the executor follows «Выполнено (с фото)…» to the ticket page, is refused without a photo
(the note stays typed), attaches one and is accepted; the photo is then on the timeline. The
«Выполнено» button is in sight without scrolling sideways, and every POST carries its CSRF token
(the form is multipart: journey_support reads the token from the body).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, expect

from callcenter.domain.tickets import Role, Status
from tests.browser.journey_support import (
    STAFF_SIZES,
    assert_fully_visible,
    assert_no_sideways_scrolling,
    sign_in,
)
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, make_user, new_ticket

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

NOTE = "Выбоину заделали литым асфальтом"


def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "яма-после.jpg"
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (70, 70, 70)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


@pytest.mark.parametrize("size", list(STAFF_SIZES))
async def test_the_executor_marks_a_pothole_done_by_attaching_a_photo(
    browser: Browser, live_server: LiveServer, size: str, tmp_path: Path
) -> None:
    services = live_server.services
    await make_user(services, "dorogi", Role.EXECUTOR, department="road_service")
    ticket = await new_ticket(services, category="road_pothole", title="Яма", address="ул. Ленина, д. 5")
    number = ticket.number
    await services.tickets.move(number, Status.DISPATCHED, OPERATOR_ACTOR, department="road_service")
    await services.tickets.move(number, Status.IN_PROGRESS, OPERATOR_ACTOR)

    executor = await sign_in(browser, live_server.url, "dorogi", STAFF_SIZES[size])
    page = executor.page
    await executor.goto("/staff/queue")
    row = page.locator(f"#t-{number}")
    to_form = row.get_by_role("link", name="Выполнено (с фото)…")
    await assert_no_sideways_scrolling(page, "executor's queue")
    await assert_fully_visible(to_form, "«Выполнено (с фото)…» in the queue")
    await to_form.click()
    await page.wait_for_url(f"**/staff/tickets/{number}#action-done")

    form = page.locator("#action-done form")
    done = form.get_by_role("button", name="Выполнено")
    await assert_no_sideways_scrolling(page, "ticket page, in progress")
    await assert_fully_visible(done, "«Выполнено»")
    await assert_fully_visible(form.locator("#f-photo-done"), "the photo field")
    await expect(form).to_contain_text("без фото заявку нельзя отметить выполненной")

    # Without a photo: refused in Russian, the note kept, nothing changed.
    await form.locator("#f-note-done").fill(NOTE)
    await done.click()
    await page.wait_for_load_state()
    await expect(page.locator("#photo-error")).to_contain_text("нельзя отметить выполненной без фото")
    await expect(page.locator("#f-note-done")).to_have_value(NOTE)
    assert (await services.tickets.get(number)).status is Status.IN_PROGRESS
    await executor.shot("done-photo-refused")

    # With the photo: accepted, shown on the timeline.
    form = page.locator("#action-done form")
    await form.locator("#f-photo-done").set_input_files(str(photo_file(tmp_path)))
    await assert_fully_visible(form.get_by_role("button", name="Выполнено"), "«Выполнено» after the refusal")
    await form.get_by_role("button", name="Выполнено").click()
    await page.wait_for_url(f"**/staff/tickets/{number}?done=moved")
    await expect(page.locator(".alert-ok")).to_contain_text("Статус изменён")
    image = page.locator("#timeline .event-photo img")
    await expect(image).to_have_count(1)
    await image.scroll_into_view_if_needed()
    await expect(image).to_have_js_property("complete", True)
    assert await image.evaluate("img => img.naturalWidth") > 0
    await expect(page.locator("#timeline")).to_contain_text(NOTE)
    await assert_no_sideways_scrolling(page, "ticket page, done")
    await executor.shot("done-photo-accepted", full_page=True)

    detail = await services.tickets.detail(number)
    assert detail.ticket.status is Status.DONE
    assert [a.public for a in detail.attachments if a.kind == "photo"] == [True]
    assert executor.posted == ["/login", f"/staff/tickets/{number}/done", f"/staff/tickets/{number}/done"]
    executor.check_clean()
    await executor.context.close()
