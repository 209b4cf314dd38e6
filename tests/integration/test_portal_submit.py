"""The citizens' portal form over a real socket: filing with photos, bad input, hostile uploads, abuse limits."""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import func, select

from callcenter.domain.tickets import Channel, Status
from callcenter.store import models as m
from tests.conftest import LiveServer

SEVASTOPOL_GPS = ((44.0, 36.0, 30.0), (33.0, 31.0, 20.0))  # 44.608333, 33.522222


def jpeg(
    size: tuple[int, int] = (640, 480),
    color: tuple[int, int, int] = (30, 90, 160),
    *,
    gps: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
) -> bytes:
    """A real JPEG made now, optionally with a camera model and GPS in its EXIF."""
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Secret Model 9"  # Model
    if gps:
        block = exif.get_ifd(0x8825)
        block[1], block[2], block[3], block[4] = "N", gps[0], "E", gps[1]
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_bomb(side: int) -> bytes:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


FIELDS = {
    "category": "water_leak",
    "address": "ул. Ленина, д. 5, кв. 12",
    "description": "Из-под асфальта бьёт вода, заливает двор",
    "name": "Анна Петрова",
    "phone": "8 978 123-45-67",
    "consent": "on",
}


def form_data(
    fields: dict[str, str], files: list[tuple[str, bytes, str]] = (), kept: list[str] = ()
) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in fields.items():
        data.add_field(key, value)
    for photo_id in kept:
        data.add_field("kept_photo", photo_id)
    for name, content, ctype in files:
        data.add_field("photos", io.BytesIO(content), filename=name, content_type=ctype)
    return data


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def ticket_count(live_server: LiveServer) -> int:
    async with live_server.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(m.Ticket))).scalar_one()


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" id="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


