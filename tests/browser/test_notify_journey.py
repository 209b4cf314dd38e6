"""The issue's "done when", in Chromium at 1366x768 against a real SMTP server (aiosmtpd):
a portal request with an e-mail, moved to done, delivers an e-mail whose link closes the
ticket and cancels its callback; the tracking page shows the same texts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, expect
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.domain.tickets import Actor, Role, Status
from callcenter.notifications.api import NOTIFICATIONS
from callcenter.store import models as m
from callcenter.tickets.schemas import DonePhoto
from tests.browser.journey_support import (
    PHONE_SIZE,
    STAFF_SIZES,
    assert_fully_visible,
    assert_no_sideways_scrolling,
    open_person,
)
from tests.conftest import LiveServer
from tests.notify_support import MailServer, mail_settings, new_ticket, to_done

EXECUTOR = Actor(role=Role.OPERATOR, name="Диспетчер Иванова")
ANSWER_LINK = re.compile(r"http://127\.0\.0\.1:\d+(/n/answer/[A-Za-z0-9_\-.]+)")
UNSUBSCRIBE_LINK = re.compile(r"http://127\.0\.0\.1:\d+(/n/unsubscribe/[A-Za-z0-9_\-.]+)")


@pytest.fixture
def settings(settings: Settings, mail_server: MailServer) -> Settings:
    return mail_settings(settings, mail_server, notify_tick_seconds=0.2)


async def test_email_link_closes_the_ticket_and_cancels_the_callback(
    browser: Browser, live_server: LiveServer, mail_server: MailServer
) -> None:
    citizen = await open_person(browser, live_server.url, "citizen", STAFF_SIZES["1366x768"])
    page = citizen.page
    await citizen.goto("/")
    await page.select_option("#category", "road_pothole")
    await page.fill("#address", "ул. Ленина, д. 5")
    await page.fill("#description", "Глубокая яма на проезжей части у остановки")
    await page.fill("#phone", "8 978 123-45-67")
    await page.fill("#email", "citizen@example.ru")
    await page.check("#notify")
    await page.check("#consent")
    await page.click("#submit-button")
    await page.wait_for_url("**/submitted/*")
    number = await page.get_attribute("#ticket-number", "data-number")
    assert number

    await mail_server.handler.wait_for(1)  # «зарегистрирована» with the tracking link
    assert f"/track?number={number}" in mail_server.handler.bodies()[0]

    tickets = live_server.services.tickets
    await tickets.move(number, Status.DISPATCHED, EXECUTOR)
    await tickets.move(number, Status.IN_PROGRESS, EXECUTOR)
    # road_pothole needs a photo of the result for «Выполнено» (categories.toml).
    photo_path = live_server.services.settings.data_dir / "photos" / "2026" / "01" / ("a" * 32 + ".jpg")
    photo_path.parent.mkdir(parents=True, exist_ok=True)
    photo_path.write_bytes(b"\xff\xd8\xff\xd9")
    photo = DonePhoto(path="photos/2026/01/" + "a" * 32 + ".jpg", size=4, sha256="0" * 64)
    await tickets.move(number, Status.DONE, EXECUTOR, note="Яма заделана", photo=photo)
    await mail_server.handler.wait_for(3)
    done_mail = [r for r in mail_server.handler.received if "выполнено" in str(r.message["Subject"])]
    assert len(done_mail) == 1 and done_mail[0].recipients == ["citizen@example.ru"]
    body = done_mail[0].message.get_payload(decode=True).decode()
    assert "Иванова" not in body
    link = ANSWER_LINK.search(body)
    assert link, body
    async with live_server.services.sessions() as session:
        assert (await session.execute(select(m.Callback.state))).scalars().all() == ["planned"]

    await citizen.goto(link.group(1))
    await expect(page.locator("h1")).to_contain_text(f"Заявка № {number}: выполнено")
    await page.check("#fixed-yes")
    await page.fill("#comment", "Спасибо, яму заделали")
    await citizen.shot("notify-answer")
    await page.click("#answer-submit")
    await expect(page.locator("#answered-text")).to_contain_text("закрыта")
    await citizen.shot("notify-answered")

    assert (await tickets.detail(number)).ticket.status is Status.CLOSED
    async with live_server.services.sessions() as session:
        assert (await session.execute(select(m.Callback.state))).scalars().all() == ["cancelled"]
    await mail_server.handler.wait_for(4)  # «закрыта»
    assert sum("закрыта" in str(r.message["Subject"]) for r in mail_server.handler.received) == 1

    # The tracking page's history carries the same texts.
    await citizen.goto(f"/track?number={number}")
    await page.fill("#digits", "4567")
    await page.click(".track-form button[type=submit]")
    await expect(page.locator("#ticket-status")).to_have_text("Закрыта")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text(f"Заявка № {number} принята в работу.")
    await expect(timeline).to_contain_text(f"Заявка № {number} закрыта. Спасибо!")
    await citizen.shot("notify-track", full_page=True)
    citizen.check_clean()


async def test_phone_answer_not_fixed_with_comment_and_photo(
    browser: Browser, live_server: LiveServer, mail_server: MailServer, tmp_path: Path
) -> None:
    """The answer page on a 390x844 phone: opened from the delivered e-mail, nothing scrolls
    sideways, «Нет» with a comment and a photo chosen in Chromium reopens the ticket; the same
    link opened again says no answer is needed any more."""
    tickets = live_server.services.tickets
    view = await new_ticket(tickets, "phone-user@example.ru")
    await to_done(tickets, view.number)
    await mail_server.handler.wait_for(3)  # зарегистрирована, принята в работу, выполнено
    (body,) = [b for b in mail_server.handler.bodies() if "/n/answer/" in b]
    link = ANSWER_LINK.search(body)
    assert link, body

    citizen = await open_person(browser, live_server.url, "citizen", PHONE_SIZE)
    page = citizen.page
    await citizen.goto(link.group(1))
    await expect(page.locator("h1")).to_contain_text(f"Заявка № {view.number}: выполнено")
    await assert_no_sideways_scrolling(page, "answer page (phone)")
    for control in ("#fixed-yes", "#fixed-no", "#comment", "#photo", "#answer-submit"):
        await assert_fully_visible(page.locator(control), f"answer page {control}")
    await page.check("#fixed-no")
    await page.fill("#comment", "Вода снова течёт из-под люка")
    picture = tmp_path / "leak.jpg"
    Image.new("RGB", (640, 480), (30, 60, 200)).save(picture, "JPEG")
    await page.set_input_files("#photo", str(picture))
    await citizen.shot("notify-answer-not-fixed")
    await page.click("#answer-submit")
    await expect(page.locator("#answered-text")).to_contain_text("возвращена исполнителю")
    await assert_no_sideways_scrolling(page, "answered page (phone)")
    await citizen.shot("notify-answered-not-fixed")

    detail = await tickets.detail(view.number)
    assert detail.ticket.status is Status.IN_PROGRESS
    assert any("Вода снова течёт из-под люка" in (e.note or "") for e in detail.events if e.kind == "status")
    (photo,) = [a for a in detail.attachments if a.kind == "photo"]
    assert (live_server.services.settings.data_dir / photo.path).exists()

    await citizen.goto(link.group(1))  # the link again: the ticket is no longer done
    await expect(page.locator("#answer-status")).to_contain_text("уже не требуется")
    assert await page.locator("#answer-form").count() == 0

    # The unsubscribe link of the same e-mail, on the phone: after it, «выполнено» again sends nothing.
    unsubscribe = UNSUBSCRIBE_LINK.search(body)
    assert unsubscribe, body
    await citizen.goto(unsubscribe.group(1))
    await assert_no_sideways_scrolling(page, "unsubscribe page (phone)")
    await assert_fully_visible(page.locator("#unsubscribe-submit"), "unsubscribe button")
    await page.click("#unsubscribe-submit")
    await expect(page.locator("#unsubscribe-done")).to_contain_text("больше не будут приходить")
    before = len(await live_server.app[NOTIFICATIONS].outbox.for_ticket(view.number))
    await tickets.move(view.number, Status.DONE, EXECUTOR, note="Люк заменён")
    assert len(await live_server.app[NOTIFICATIONS].outbox.for_ticket(view.number)) == before
    citizen.check_clean()
