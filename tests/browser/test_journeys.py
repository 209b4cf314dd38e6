"""The whole loop by clicks, as its people run it, in headless Chromium against the real server.

A citizen files on the portal with a photo and a map point; the operator signs in, finds the
request on the board and dispatches it; the executor accepts it and marks it done; the operator
works «Обзвон» with every button (the citizen is not satisfied the first time, so the ticket goes
back to work and is done again); the supervisor sees it counted; the citizen tracks it to closed.
Staff screens at 1366×768 and 1920×1080; the citizen at the same size, or on a 390×844 phone.

Callbacks are worked by operators (``callback_mode = "operator"``), at any hour, as soon as the
ticket is done; no Asterisk is configured here, so «Позвонить» must say so and show the number.
Screenshots go to /tmp/journey-shots.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.domain.tickets import Channel, Role, Status
from callcenter.store import models as m
from tests.browser.journey_support import (
    LONG_ADDRESS,
    LONG_TEXT,
    PHONE_SIZE,
    STAFF_SIZES,
    Person,
    assert_fully_visible,
    assert_no_sideways_scrolling,
    open_person,
    sign_in,
)
from tests.browser.test_portal_browser import write_jpeg
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, make_user, new_ticket

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CITIZEN_PHONE = "+7 978 555-12-34"
WORDS = "Вода во дворе снова течёт, подвал опять затопило"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Callbacks worked by operators, at any hour, as soon as the ticket is done."""
    return dataclasses.replace(
        settings, callback_mode="operator", callback_hours="00:00-24:00", callback_delay_seconds=0
    )


JOURNEYS = {
    "1366x768": (STAFF_SIZES["1366x768"], STAFF_SIZES["1366x768"]),
    "1920x1080": (STAFF_SIZES["1920x1080"], STAFF_SIZES["1920x1080"]),
    "phone-citizen": (STAFF_SIZES["1366x768"], PHONE_SIZE),
}


@pytest.mark.parametrize("journey", list(JOURNEYS))
async def test_the_whole_loop_by_clicks(
    browser: Browser, live_server: LiveServer, tmp_path: Path, journey: str
) -> None:
    staff_size, citizen_size = JOURNEYS[journey]
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    await make_user(services, "olga", Role.SUPERVISOR)
    base = live_server.url

    citizen = await open_person(browser, base, "citizen", citizen_size)
    number = await citizen_files(citizen, tmp_path)

    operator = await sign_in(browser, base, "anna", staff_size)
    await operator_dispatches(operator, number)

    await other_work_of_the_day(services)
    executor = await sign_in(browser, base, "vera", staff_size)
    await executor_accepts_and_finishes(executor, number, "Заменили участок трубы 2 м, подвал осушили")
    assert (await services.tickets.get(number)).status is Status.DONE

    # Two more done tickets of other citizens wait on the operator's list: busy and no answer.
    busy = await done_ticket(services, "+7 978 000-22-33")
    silent = await done_ticket(services, "+7 978 000-44-55")
    await operator_works_callbacks(operator, number, busy, silent, live_server)

    detail = await services.tickets.detail(number)
    assert detail.ticket.status is Status.IN_PROGRESS  # «Не удовлетворён» sent it back
    assert WORDS in (detail.events[-1].note or "")
    await executor_accepts_and_finishes(executor, number, "Переложили трубу заново", reopened=True)

    await operator_confirms(operator, number)
    assert (await services.tickets.get(number)).status is Status.CLOSED

    supervisor = await sign_in(browser, base, "olga", staff_size)
    await supervisor_sees_it_counted(supervisor)

    await citizen_tracks_to_closed(citizen, number)
    for person in (citizen, operator, executor, supervisor):
        person.check_clean()
    # The guard saw every form the staff sent (each with its token: check_clean above).
    assert [re.sub(r"\d+", "N", p) for p in operator.posted] == [
        "/login",
        "/staff/tickets/N/move",
        "/staff/callbacks/N/call",
    ] + ["/staff/callbacks/N/outcome"] * 4
    assert [re.sub(r"\d+", "N", p) for p in executor.posted] == ["/login"] + ["/staff/tickets/N/move"] * 3
    for person in (citizen, operator, executor, supervisor):
        await person.context.close()


