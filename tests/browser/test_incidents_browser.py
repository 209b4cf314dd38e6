"""Headless Chromium at 1366x768 and 1920x1080: a supervisor draws an outage on the map, sees the
live count of tickets inside, declares it, sees its board, and marks it restored; the portal
shows the banner and offers to join."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.incidents.service import IncidentInput
from callcenter.tickets.schemas import NewTicket
from tests.browser.journey_support import STAFF_SIZES, assert_no_sideways_scrolling, open_person, sign_in
from tests.browser.test_staff_live_flow import live
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.mark.parametrize("size", list(STAFF_SIZES))
async def test_supervisor_draws_declares_and_restores_an_outage(
    browser: Browser, live_server: LiveServer, size: str
) -> None:
    services = live_server.services
    await make_user(services, "sv", Role.SUPERVISOR)
    ticket = await services.tickets.create(
        NewTicket(
            channel=Channel.PHONE, phone="+79780000111", category="no_water", title="Нет воды", address="ул. Ленина, 5"
        ),
        Actor(role=Role.OPERATOR, name="Оператор"),
    )
    person = await sign_in(browser, live_server.url, "sv", STAFF_SIZES[size])
    page = person.page
    await person.goto("/staff/incidents")
    count = page.locator("#inside-count")
    await expect(count).to_contain_text("открытых заявок 0")
    # a circle of 3 km around the map's centre (the city centre) holds ул. Ленина
    await page.click("[data-mode=circle]")
    await page.fill("#circle-radius", "3000")
    await page.locator("#incident-map").click()
    await expect(count).to_contain_text("открытых заявок 1, жителей 1")
    await page.fill("#f-title", "Порыв магистрали")
    await page.fill("#f-public_text", "Нет воды в центре города")
    expected = services.incidents.service.now().astimezone(services.settings.zone) + timedelta(hours=3)
    await page.fill("#f-expected_at", f"{expected:%Y-%m-%dT%H:%M}")
    await assert_no_sideways_scrolling(page, f"/staff/incidents at {size}")
    await person.shot("incident-new")
    await page.click("#incident-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("Авария №")
    await expect(page.locator("main")).to_contain_text("круг на карте (1)")
    # the edit form starts from the incident's own area: its count is the same
    await expect(page.locator("#inside-count")).to_contain_text("открытых заявок 1, жителей 1")
    await assert_no_sideways_scrolling(page, f"the incident board at {size}")
    await person.shot("incident-board", full_page=True)
    [incident] = await services.incidents.service.listing()
    await live(page)
    await page.evaluate("window.__sameDocument = true")
    await services.incidents.service.link(incident.id, ticket.number, "operator")  # an "incident" message
    await expect(page.locator("#fig-linked")).to_have_text("2")
    assert await page.evaluate("window.__sameDocument === true")  # refreshed in place, no reload
    # the operators' board folds the linked tickets under the master; a new link moves its count live
    await person.goto("/staff/")
    await live(page)
    master_row = page.locator(f'tr[data-incident-master="{incident.id}"]')
    await expect(master_row).to_contain_text("привязано: 1")
    second = await services.tickets.create(
        NewTicket(
            channel=Channel.PHONE, phone="+79780000112", category="no_water", title="Нет воды", address="ул. Ленина, 7"
        ),
        Actor(role=Role.OPERATOR, name="Оператор"),
    )
    await services.incidents.service.link(incident.id, second.number, "operator")
    await expect(master_row).to_contain_text("привязано: 2")
    await expect(page.locator(f'tr[data-number="{second.number}"]')).to_have_count(0)  # folded, not listed
    await person.goto(f"/staff/incidents/{incident.id}")
    await page.fill("#f-note", "Магистраль отремонтирована")
    await page.click("#restore-button")
    await expect(page.locator("h1")).to_contain_text("Устранено")
    assert (await services.tickets.get(ticket.number)).status is Status.DONE
    person.check_clean()

    # the portal: a banner, and the offer to join for a report inside
    citizen = await open_person(browser, live_server.url, "citizen", STAFF_SIZES[size])
    other = await services.incidents.service.create(
        IncidentInput(
            category="no_water",
            title="Плановое отключение",
            public_text="Замена задвижки",
            area=incident.area,
            expected_at=expected,
        ),
        Actor(role=Role.SUPERVISOR, name="Руководитель"),
    )
    await citizen.goto("/")
    await expect(citizen.page.locator("#incident-banner")).to_contain_text("Замена задвижки")
    await citizen.page.select_option("#category", "no_water")
    await citizen.page.fill("#address", "ул. Ленина, 5")
    await expect(citizen.page.locator("#incident-offer")).to_contain_text(f"аварии № {other.id}")
    await expect(citizen.page.locator("#join-incident")).to_be_checked()
    await citizen.shot("portal-incident", full_page=True)
    citizen.check_clean()
