"""Open311 GET publishes only text that is public by construction, masked once more.

The review found names, phones glued to words, landlines, e-mails and flats that operators had
typed into descriptions in the public GeoReport answers.
"""

from __future__ import annotations

import json

import aiohttp

from callcenter.domain.tickets import Channel
from tests.conftest import LiveServer
from tests.integration.test_staff_support import new_ticket

OPERATOR_NOTE = (
    "Звонила Петрова Мария Ивановна, тел8978 765 43 21, дом. 55-12-34, olga@example.ru, "
    "кв12, оф. 3, Ленина 5-12: во дворе прорвало трубу"
)
SECRETS = ["Петрова", "Мария", "765 43 21", "55-12-34", "olga@", "кв12", "оф. 3", "5-12", "прорвало трубу"]


async def get_one(live_server: LiveServer, number: str) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(live_server.url + f"/open311/v2/requests/{number}.json") as resp,
    ):
        assert resp.status == 200
        [found] = json.loads(await resp.read())
        return found


async def test_what_an_operator_typed_is_never_published(live_server: LiveServer) -> None:
    ticket = await new_ticket(live_server.services, channel=Channel.PHONE, description=OPERATOR_NOTE)
    found = await get_one(live_server, ticket.number)
    text = json.dumps(found, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in text, secret
    assert found["description"] == found["service_name"] == "Порыв водопровода"


async def test_a_citizens_portal_text_is_published_masked(live_server: LiveServer) -> None:
    form = aiohttp.FormData()
    for key, value in {
        "category": "water_leak",
        "address": "ул. Ленина, д. 5",
        "description": "Прорвало трубу во дворе, звоните тел8978 765 43 21, кв12",
        "phone": "+7 978 765-43-21",
        "consent": "on",
    }.items():
        form.add_field(key, value)
    async with (
        aiohttp.ClientSession() as http,
        http.post(live_server.url + "/", data=form, allow_redirects=False) as resp,
    ):
        assert resp.status == 303, await resp.text()
        number = resp.headers["Location"].rsplit("/", 1)[1]
    found = await get_one(live_server, number)
    assert found["description"] == "Прорвало трубу во дворе, звоните тел[телефон скрыт], кв. [скрыто]"
