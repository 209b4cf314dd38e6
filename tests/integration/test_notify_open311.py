"""Open311: ``attribute[notify]`` makes the request's own email / phone get the notifications."""

from __future__ import annotations

import json

import aiohttp
import pytest

from callcenter.config import Settings
from callcenter.notifications.api import NOTIFICATIONS
from tests.conftest import LiveServer
from tests.integration.test_open311_api import API, api_key, http, post  # noqa: F401 - fixtures
from tests.notify_support import MailServer, mail_settings


@pytest.fixture
def settings(settings: Settings, mail_server: MailServer) -> Settings:
    return mail_settings(settings, mail_server, sms_url="http://127.0.0.1:9/x")  # SMS on (never sent here)


async def test_notify_attribute(live_server: LiveServer, http: aiohttp.ClientSession, api_key: str) -> None:  # noqa: F811
    url = live_server.url + API + "/requests.json"
    base = {"api_key": api_key, "service_code": "water_leak", "address_string": "ул. Ленина, д. 5"}
    status, body = await post(http, url, {**base, "email": "app-user@example.ru", "attribute[notify]": "email"})
    assert status == 200, body
    number = json.loads(body)[0]["service_request_id"]
    rows = await live_server.app[NOTIFICATIONS].outbox.for_ticket(number)
    assert [(r.channel, r.address, r.trigger) for r in rows] == [("email", "app-user@example.ru", "registered")]

    both = {"email": "both@example.ru", "phone": "8 978 555-44-33", "attribute[notify]": "both"}
    status, body = await post(http, url, {**base, **both})
    assert status == 200, body
    rows = await live_server.app[NOTIFICATIONS].outbox.for_ticket(json.loads(body)[0]["service_request_id"])
    assert sorted((r.channel, r.address) for r in rows) == [("email", "both@example.ru"), ("sms", "+79785554433")]
    assert {r.trigger for r in rows} == {"registered"}

    status, body = await post(http, url, {**base, "email": "quiet@example.ru"})  # no attribute: no messages
    assert status == 200
    assert await live_server.app[NOTIFICATIONS].outbox.for_ticket(json.loads(body)[0]["service_request_id"]) == []

    for fields, word in (
        ({"attribute[notify]": "email"}, "email"),
        ({"attribute[notify]": "sms", "email": "a@example.ru"}, "phone"),
        ({"attribute[notify]": "pigeon"}, "attribute[notify]"),
    ):
        status, body = await post(http, url, {**base, **fields})
        assert status == 400 and word in body.decode(), body

    definition = await (await http.get(live_server.url + API + "/services/water_leak.json")).json()
    assert "notify" in [a["code"] for a in definition["attributes"]]
