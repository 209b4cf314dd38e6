"""Public views over a real socket: tracking, the map's GeoJSON, duplicates, photo uploads and photo files."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import update

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.portal import duplicates_of
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket, TicketView
from tests.conftest import LiveServer

OPERATOR = Actor(role=Role.OPERATOR, name="Иванова Мария Сергеевна", user_id=None)
EXECUTOR = Actor(role=Role.EXECUTOR, name="Петров Пётр (Водоканал)", department="vodokanal")


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (400, 300), (120, 60, 30))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (44.0, 36.0, 0.0), "E", (33.0, 31.0, 12.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def create(live_server: LiveServer, **fields: object) -> TicketView:
    values: dict[str, object] = {
        "channel": Channel.WEB,
        "phone": "+79781112233",
        "category": "water_leak",
        "description": "Течёт вода из люка",
        "address": "ул. Ленина, д. 5, кв. 12",
        "street": "улица Ленина",
        "house": "5",
        "flat": "12",
        "lat": 44.61,
        "lon": 33.52,
        "citizen_name": "Сидорова Анна",
    }
    values.update(fields)
    return await live_server.services.tickets.create(NewTicket(**values), OPERATOR)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- tracking


async def test_tracking_shows_status_and_public_timeline_without_personal_data(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    tickets = live_server.services.tickets
    ticket = await create(live_server)
    await tickets.move(ticket.number, Status.DISPATCHED, OPERATOR, department="vodokanal")
    await tickets.add_note(ticket.number, "Внутреннее: заявитель конфликтный, звонил трижды", OPERATOR, public=False)
    await tickets.move(ticket.number, Status.IN_PROGRESS, EXECUTOR)
    await tickets.move(ticket.number, Status.DONE, EXECUTOR, note="Заменили участок трубы")
    async with http.post(live_server.url + "/track", data={"number": ticket.number, "digits": "2233"}) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert 'id="ticket-status"' in page and "Выполнено" in page and "Заявка принята в работу" in page
    assert "Заменили участок трубы" in page and "Оператор" in page and "Исполнитель" in page
    assert "улица Ленина, д. 5" in page
    for secret in ("Иванова", "Петров", "Внутреннее", "Сидорова", "+7978", "2233", "кв. 12", "1112233"):
        assert secret not in page, secret


async def test_wrong_digits_and_unknown_numbers_get_the_same_answer_and_guessing_is_limited(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    ticket = await create(live_server)
    answers = []
    for digits in ("0000", "1111"):
        async with http.post(live_server.url + "/track", data={"number": ticket.number, "digits": digits}) as resp:
            answers.append((resp.status, "не найдена" in await resp.text()))
    async with http.post(live_server.url + "/track", data={"number": "2699999", "digits": "2233"}) as resp:
        answers.append((resp.status, "не найдена" in await resp.text()))
    assert answers == [(404, True)] * 3
    for digits in range(8):  # 10 wrong answers per number per hour, from any address
        async with http.post(live_server.url + "/track", data={"number": ticket.number, "digits": f"{digits:04d}"}):
            pass
    async with http.post(live_server.url + "/track", data={"number": ticket.number, "digits": "2233"}) as resp:
        assert resp.status == 429 and "слишком много неверных попыток" in await resp.text()


async def test_tracking_form_checks_its_fields(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    async with http.post(live_server.url + "/track", data={"number": "abc", "digits": "12"}) as resp:
        assert resp.status == 422
        page = await resp.text()
    assert 'id="err-number"' in page and 'id="err-digits"' in page and 'value="abc"' in page


# ---------------------------------------------------------------------- map


async def points(http: aiohttp.ClientSession, live_server: LiveServer, **params: str) -> dict:
    async with http.get(live_server.url + "/api/map/points", params=params) as resp:
        assert resp.status == 200 and resp.content_type == "application/geo+json"
        return await resp.json(content_type=None)


async def test_map_shows_open_located_problems_with_public_fields_only(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    tickets = live_server.services.tickets
    shown = await create(live_server, lat=44.612345678, lon=33.523456789)
    pothole = await create(live_server, category="road_pothole", lat=44.59, lon=33.48)
    phone = await create(live_server, channel=Channel.PHONE, lat=None, lon=None, street=None, house=None)
    closed = await create(live_server)
    await tickets.move(closed.number, Status.REJECTED, OPERATOR, note="Не в ведении города")
    await create(live_server, channel=Channel.IVR, is_draft=True)

    collection = await points(http, live_server)
    numbers = {f["properties"]["number"] for f in collection["features"]}
    assert numbers == {shown.number, pothole.number} and collection["truncated"] is False
    feature = next(f for f in collection["features"] if f["properties"]["number"] == shown.number)
    assert feature["geometry"] == {"type": "Point", "coordinates": [33.5235, 44.6123]}
    assert set(feature["properties"]) == {"number", "category", "category_name", "status", "status_label", "date"}
    assert feature["properties"]["status_label"] == "Новая"

    # A phone ticket appears once an operator gives it a location.
    await tickets.edit(phone.number, {"lat": 44.6, "lon": 33.5}, OPERATOR)
    assert phone.number in {f["properties"]["number"] for f in (await points(http, live_server))["features"]}

    only_potholes = await points(http, live_server, category="road_pothole")
    assert [f["properties"]["number"] for f in only_potholes["features"]] == [pothole.number]
    west = await points(http, live_server, bbox="33.40,44.55,33.49,44.60")
    assert [f["properties"]["number"] for f in west["features"]] == [pothole.number]
    one = await points(http, live_server, limit="1")
    assert len(one["features"]) == 1 and one["truncated"] is True


async def test_map_refuses_bad_parameters(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    for params in ({"bbox": "1,2,3"}, {"bbox": "33.6,44.6,33.5,44.5"}, {"limit": "many"}, {"category": "nope"}):
        async with http.get(live_server.url + "/api/map/points", params=params) as resp:
            assert resp.status == 400, params
            assert (await resp.json())["message"]


# ---------------------------------------------------------------------- duplicates


async def test_duplicates_within_100_m_or_at_the_same_address(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    tickets = live_server.services.tickets
    near = await create(live_server, lat=44.6100, lon=33.5200, street="улица Ленина", house="7")
    await create(live_server, category="road_pothole", lat=44.6100, lon=33.5200)  # other category
    closed = await create(live_server, lat=44.6100, lon=33.5200)
    await tickets.move(closed.number, Status.REJECTED, OPERATOR, note="Дубль")
    await create(live_server, lat=44.6114, lon=33.5200, house="9")  # about 156 m north
    same_house = await create(live_server, lat=None, lon=None, street="улица Ленина", house="5")

    async with http.get(
        live_server.url + "/api/duplicates", params={"category": "water_leak", "lat": "44.6101", "lon": "33.5201"}
    ) as resp:
        body = await resp.json()
    assert [d["number"] for d in body["duplicates"]] == [near.number]
    assert body["duplicates"][0]["distance_m"] == 14 and body["duplicates"][0]["status_label"] == "Новая"
    assert set(body["duplicates"][0]) == {
        "number",
        "category",
        "category_name",
        "status",
        "status_label",
        "created_at",
        "distance_m",
        "same_address",
    }

    async with http.get(
        live_server.url + "/api/duplicates", params={"category": "water_leak", "address": "Ленина 5"}
    ) as resp:
        body = await resp.json()
    assert [d["number"] for d in body["duplicates"]] == [same_house.number]
    assert body["duplicates"][0]["same_address"] is True and body["address"]["house"] == "5"

    for params in (
        {"category": "nope", "lat": "44.6", "lon": "33.5"},
        {"category": "water_leak"},
        {"category": "water_leak", "lat": "x", "lon": "33.5"},
        {"category": "water_leak", "lat": "44.6"},
    ):
        async with http.get(live_server.url + "/api/duplicates", params=params) as resp:
            assert resp.status == 400, params


async def test_a_linked_duplicate_is_listed_with_its_reporters_phone(live_server: LiveServer) -> None:
    tickets = live_server.services.tickets
    original = await create(live_server)
    copy = await create(live_server, phone="+79785550011")
    await tickets.move(copy.number, Status.REJECTED, OPERATOR, duplicate_of=original.number, note="Дубль")
    [report] = await duplicates_of(live_server.services.sessions, original.id)
    assert (report.number, report.phone, report.status) == (copy.number, "+79785550011", Status.REJECTED)
    assert await duplicates_of(live_server.services.sessions, copy.id) == []


# ---------------------------------------------------------------------- photos


async def upload(
    http: aiohttp.ClientSession, live_server: LiveServer, content: bytes, name: str, token: str = ""
) -> tuple[int, dict]:
    data = aiohttp.FormData()
    data.add_field("upload_token", token)
    data.add_field("photo", io.BytesIO(content), filename=name, content_type="image/jpeg")
    async with http.post(live_server.url + "/portal/photos", data=data, headers={"Accept": "application/json"}) as resp:
        return resp.status, await resp.json()


async def test_photo_upload_endpoint_checks_keeps_and_removes(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    status, body = await upload(http, live_server, jpeg_with_gps(), "фото.jpg")
    assert status == 200 and body["count"] == 1 and body["max"] == 5
    token = body["token"]
    assert body["photo"]["gps"] == [44.6, 33.52] and body["photo"]["gps_in_city"] is True
    async with http.get(live_server.url + body["photo"]["thumb_url"]) as resp:
        assert resp.status == 200
        with Image.open(io.BytesIO(await resp.read())) as thumb:
            assert max(thumb.size) <= 320 and not dict(thumb.getexif())

    status, body = await upload(http, live_server, b"MZ\x90\x00 not an image", "virus.jpg", token)
    assert status == 422 and "«virus.jpg» не является фотографией" in body["message"]
    for i in range(4):
        assert (await upload(http, live_server, jpeg_with_gps(), f"{i}.jpg", token))[0] == 200
    status, body = await upload(http, live_server, jpeg_with_gps(), "sixth.jpg", token)
    assert status == 422 and "не более 5 фото" in body["message"]

    async with http.get(live_server.url + f"/portal/photos/pending/{token}/0000000000000000.jpg") as resp:
        assert resp.status == 404
    first = await upload(http, live_server, b"", "empty.jpg", token)
    assert first[0] == 422 and "пустой" in first[1]["message"]


async def test_stored_photos_are_served_only_by_their_exact_public_name(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    status, body = await upload(http, live_server, jpeg_with_gps(), "a.jpg")
    fields = {
        "category": "garbage",
        "address": "ул. Ленина, 3",
        "description": "Мусор не вывозят неделю",
        "phone": "+7 978 111-22-33",
        "consent": "on",
        "upload_token": body["token"],
        "kept_photo": body["photo"]["id"],
    }
    async with http.post(live_server.url + "/", data=fields, allow_redirects=False) as resp:
        number = resp.headers["Location"].rsplit("/", 1)[1]
    async with http.post(live_server.url + "/track", data={"number": number, "digits": "2233"}) as resp:
        page = await resp.text()
    full, thumb = re.findall(r'"(/photos/\d+/[0-9a-f]{32}(?:\.thumb)?\.jpg)"', page)
    for url in (full, thumb):
        async with http.get(live_server.url + url) as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
    attachment_id = int(full.split("/")[2])
    for url in (
        f"/photos/{attachment_id}/{'0' * 32}.jpg",
        f"/photos/{attachment_id + 1}/{full.split('/')[3]}",
        f"/photos/{attachment_id}/..%2F..%2Fsecret.key",
    ):
        async with http.get(live_server.url + url) as resp:
            assert resp.status == 404, url
    async with live_server.services.sessions.begin() as session:
        await session.execute(update(m.Attachment).where(m.Attachment.id == attachment_id).values(public=False))
    async with http.get(live_server.url + full) as resp:
        assert resp.status == 404


async def test_street_suggestions_and_geocoding(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    async with http.get(live_server.url + "/api/streets/suggest", params={"q": "лен"}) as resp:
        names = [s["name"] for s in await resp.json()]
    assert "улица Ленина" in names
    async with http.get(
        live_server.url + "/api/streets/geocode", params={"address": "ул. Ленина, д. 5, кв. 3"}
    ) as resp:
        found = await resp.json()
    assert found["found"] is True and found["street"] == "улица Ленина" and found["house"] == "5"
    assert "flat" not in found
    async with http.get(live_server.url + "/api/streets/geocode", params={"address": "Нигдешняя 1"}) as resp:
        assert (await resp.json()) == {"found": False}
