"""Open311 GeoReport v2 as a partner application uses it: real socket, JSON and XML, keys from the CLI."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from xml.etree import ElementTree

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import update

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.open311.cli import Open311KeyCommand
from callcenter.open311.georeport import OPEN311, REQUESTS_CACHE
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket, TicketFilter, TicketView
from tests.conftest import LiveServer

API = "/open311/v2"
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор Смирнова")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def key_command(live_server: LiveServer, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="callcenter")
    command = Open311KeyCommand()
    command.register(parser.add_subparsers(dest="command"))
    assert await command.run(parser.parse_args([command.name, *argv]), live_server.services.settings) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
async def api_key(live_server: LiveServer, capsys: pytest.CaptureFixture[str]) -> str:
    key = await key_command(live_server, capsys, "add", "Городской помощник")
    assert key.startswith("o311_") and len(key) > 40
    return key


def xml_root(body: bytes) -> ElementTree.Element:
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(body)


async def get(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, str, bytes]:
    async with http.get(url, params=params) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.read()


async def post(http: aiohttp.ClientSession, url: str, fields: dict[str, str]) -> tuple[int, bytes]:
    async with http.post(url, data=fields) as resp:
        return resp.status, await resp.read()


# ---------------------------------------------------------------------- services


async def test_service_list_and_definitions_in_json_and_xml(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    status, ctype, body = await get(http, live_server.url + API + "/services.json")
    assert status == 200 and ctype == "application/json; charset=utf-8"
    services = json.loads(body)
    leak = next(s for s in services if s["service_code"] == "water_leak")
    assert leak["service_name"] == "Порыв водопровода" and leak["metadata"] is True and leak["type"] == "realtime"
    assert leak["group"] and leak["description"] and "течь" in leak["keywords"]
    assert len(services) == len(live_server.services.reference.categories)

    status, ctype, body = await get(http, live_server.url + API + "/services.xml")
    assert status == 200 and ctype == "text/xml; charset=utf-8"
    root = xml_root(body)
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service[service_code='water_leak']/metadata").text == "true"

    status, _, body = await get(http, live_server.url + API + "/services/water_leak.json")
    definition = json.loads(body)
    assert status == 200 and definition["service_code"] == "water_leak"
    scope = next(a for a in definition["attributes"] if a["code"] == "scope")
    assert scope["datatype"] == "singlevaluelist" and {"key": "building", "name": "Во всём доме"} in scope["values"]
    root = xml_root((await get(http, live_server.url + API + "/services/water_leak.xml"))[2])
    assert root.tag == "service_definition"
    assert [v.findtext("key") for v in root.findall("attributes/attribute[code='scope']/values/value")] == [
        "flat",
        "entrance",
        "building",
        "yard",
        "street",
    ]

    status, _, body = await get(http, live_server.url + API + "/services/no_such.json")
    assert status == 404 and json.loads(body)[0]["code"] == 404 and "no_such" in json.loads(body)[0]["description"]
    status, _, body = await get(http, live_server.url + API + "/services/no_such.xml")
    error = xml_root(body).find("error")
    assert status == 404 and error.findtext("code") == "404" and "no_such" in error.findtext("description")


async def test_discovery_and_unknown_paths_answer_in_the_specification_format(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    status, _, body = await get(http, live_server.url + API + "/discovery.json")
    endpoint = json.loads(body)["endpoints"][0]
    assert status == 200 and endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert "application/json" in endpoint["formats"]
    for path, parse in (
        ("/requests.html", json.loads),
        ("/nothing.json", json.loads),
        ("/nothing.xml", lambda b: [{"code": int(xml_root(b).findtext("error/code"))}]),
    ):
        status, _, body = await get(http, live_server.url + API + path)
        assert status == 404 and parse(body)[0]["code"] == 404, path


# ---------------------------------------------------------------------- POST requests


async def test_post_creates_a_ticket_and_returns_its_id(
    live_server: LiveServer, http: aiohttp.ClientSession, api_key: str
) -> None:
    fields = {
        "api_key": api_key,
        "service_code": "water_leak",
        "lat": "44.6085",
        "long": "33.5265",
        "address_string": "ул. Ленина, д. 5",
        "attribute[flat]": "12",
        "attribute[scope]": "building",
        "first_name": "Ольга",
        "last_name": "Кузнецова",
        "phone": "8 (978) 555-44-33",
        "email": "olga@example.ru",
        "description": "Течёт вода в подъезде, звоните 8 978 555-44-33, кв. 12",
        "device_id": "phone-1",
        "account_id": "acc-42",
        "media_url": "https://example.ru/p/1.jpg",
    }
    status, body = await post(http, live_server.url + API + "/requests.json", fields)
    assert status == 200
    [created] = json.loads(body)
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] == "acc-42" and created["service_request_id"] in created["service_notice"]
    ticket = (await live_server.services.tickets.detail(created["service_request_id"])).ticket
    assert ticket.channel is Channel.OPEN311 and ticket.category == "water_leak"
    assert ticket.phone == "+79785554433" and ticket.citizen_name == "Ольга Кузнецова" and ticket.flat == "12"
    assert ticket.street == "улица Ленина" and ticket.house == "5" and ticket.description.endswith("Где: Во всём доме")
    assert ticket.extra["open311"]["api_key"] == "Городской помощник"

    status, body = await post(
        http,
        live_server.url + API + "/requests.xml",
        {
            "api_key": api_key,
            "service_code": "road_pothole",
            "address_string": "Ленина 20",
            "jurisdiction_id": "sevastopol",
        },
    )
    request = xml_root(body).find("request")
    assert status == 200 and xml_root(body).tag == "service_requests"
    assert request.findtext("service_request_id").isdigit() and request.find("account_id").text is None


async def test_get_never_shows_personal_data(
    live_server: LiveServer, http: aiohttp.ClientSession, api_key: str
) -> None:
    fields = {
        "api_key": api_key,
        "service_code": "water_leak",
        "lat": "44.60851",
        "long": "33.52649",
        "address_string": "ул. Ленина, д. 5, кв. 12",
        "first_name": "Ольга",
        "last_name": "Кузнецова",
        "phone": "+7 978 555-44-33",
        "email": "olga@example.ru",
        "description": "Затопило кв. 12, мой телефон +7 978 555-44-33",
    }
    number = json.loads((await post(http, live_server.url + API + "/requests.json", fields))[1])[0][
        "service_request_id"
    ]
    status, _, body = await get(http, live_server.url + API + f"/requests/{number}.json")
    [found] = json.loads(body)
    text = body.decode()
    for secret in ("Ольга", "Кузнецова", "olga@", "555-44-33", "5554433", "кв. 12"):
        assert secret not in text, secret
    assert found["description"] == "Затопило кв. [скрыто], мой телефон [телефон скрыт]"
    assert found["address"] == "улица Ленина, д. 5" and (found["lat"], found["long"]) == (44.6085, 33.5265)
    assert (found["status"], found["extended_status"], found["status_notes"]) == ("open", "new", "Новая")
    assert found["agency_responsible"] and found["requested_datetime"].endswith("+03:00")
    assert set(found) >= {
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
        "extended_status",
    }
    root = xml_root((await get(http, live_server.url + API + f"/requests/{number}.xml"))[2])
    assert root.findtext("request/service_request_id") == number and root.findtext("request/status") == "open"
    status, _, body = await get(http, live_server.url + API + "/requests/2699999.json")
    assert status == 404 and json.loads(body)[0]["code"] == 404


async def test_keys_missing_wrong_or_revoked_are_refused(
    live_server: LiveServer, http: aiohttp.ClientSession, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"service_code": "garbage", "address_string": "Ленина 3"}
    status, body = await post(http, live_server.url + API + "/requests.json", base)
    assert status == 400 and "api_key" in json.loads(body)[0]["description"]
    status, body = await post(http, live_server.url + API + "/requests.xml", {**base, "api_key": "o311_forged"})
    assert status == 403 and xml_root(body).findtext("error/code") == "403"
    assert (await post(http, live_server.url + API + "/requests.json", {**base, "api_key": api_key}))[0] == 200
    listing = await key_command(live_server, capsys, "list")
    assert "Городской помощник" in listing and "active" in listing
    await key_command(live_server, capsys, "revoke", "Городской помощник")
    status, body = await post(http, live_server.url + API + "/requests.json", {**base, "api_key": api_key})
    assert status == 403 and "отозван" in json.loads(body)[0]["description"]


@pytest.mark.parametrize(
    ("fields", "status", "fragment"),
    [
        ({"address_string": "Ленина 3"}, 400, "service_code"),
        ({"service_code": "no_such", "address_string": "Ленина 3"}, 404, "no_such"),
        ({"service_code": "garbage"}, 400, "lat и long или address_string"),
        ({"service_code": "garbage", "address_id": "17"}, 400, "address_id не поддерживается"),
        ({"service_code": "garbage", "lat": "55.75", "long": "37.61"}, 400, "вне Севастополя"),
        ({"service_code": "garbage", "lat": "44.6"}, 400, "вместе"),
        ({"service_code": "garbage", "lat": "north", "long": "33.5"}, 400, "числами"),
        ({"service_code": "garbage", "address_string": "Ленина 3", "attribute[color]": "red"}, 400, "attribute[color]"),
        (
            {"service_code": "garbage", "address_string": "Ленина 3", "attribute[scope]": "moon"},
            400,
            "attribute[scope]",
        ),
        ({"service_code": "garbage", "address_string": "Ленина 3", "phone": "123"}, 400, "phone"),
        ({"service_code": "garbage", "address_string": "Ленина 3", "email": "not-mail"}, 400, "email"),
        ({"service_code": "garbage", "address_string": "Ленина 3", "media_url": "ftp://x"}, 400, "media_url"),
        ({"service_code": "garbage", "address_string": "Ленина 3", "description": "я" * 4001}, 400, "description"),
        (
            {"service_code": "garbage", "address_string": "Ленина 3", "jurisdiction_id": "moscow"},
            404,
            "jurisdiction_id",
        ),
    ],
)
async def test_bad_fields_are_refused_naming_the_field(
    live_server: LiveServer,
    http: aiohttp.ClientSession,
    api_key: str,
    fields: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    got, body = await post(http, live_server.url + API + "/requests.json", {**fields, "api_key": api_key})
    [error] = json.loads(body)
    assert got == status and error["code"] == status and fragment in error["description"]
    assert (await live_server.services.tickets.list(TicketFilter())).rows == []  # nothing half-created


# ---------------------------------------------------------------------- GET requests and filters


async def make(live_server: LiveServer, category: str, **extra: object) -> TicketView:
    values: dict[str, object] = {
        "channel": Channel.PHONE,
        "phone": "+79780001122",
        "category": category,
        "description": "Проблема",
        "address": "ул. Ленина, д. 9",
        "street": "улица Ленина",
        "house": "9",
        "lat": 44.61,
        "lon": 33.52,
        **extra,
    }
    data = NewTicket(**values)  # type: ignore[arg-type]
    return await live_server.services.tickets.create(data, OPERATOR)


async def ids(http: aiohttp.ClientSession, live_server: LiveServer, raw_query: str = "", **params: str) -> list[str]:
    url = live_server.url + API + "/requests.json" + (("?" + raw_query) if raw_query else "")
    async with http.get(url if raw_query else url, params=params or None) as resp:
        body = await resp.read()
        assert resp.status == 200, body.decode()
    return [r["service_request_id"] for r in json.loads(body)]


async def test_every_filter_of_get_requests(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    tickets = live_server.services.tickets
    old = await make(live_server, "water_leak")
    leak = await make(live_server, "water_leak")
    pothole = await make(live_server, "road_pothole")
    closed = await make(live_server, "water_leak")
    await make(live_server, "water_leak", is_draft=True, channel=Channel.IVR)  # a draft is never public
    await tickets.move(pothole.number, Status.DISPATCHED, OPERATOR)
    await tickets.move(pothole.number, Status.IN_PROGRESS, OPERATOR)
    await tickets.move(closed.number, Status.REJECTED, OPERATOR, duplicate_of=leak.number, note="Дубль")
    hundred_days_ago = datetime.now(UTC) - timedelta(days=100)
    async with live_server.services.sessions.begin() as session:
        await session.execute(update(m.Ticket).where(m.Ticket.id == old.id).values(created_at=hundred_days_ago))

    assert await ids(http, live_server) == [closed.number, pothole.number, leak.number]  # last 90 days, newest first
    assert await ids(http, live_server, service_code="water_leak") == [closed.number, leak.number]
    assert await ids(http, live_server, service_code="water_leak,road_pothole") == [
        closed.number,
        pothole.number,
        leak.number,
    ]
    assert await ids(http, live_server, status="open") == [pothole.number, leak.number]
    assert await ids(http, live_server, status="closed") == [closed.number]
    assert await ids(http, live_server, extended_status="in_progress") == [pothole.number]
    assert await ids(http, live_server, status="closed", extended_status="in_progress") == []
    window = {
        "start_date": (hundred_days_ago - timedelta(days=1)).isoformat(),
        "end_date": (hundred_days_ago + timedelta(days=1)).isoformat(),
    }
    assert await ids(http, live_server, **window) == [old.number]
    assert await ids(http, live_server, end_date=(hundred_days_ago + timedelta(days=5)).isoformat()) == [old.number]
    assert await ids(http, live_server, start_date=(hundred_days_ago - timedelta(days=5)).date().isoformat()) == [
        old.number
    ]
    # An unencoded "+03:00" offset arrives as " 03:00"; it still means +03:00.
    local = (hundred_days_ago - timedelta(days=1)).astimezone(live_server.services.settings.zone)
    raw = f"start_date={local.strftime('%Y-%m-%dT%H:%M:%S')}+03:00&end_date=" + quote(window["end_date"])
    assert await ids(http, live_server, raw_query=raw) == [old.number]
    assert sorted(
        await ids(http, live_server, service_request_id=f"{old.number},{leak.number}", status="closed")
    ) == sorted([old.number, leak.number])
    assert await ids(http, live_server, page_size="1", page="2") == [pothole.number]

    status, _, body = await get(http, live_server.url + API + "/requests.json")
    duplicate = next(r for r in json.loads(body) if r["service_request_id"] == closed.number)
    assert duplicate["status_notes"] == f"Отклонена: объединена с заявкой № {leak.number}"
    assert duplicate["extended_status"] == "rejected" and duplicate["expected_datetime"] is None
    in_work = next(r for r in json.loads(body) if r["service_request_id"] == pothole.number)
    assert in_work["status"] == "open" and in_work["status_notes"] == "Заявка принята в работу"
    root = xml_root((await get(http, live_server.url + API + "/requests.xml", status="open"))[2])
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [pothole.number, leak.number]


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"start_date": "yesterday"}, 400, "start_date"),
        ({"end_date": "2026-13-45T00:00:00Z"}, 400, "end_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, 400, "90 дней"),
        ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, 400, "позже"),
        ({"status": "pending"}, 400, "status"),
        ({"extended_status": "lost"}, 400, "extended_status"),
        ({"service_code": "no_such"}, 400, "no_such"),
        ({"service_request_id": "12ab"}, 400, "service_request_id"),
        ({"page_size": "0"}, 400, "page_size"),
        ({"page": "-1"}, 400, "page"),
        ({"jurisdiction_id": "moscow"}, 404, "jurisdiction_id"),
    ],
)
async def test_bad_filters_are_refused_naming_the_filter(
    live_server: LiveServer, http: aiohttp.ClientSession, params: dict[str, str], status: int, fragment: str
) -> None:
    for fmt in ("json", "xml"):
        got, _, body = await get(http, live_server.url + API + f"/requests.{fmt}", **params)
        assert got == status
        if fmt == "json":
            description = json.loads(body)[0]["description"]
        else:
            description = xml_root(body).findtext("error/description")
        assert fragment in description


async def test_page_size_is_capped_at_1000(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    await make(live_server, "garbage")
    assert len(await ids(http, live_server, page_size="5000")) == 1
    service = live_server.app[OPEN311]
    assert service.parse_query({"page_size": "5000"}).page_size == 1000
    assert service.parse_query({}).page_size == 1000


async def test_media_url_is_the_first_public_photo(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    photo = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 50, 50)).save(photo, "JPEG")
    data = aiohttp.FormData()
    for key, value in {
        "category": "garbage",
        "address": "ул. Ленина, д. 3",
        "phone": "+7 978 111-22-33",
        "description": "Контейнеры переполнены",
        "consent": "on",
    }.items():
        data.add_field(key, value)
    data.add_field("photos", io.BytesIO(photo.getvalue()), filename="bins.jpg", content_type="image/jpeg")
    async with http.post(live_server.url + "/", data=data, allow_redirects=False) as resp:
        number = resp.headers["Location"].rsplit("/", 1)[1]
    [found] = json.loads((await get(http, live_server.url + API + f"/requests/{number}.json"))[2])
    public_url = live_server.services.settings.public_url
    assert found["media_url"].startswith(public_url + "/photos/") and found["media_url"].endswith(".jpg")
    async with http.get(live_server.url + found["media_url"][len(public_url) :]) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"


async def test_lists_are_kept_for_every_reader_until_a_ticket_changes(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    cache = live_server.app[REQUESTS_CACHE]
    leak = await make(live_server, "water_leak")
    first = json.loads((await get(http, live_server.url + API + "/requests.json"))[2])
    assert [(r["service_request_id"], r["status"]) for r in first] == [(leak.number, "open")]
    hits = cache.hits
    assert json.loads((await get(http, live_server.url + API + "/requests.json"))[2]) == first
    assert cache.hits == hits + 1  # the second reader did not ask the store
    status, _, xml_body = await get(http, live_server.url + API + "/requests.xml")
    assert status == 200 and xml_root(xml_body).find("request/service_request_id").text == leak.number  # type: ignore[union-attr]

    # A change is seen by the very next reader, whichever instance made it (the hub carries it).
    await live_server.services.tickets.move(leak.number, Status.REJECTED, OPERATOR, note="Не в ведении города")
    pothole = await make(live_server, "road_pothole")
    after = json.loads((await get(http, live_server.url + API + "/requests.json"))[2])
    assert [(r["service_request_id"], r["status"]) for r in after] == [
        (pothole.number, "open"),
        (leak.number, "closed"),
    ]
