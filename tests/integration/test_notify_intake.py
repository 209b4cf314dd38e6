"""Consent at intake (152-ФЗ): the portal's checkbox and e-mail, the operator's checkbox on the
staff form; no checkbox, no messages; a bad e-mail is refused with everything kept."""

from __future__ import annotations

import html

import aiohttp
import pytest

from callcenter.config import Settings
from callcenter.domain.tickets import Role
from callcenter.notifications.api import NOTIFICATIONS
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, staff_client
from tests.notify_support import MailServer, mail_settings

PORTAL_FORM = {
    "category": "road_pothole",
    "address": "ул. Ленина, д. 5",
    "description": "Глубокая яма на проезжей части",
    "phone": "8 978 123-45-67",
    "consent": "on",
}


@pytest.fixture
def settings(settings: Settings, mail_server: MailServer) -> Settings:
    return mail_settings(settings, mail_server, sms_url="http://127.0.0.1:9/x")


async def _channels(live: LiveServer, number: str) -> list[tuple[str, str]]:
    return [(n.channel, n.address) for n in await live.app[NOTIFICATIONS].outbox.for_ticket(number)]


async def _portal(live: LiveServer, **fields: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(live.url + "/", data={**PORTAL_FORM, **fields}, allow_redirects=False)
        await resp.read()
        return resp


async def test_portal_checkbox_and_email(live_server: LiveServer) -> None:
    resp = await _portal(live_server, email="me@example.ru", notify="on")
    assert resp.status == 303, resp.status
    number = resp.headers["Location"].rsplit("/", 1)[1]
    assert sorted(await _channels(live_server, number)) == [("email", "me@example.ru"), ("sms", "+79781234567")]
    ticket = (await live_server.services.tickets.detail(number)).ticket
    assert ticket.extra["notify"]["via"] == "portal"

    resp = await _portal(live_server, email="me@example.ru")  # an e-mail but no consent to messages
    assert resp.status == 303
    assert await _channels(live_server, resp.headers["Location"].rsplit("/", 1)[1]) == []


async def test_portal_bad_email_keeps_the_form(live_server: LiveServer) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(live_server.url + "/", data={**PORTAL_FORM, "email": "не почта", "notify": "on"})
        body = html.unescape(await resp.text())
    assert resp.status == 422
    assert "не похож на адрес электронной почты" in body and 'value="не почта"' in body
    assert "Глубокая яма на проезжей части" in body


async def test_operator_checkbox(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    form = {
        "phone": "8 978 765-43-21",
        "category": "water_leak",
        "description": "Течёт труба во дворе",
        "address": "ул. Ленина, д. 5",
    }
    async with staff_client(live_server.url, "anna") as client:
        page = await client.get("/staff/tickets/new")
        assert 'name="notify"' in await page.text()
        resp = await client.post("/staff/tickets/new", {**form, "notify": "on", "email": "caller@example.ru"})
        assert resp.status == 303
        number = resp.headers["Location"].split("/")[-1].split("?")[0]
        bad = await client.post("/staff/tickets/new", {**form, "phone": "", "notify": "on"})
        assert bad.status == 422 and "нужен телефон или e-mail" in await bad.text()
        quiet = await client.post("/staff/tickets/new", form)
        quiet_number = quiet.headers["Location"].split("/")[-1].split("?")[0]
    assert sorted(await _channels(live_server, number)) == [("email", "caller@example.ru"), ("sms", "+79787654321")]
    assert await _channels(live_server, quiet_number) == []