async def test_citizen_files_a_request_with_a_photo_and_gets_a_number(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    photo = jpeg(gps=SEVASTOPOL_GPS)
    data = form_data({**FIELDS, "lat": "44.6101", "lon": "33.5222"}, [("двор.jpg", photo, "image/jpeg")])
    async with http.post(live_server.url + "/", data=data, allow_redirects=False) as resp:
        assert resp.status == 303
        location = resp.headers["Location"]
    number = location.rsplit("/", 1)[1]
    async with http.get(live_server.url + location) as resp:
        page = await resp.text()
    assert resp.status == 200 and "Обращение принято" in page and f"/track?number={number}" in page

    detail = await live_server.services.tickets.detail(number)
    ticket = detail.ticket
    assert ticket.channel is Channel.WEB and ticket.status is Status.NEW
    assert ticket.phone == "+79781234567" and ticket.citizen_name == "Анна Петрова"
    assert (ticket.lat, ticket.lon) == (44.6101, 33.5222)  # the map point wins over the street centre
    assert ticket.street == "улица Ленина" and ticket.house == "5" and ticket.flat == "12"
    assert ticket.extra["consent_152fz"]["at"] and ticket.extra["location_source"] == "map"
    [attachment] = detail.attachments
    assert attachment.kind == "photo" and attachment.public and attachment.mime == "image/jpeg"
    stored = Path(live_server.services.settings.data_dir) / attachment.path
    with Image.open(stored) as cleaned:
        assert cleaned.format == "JPEG" and cleaned.size == (640, 480)
        assert not dict(cleaned.getexif()), "EXIF (camera model, GPS) must be gone"
    assert stored.with_name(stored.name.replace(".jpg", ".thumb.jpg")).is_file()


async def test_photo_gps_is_the_location_when_no_point_is_given(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    fields = {**FIELDS, "address": ""}
    data = form_data(fields, [("a.jpg", jpeg(gps=SEVASTOPOL_GPS), "image/jpeg")])
    async with http.post(live_server.url + "/", data=data, allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
        number = resp.headers["Location"].rsplit("/", 1)[1]
    ticket = (await live_server.services.tickets.detail(number)).ticket
    assert (round(ticket.lat, 5), round(ticket.lon, 5)) == (44.60833, 33.52222)
    assert ticket.extra["location_source"] == "photo"


async def test_bad_input_comes_back_with_every_value_and_the_photo_kept(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    bad = {**FIELDS, "phone": "12345", "consent": "", "description": "Течёт"}
    async with http.post(live_server.url + "/", data=form_data(bad, [("yard.jpg", jpeg(), "image/jpeg")])) as resp:
        assert resp.status == 422
        page = await resp.text()
    assert 'id="err-phone"' in page and "не распознан" in page
    assert 'id="err-consent"' in page and "152-ФЗ" in page
    assert 'id="err-description"' in page and "подробнее" in page
    assert 'value="ул. Ленина, д. 5, кв. 12"' in page and 'value="Анна Петрова"' in page
    assert 'value="12345"' in page and ">Течёт</textarea>" in page
    assert '<option value="water_leak" selected>' in page
    token = hidden(page, "upload_token")
    kept = re.findall(r'name="kept_photo" value="([0-9a-f]{16})" checked', page)
    assert token and len(kept) == 1 and "yard.jpg" in page
    async with http.get(live_server.url + f"/portal/photos/pending/{token}/{kept[0]}.thumb.jpg") as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert await ticket_count(live_server) == 0

    fixed = {**FIELDS, "upload_token": token}
    async with http.post(live_server.url + "/", data=form_data(fixed, kept=kept), allow_redirects=False) as resp:
        assert resp.status == 303
        number = resp.headers["Location"].rsplit("/", 1)[1]
    assert len((await live_server.services.tickets.detail(number)).attachments) == 1


async def test_unknown_address_without_a_point_is_refused_by_the_field(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    fields = {**FIELDS, "address": "Несуществующая Улица Которой Нет, 7"}
    async with http.post(live_server.url + "/", data=form_data(fields)) as resp:
        assert resp.status == 422
        page = await resp.text()
    assert 'id="err-address"' in page and "не найден в справочнике" in page
    fields = {**FIELDS, "address": "", "lat": "55.75", "lon": "37.61"}  # Moscow
    async with http.post(live_server.url + "/", data=form_data(fields)) as resp:
        assert resp.status == 422
        assert "вне Севастополя" in await resp.text()
    assert await ticket_count(live_server) == 0


async def test_hostile_uploads_are_refused_with_reasons_and_nothing_typed_is_lost(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    renamed_text = b"#!/bin/sh\necho this is not a photo\n" * 20
    big = b"\xff\xd8\xff\xe0" + b"\0" * (50 * 2**20)  # 50 MB "JPEG"
    files = [
        ("holiday.jpg", renamed_text, "image/jpeg"),
        ("bomb.png", png_bomb(30_000), "image/png"),
        ("moderate-bomb.png", png_bomb(8_000), "image/png"),
        ("huge.jpg", big, "image/jpeg"),
        ("good.jpg", jpeg(), "image/jpeg"),
    ]
    async with http.post(live_server.url + "/", data=form_data({**FIELDS, "phone": ""}, files)) as resp:
        assert resp.status == 422
        page = await resp.text()
    errors = re.search(r'id="err-photos"[^>]*>([^<]*)<', page).group(1)
    assert "«holiday.jpg» не является фотографией" in errors
    assert "«bomb.png» слишком большое по числу точек" in errors
    assert "«moderate-bomb.png» слишком большое по числу точек" in errors
    assert "«huge.jpg» больше 10 МБ" in errors
    assert 'id="err-phone"' in page  # the other field errors still shown
    assert 'value="ул. Ленина, д. 5, кв. 12"' in page and "Из-под асфальта бьёт вода" in page
    assert len(re.findall(r'name="kept_photo" value="[0-9a-f]{16}" checked', page)) == 1  # good.jpg kept
    assert await ticket_count(live_server) == 0


async def test_photos_beyond_the_maximum_are_refused_by_name(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    files = [(f"p{i}.jpg", jpeg(color=(i * 40, 10, 10)), "image/jpeg") for i in range(6)]
    async with http.post(live_server.url + "/", data=form_data({**FIELDS, "consent": ""}, files)) as resp:
        page = await resp.text()
    assert "не более 5 фото: «p5.jpg» не добавлено" in page
    assert len(re.findall(r'name="kept_photo"', page)) == 5


async def test_the_honeypot_refuses_bots(live_server: LiveServer, http: aiohttp.ClientSession) -> None:
    async with http.post(live_server.url + "/", data=form_data({**FIELDS, "website": "http://spam"})) as resp:
        assert resp.status == 400
        assert "заполнена автоматически" in await resp.text()
    assert await ticket_count(live_server) == 0


async def test_ten_submissions_from_one_address_pass_the_eleventh_waits_with_values_kept(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    # No proxy is trusted here, so X-Forwarded-For (forged by the client) is ignored.
    for i in range(10):
        fields = {**FIELDS, "description": f"Проблема номер {i}: течёт вода"}
        async with http.post(
            live_server.url + "/",
            data=form_data(fields),
            allow_redirects=False,
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ) as resp:
            assert resp.status == 303
    fields = {**FIELDS, "description": "Одиннадцатая проблема: течёт вода"}
    async with http.post(
        live_server.url + "/", data=form_data(fields), headers={"X-Forwarded-For": "198.51.100.77"}
    ) as resp:
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
        page = await resp.text()
    assert "слишком много обращений" in page and "Одиннадцатая проблема" in page
    assert 'value="Анна Петрова"' in page
    assert await ticket_count(live_server) == 10