# ---------------------------------------------------------------------- the citizen


async def citizen_files(citizen: Person, tmp_path: Path) -> str:
    page = citizen.page
    await citizen.goto("/")
    await page.wait_for_function("Number(document.getElementById('problem-map').dataset.loads || 0) >= 1")
    await assert_no_sideways_scrolling(page, "portal")
    await page.select_option("#category", "water_leak")
    await page.fill("#address", "ул. Ленина, д. 5")
    await page.fill("#description", "Во дворе из-под асфальта бьёт вода, затопило подвал дома")
    await page.fill("#name", "Алексей")
    await page.fill("#phone", CITIZEN_PHONE)
    await page.set_input_files("#photos", str(write_jpeg(tmp_path / "двор.jpg")))
    await expect(page.locator("#photo-list li img")).to_have_count(1)
    map_box = page.locator("#problem-map")
    await map_box.scroll_into_view_if_needed()
    box = await map_box.bounding_box()
    assert box is not None
    if page.viewport_size and page.viewport_size["width"] < 900:
        # On a phone the map comes before the form: mark the place, then fill in and send,
        # never scrolling past «Отправить» to reach the map.
        form_box = await page.locator("#request-form").bounding_box()
        assert form_box is not None and box["y"] + box["height"] <= form_box["y"], (box, form_box)
    await page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    await expect(page.locator("#pick-status")).to_contain_text("Место отмечено на карте")
    await page.check("#consent")
    await assert_no_sideways_scrolling(page, "portal, filled in")
    await citizen.shot("portal-filled", full_page=True)
    await page.click("#submit-button")
    await page.wait_for_url("**/submitted/*")
    number = await page.get_attribute("#ticket-number", "data-number")
    assert number and number.isdigit()
    await assert_no_sideways_scrolling(page, "portal, submitted")
    await citizen.shot("portal-submitted")
    return number


async def citizen_tracks_to_closed(citizen: Person, number: str) -> None:
    page = citizen.page
    await citizen.goto("/track")
    await page.fill("#number", number)
    await page.fill("#digits", "1234")
    await page.click(".track-form button[type=submit]")
    await expect(page.locator("#ticket-status")).to_have_text("Закрыта")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("Выполнено")
    photo = page.locator(".public-photos img")
    await expect(photo).to_have_count(1)
    # Wait for the image itself (the staff page's photo is loading="lazy": below the fold at
    # 1366x768 it loads only once scrolled to), then check it decoded.
    await photo.scroll_into_view_if_needed()
    await expect(photo).to_have_js_property("complete", True)
    assert await photo.evaluate("img => img.naturalWidth > 0")
    await assert_no_sideways_scrolling(page, "tracking")
    await citizen.shot("track-closed", full_page=True)


# ---------------------------------------------------------------------- the operator


async def operator_dispatches(operator: Person, number: str) -> None:
    page = operator.page
    assert page.url.endswith("/staff/")
    await page.fill("#f-q", number)
    await page.get_by_role("button", name="Показать").click()
    row = page.locator(f"#t-{number}")
    await expect(row).to_contain_text("Новая")
    await expect(row).to_contain_text("Портал")
    await assert_no_sideways_scrolling(page, "operators' board")
    await assert_fully_visible(row.locator(".timer"), "the board's timer")
    await operator.shot("board")
    await row.get_by_role("link", name=number).click()
    await page.wait_for_url(f"**/staff/tickets/{number}")
    photo = page.locator(".photos img")
    await expect(photo).to_have_count(1)
    # Wait for the image itself (the staff page's photo is loading="lazy": below the fold at
    # 1366x768 it loads only once scrolled to), then check it decoded.
    await photo.scroll_into_view_if_needed()
    await expect(photo).to_have_js_property("complete", True)
    assert await photo.evaluate("img => img.naturalWidth > 0")
    await expect(page.locator("#ticket-page")).to_contain_text("Новая")
    action = page.locator("#action-dispatched")
    await action.locator("select[name=department]").select_option("vodokanal")
    await assert_no_sideways_scrolling(page, "ticket page")
    await operator.shot("ticket-new", full_page=True)
    await action.get_by_role("button", name="Направить исполнителю").click()
    await expect(page.locator(".alert-ok")).to_contain_text("Статус изменён")
    await expect(page.locator(".head-badges")).to_contain_text("Направлена исполнителю")


