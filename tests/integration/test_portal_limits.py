"""Portal limits that need other settings: the whole-request limit and a trusted reverse proxy."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.store import models as m
from tests.conftest import LiveServer

FIELDS = {
    "category": "road_pothole",
    "address": "ул. Ленина, д. 7",
    "description": "Глубокая яма на проезжей части у остановки",
    "phone": "+7 978 765-43-21",
    "consent": "on",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, max_request_bytes=3 * 2**20, max_photo_bytes=2 * 2**20, trusted_proxies=["127.0.0.1"]
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def form(fields: dict[str, str], files: list[tuple[str, bytes]] = ()) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in fields.items():
        data.add_field(key, value)
    for name, content in files:
        data.add_field("photos", io.BytesIO(content), filename=name, content_type="image/jpeg")
    return data


async def ticket_count(live_server: LiveServer) -> int:
    async with live_server.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(m.Ticket))).scalar_one()


async def test_a_request_over_the_total_limit_gets_a_clear_413(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    files = [("a.jpg", b"\0" * (2 * 2**20)), ("b.jpg", b"\0" * (2 * 2**20))]
    async with http.post(live_server.url + "/", data=form(FIELDS, files)) as resp:
        assert resp.status == 413
        assert "Слишком большой запрос" in await resp.text()
    assert await ticket_count(live_server) == 0


async def test_one_photo_over_its_limit_is_refused_by_name_with_the_form_kept(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(live_server.url + "/", data=form(FIELDS, [("big.jpg", b"\xff" * (2 * 2**20 + 1))])) as resp:
        assert resp.status == 422
        page = await resp.text()
    assert "«big.jpg» больше 2 МБ" in page and "Глубокая яма на проезжей части" in page


async def test_citizens_behind_a_trusted_proxy_are_counted_apart(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    async def post(forwarded: str) -> int:
        async with http.post(
            live_server.url + "/", data=form(FIELDS), allow_redirects=False, headers={"X-Forwarded-For": forwarded}
        ) as resp:
            return resp.status

    assert [await post("203.0.113.5") for _ in range(10)] == [303] * 10
    assert await post("203.0.113.5") == 429
    # A client cannot escape by prepending its own X-Forwarded-For: the proxy appends the real address.
    assert await post("10.0.0.1, 203.0.113.5") == 429
    # Another citizen behind the same proxy is not blocked.
    assert await post("203.0.113.6") == 303
