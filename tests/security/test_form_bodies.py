"""The hostile review's "one small anonymous request freezes the server" and its relatives.

A 5.6 MB POST to ``/`` with 100,000 empty form parts held the event loop for 10 s. Every body
the server parses is now bounded by count and bytes, and a rate-limited client is refused before
its body is read. The tests are structural: the server answers after reading only a bounded
prefix of the declared body (the rest is never sent), so they cannot pass by luck or fail by load.
Figures (``/healthz`` latency during the attack) are printed by ``bench/security_bench.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.portal.web import LIMITS
from callcenter.store import models as m
from callcenter.web.ratelimit import RateLimiter
from tests.conftest import LiveServer
from tests.security.rawhttp import exchange, multipart_end, multipart_parts

BOUNDARY = "hostile0boundary"
MAX_PARTS = 64  # callcenter.portal.multipart.MAX_PARTS (not imported: the test must run on the old code too)
EMPTY_PART = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n'.encode()
FIELDS = [
    ("category", "road_pothole"),
    ("address", "ул. Ленина, д. 7"),
    ("description", "Глубокая яма на проезжей части у остановки"),
    ("phone", "+7 978 765-43-21"),
    ("consent", "on"),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_request_bytes=8 * 2**20, max_photo_bytes=2 * 2**20)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def head(path: str, length: int, content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> str:
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {length}"


async def ticket_count(live_server: LiveServer) -> int:
    async with live_server.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(m.Ticket))).scalar_one()


async def test_many_empty_parts_are_refused_at_the_cap_without_reading_the_rest(live_server: LiveServer) -> None:
    """The review's attack: 100,000 empty parts (5.6 MB) declared; only the first 4,096 (230 KB) are sent.

    aiohttp's part reader looks up to two 64 KB reads ahead for the next boundary, so the server
    needs MAX_PARTS parts plus 128 KB to decide; it must not need (or wait for) anything more.
    """
    declared = len(EMPTY_PART) * 100_000 + len(multipart_end(BOUNDARY))
    sent = EMPTY_PART * 4096
    assert MAX_PARTS * len(EMPTY_PART) + 2 * 65536 < len(sent) < declared / 20
    answer = await exchange(live_server.url, head("/", declared), [sent])
    assert answer.status == 400
    assert "Слишком много полей в форме" in answer.text
    assert await ticket_count(live_server) == 0


async def test_the_whole_many_parts_attack_is_refused_while_health_checks_answer(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    body = EMPTY_PART * 100_000 + multipart_end(BOUNDARY)
    attack = asyncio.ensure_future(
        http.post(
            live_server.url + "/",
            data=io.BytesIO(body),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    )
    async with http.get(live_server.url + "/healthz") as resp:
        assert resp.status == 200
    async with await attack as resp:
        assert resp.status == 400
        assert "Слишком много полей в форме" in await resp.text()


async def test_part_headers_are_spent_from_the_request_budget(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    """Headers are up to 128 x 8 KB per part: 1 MB each that the old budget never counted."""
    padding = "".join(f"X-Pad-{i}: {'p' * 8000}\r\n" for i in range(120))
    body = multipart_parts(BOUNDARY, FIELDS + [("name", "")] * 6, extra_headers=padding) + multipart_end(BOUNDARY)
    assert len(body) > 8 * 2**20 and sum(len(v.encode()) for _, v in FIELDS) < 1000

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: only counting can refuse it
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    async with http.post(
        live_server.url + "/",
        data=chunked(),
        allow_redirects=False,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    ) as resp:
        assert resp.status == 413
        assert "Слишком большой запрос" in await resp.text()
    assert await ticket_count(live_server) == 0


async def test_a_chunked_body_is_held_to_the_same_budget(live_server: LiveServer) -> None:
    """No Content-Length: the limit must be counted on the bytes read, not taken from a header."""
    chunk = multipart_parts(BOUNDARY, [("description", "я" * 300_000)])
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = await exchange(
        live_server.url,
        (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Transfer-Encoding: chunked"
        ),
        [framed * 16],
    )  # 9.6 MB of a body that never ends
    assert answer.status == 413


async def test_a_rate_limited_citizen_is_refused_before_the_body_is_read(live_server: LiveServer) -> None:
    limits = live_server.app[LIMITS]
    limits.attempts = RateLimiter(1, 3600)
    assert limits.attempts.allow("127.0.0.1")  # the one allowed attempt is used up
    text = multipart_parts(BOUNDARY, FIELDS)
    photo = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + b"\xff" * (512 * 1024)
    declared = len(text) + len(photo) + 3 * 2**20  # a 3 MB photo follows, but is never sent
    answer = await exchange(live_server.url, head("/", declared), [text, photo])
    assert answer.status == 429
    # What the citizen typed comes back; the photo was neither read to its end nor kept.
    assert "Глубокая яма на проезжей части" in answer.text
    assert "Новые фото не сохранены" in answer.text
    assert await ticket_count(live_server) == 0


async def test_tracking_is_rate_limited_before_the_body_is_read(live_server: LiveServer) -> None:
    limits = live_server.app[LIMITS]
    limits.track = RateLimiter(1, 3600)
    assert limits.track.allow("127.0.0.1")
    answer = await exchange(
        live_server.url, head("/track", 900_000, "application/x-www-form-urlencoded"), [b"number=" + b"1" * 1000]
    )
    assert answer.status == 429


@pytest.mark.parametrize("path", ["/track", "/login", "/portal/photos/remove"])
async def test_small_forms_refuse_a_large_chunked_body(live_server: LiveServer, path: str) -> None:
    """Staff and tracking forms are read with request.post(): 1 MB, counted on the bytes read."""
    chunk = b"a=" + b"b" * 65536 + b"&"
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = await exchange(
        live_server.url,
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked"
        ),
        [framed * 40],
    )  # 2.6 MB of a body that never ends
    assert answer.status == 413


@pytest.mark.parametrize("path", ["/track", "/login"])
async def test_small_forms_refuse_many_fields(live_server: LiveServer, http: aiohttp.ClientSession, path: str) -> None:
    async with http.post(
        live_server.url + path, data=b"a=&" * 100_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as resp:
        assert resp.status in (400, 413)