def callback_item(operator: Person, number: str):
    return operator.page.locator("section.callback-item").filter(
        has=operator.page.locator(f'a[href="/staff/tickets/{number}"]')
    )


async def open_callbacks(operator: Person) -> None:
    await operator.page.get_by_role("link", name="Обзвон").click()
    await operator.page.wait_for_url("**/staff/callbacks/mine*")


async def operator_works_callbacks(
    operator: Person, number: str, busy: str, silent: str, live_server: LiveServer
) -> None:
    page = operator.page
    await open_callbacks(operator)
    for n in (number, busy, silent):
        await expect(callback_item(operator, n)).to_have_count(1)
    await assert_no_sideways_scrolling(page, "«Обзвон»")
    await operator.shot("callbacks", full_page=True)

    # «Позвонить»: no Asterisk here, so the page says so and shows whom to dial by hand.
    item = callback_item(operator, number)
    await item.get_by_role("button", name="Позвонить").click()
    notice = callback_item(operator, number).locator(".alert-warn")
    await expect(notice).to_contain_text("Телефония отключена: звонки из программы не настроены")
    await expect(notice).to_contain_text("Позвоните заявителю вручную: +7 978 555-12-34")
    await expect(notice).to_be_in_viewport()  # the page scrolls to this call, not to the top
    await expect(callback_item(operator, number)).to_contain_text("взят вами")
    await operator.shot("callbacks-manual-call")

    # «Занято» and «Нет ответа»: the call is tried again later, and leaves the list till then.
    for n, label, word in ((busy, "Занято", "занято"), (silent, "Нет ответа", "нет ответа")):
        before = datetime.now(UTC)
        await callback_item(operator, n).get_by_role("button", name=label, exact=True).click()
        await expect(page.locator(".alert-ok")).to_contain_text("записан")
        await expect(callback_item(operator, n)).to_have_count(0)
        callback = await callback_of(live_server, n)
        assert callback.state == "planned" and callback.attempts == 1
        assert _aware(callback.due_at) >= before + timedelta(minutes=14)  # the first retry: in 15 minutes
        await operator.goto(f"/staff/tickets/{n}")
        section = page.locator("section.card", has=page.get_by_role("heading", name="Обратные звонки"))
        await expect(section).to_contain_text("запланирован")
        await expect(section).to_contain_text(word)
        await open_callbacks(operator)

    # «Не удовлетворён»: the citizen's words go with the ticket back to work.
    item = callback_item(operator, number)
    await item.locator("textarea[name=comment]").fill(WORDS)
    await item.get_by_role("button", name=re.compile("Не удовлетворён")).click()
    await expect(page.locator(".alert-ok")).to_contain_text("записан")
    await expect(callback_item(operator, number)).to_have_count(0)
    await operator.goto(f"/staff/tickets/{number}")
    await expect(page.locator(".head-badges")).to_contain_text("Заявка принята в работу")
    await expect(page.locator("#timeline")).to_contain_text(WORDS)


async def operator_confirms(operator: Person, number: str) -> None:
    page = operator.page
    await open_callbacks(operator)
    item = callback_item(operator, number)
    await expect(item).to_have_count(1)
    await item.get_by_role("button", name="Доволен выполнением").click()
    await expect(page.locator(".alert-ok")).to_contain_text("записан")
    await expect(callback_item(operator, number)).to_have_count(0)
    await operator.goto(f"/staff/tickets/{number}")
    await expect(page.locator(".head-badges")).to_contain_text("Закрыта")


# ---------------------------------------------------------------------- the executor


async def executor_accepts_and_finishes(executor: Person, number: str, note: str, *, reopened: bool = False) -> None:
    page = executor.page
    await executor.goto("/staff/queue")
    row = page.locator(f"#t-{number}")
    if not reopened:
        accept = row.get_by_role("button", name="Принять в работу")
        await assert_no_sideways_scrolling(page, "executor's queue")
        await assert_fully_visible(accept, "«Принять в работу»")
        await executor.shot("queue-dispatched")
        await accept.click()
        await page.wait_for_url("**/staff/queue*")
        await expect(page.locator(".alert-ok")).to_contain_text(f"Заявка № {number} принята в работу")
    await expect(row).to_contain_text("Заявка принята в работу")
    done = row.get_by_role("button", name="Выполнено")
    await assert_no_sideways_scrolling(page, "executor's queue")
    await assert_fully_visible(done, "«Выполнено»")
    await assert_fully_visible(row.get_by_role("textbox"), "the «Что сделано» field")
    await row.get_by_role("textbox").fill(note)
    await executor.shot("queue-in-progress")
    await done.click()
    await page.wait_for_url("**/staff/queue*")
    await expect(page.locator(".alert-ok")).to_contain_text(f"Заявка № {number} отмечена выполненной")
    await expect(row).to_have_count(0)  # done: it no longer waits on the executor


# ---------------------------------------------------------------------- the supervisor


async def supervisor_sees_it_counted(supervisor: Person) -> None:
    page = supervisor.page
    await page.get_by_role("link", name="Сводка смены").click()
    await page.wait_for_url("**/staff/board*")
    closed = page.locator("#counts tr.status-closed")
    await expect(closed).to_contain_text("1")
    headers = [h.strip() for h in await page.locator("#counts thead th").all_inner_texts()]
    cells = [c.strip() for c in await closed.locator("td").all_inner_texts()]
    assert cells[headers.index("Портал")] == "1" and cells[-1] == "1", (headers, cells)
    done = [c.strip() for c in await page.locator("#counts tr.status-done td").all_inner_texts()]
    assert done[headers.index("Портал")] == "2", (headers, done)  # the busy and the silent ones
    await assert_no_sideways_scrolling(page, "supervisors' board")
    await supervisor.shot("board", full_page=True)

    await page.get_by_role("link", name="Обратные звонки").click()
    await page.wait_for_url("**/staff/callbacks*")
    await expect(page.locator('[data-count="done_today"]')).to_have_text("2")
    await expect(page.locator("#counts")).to_contain_text("из них подтвердили: 1")
    await expect(page.locator('[data-count="scheduled"]')).to_have_text("2")
    await expect(page.locator("#by-operator")).to_contain_text("Тест anna")
    await assert_no_sideways_scrolling(page, "callback board")
    await supervisor.shot("callbacks", full_page=True)


# ---------------------------------------------------------------------- data made elsewhere


async def other_work_of_the_day(services) -> None:  # type: ignore[no-untyped-def]
    """The executor's queue is not empty: a voice message taken in work, a phoned-in one waiting."""
    voice = await new_ticket(
        services, phone="+7 978 300-00-01", channel=Channel.IVR, address=LONG_ADDRESS, description=LONG_TEXT
    )
    phoned = await new_ticket(
        services,
        phone="+7 978 300-00-02",
        channel=Channel.PHONE,
        address=LONG_ADDRESS,
        description=LONG_TEXT,
        category="sewage",
    )
    for number in (voice.number, phoned.number):
        await services.tickets.move(number, Status.DISPATCHED, OPERATOR_ACTOR, department="vodokanal")
    await services.tickets.move(voice.number, Status.IN_PROGRESS, OPERATOR_ACTOR)


async def done_ticket(services, phone: str) -> str:
    ticket = await new_ticket(services, phone=phone, address="ул. Большая Морская, д. 12")
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR, department="vodokanal")
    await services.tickets.move(ticket.number, Status.IN_PROGRESS, OPERATOR_ACTOR)
    await services.tickets.move(ticket.number, Status.DONE, OPERATOR_ACTOR, note="Устранено")
    return ticket.number


async def callback_of(live_server: LiveServer, number: str) -> m.Callback:
    async with live_server.services.sessions() as session:
        return (
            await session.execute(
                select(m.Callback)
                .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
                .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
                .where(m.Ticket.number == number)
                .order_by(m.Callback.id.desc())
                .limit(1)
            )
        ).scalar_one()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
