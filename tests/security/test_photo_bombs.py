"""Photos that cost far more to decode than to send, and metadata that must not reach the public.

The review's attack: a 155 KB 6320x6320 RGBA PNG (under the 40 Mpx limit) took 0.6 GB to decode;
three at once peaked at 1.5 GB. Now the decoded size (width x height x bands) is checked from the
header, before Pillow allocates a single pixel block (counted by Pillow's own allocator stats).
"""

from __future__ import annotations

import asyncio
import html
import io
import struct
import threading
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from unittest import mock

import aiohttp
import pytest
from PIL import Image

from callcenter.domain.tickets import Status
from callcenter.notifications.api import NOTIFICATIONS
from callcenter.notifications.links import ANSWER, LinkClaims
from callcenter.portal import photos as photos_module
from callcenter.portal.photos import PhotoLimits, PhotoRejected, allowed_formats, clean_photo
from callcenter.portal.web import PORTAL
from callcenter.services import Services
from callcenter.staff.done_photo import DONE_PHOTOS
from tests.conftest import LiveServer
from tests.integration.test_done_photo import post_done, pothole_in_work
from tests.integration.test_staff_support import staff_client
from tests.notify_support import new_ticket as notify_ticket
from tests.notify_support import to_done

LIMITS = PhotoLimits(max_bytes=10 * 2**20)
BOMB_MESSAGE = "слишком большое по числу точек"


def solid_rgba_png(side: int) -> bytes:
    """A real, valid side x side RGBA PNG of one colour, compressed row by row (never held whole)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\x80\x40\x20\xff" * side
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bomb_png() -> bytes:
    """6000x6000 RGBA: a file of about 170 KB that would take 137 MB to decode."""
    data = solid_rgba_png(6000)
    assert len(data) < 200 * 1024 and 6000 * 6000 * 4 > LIMITS.max_decoded_bytes
    return data


@pytest.fixture(scope="module")
def review_png() -> bytes:
    data = solid_rgba_png(6320)
    assert len(data) < 200 * 1024 and 6320 * 6320 < LIMITS.max_pixels  # the review's file: small, "legal"
    return data


def allocated_blocks() -> int:
    return Image.core.get_stats()["allocated_blocks"]


def test_the_review_png_is_refused_before_any_pixel_is_allocated(review_png: bytes) -> None:
    allowed_formats()  # Image.init() makes one tiny image of its own: not part of the count
    before = allocated_blocks()
    with pytest.raises(PhotoRejected) as refused:
        clean_photo("screen.png", review_png, LIMITS)
    assert BOMB_MESSAGE in refused.value.message
    assert allocated_blocks() == before  # no 160 MB decode started


def test_a_big_phone_jpeg_decodes_at_reduced_scale() -> None:
    out = io.BytesIO()
    Image.new("RGB", (7200, 5400), (90, 120, 60)).save(out, "JPEG", quality=80)  # 38.9 Mpx
    photo = clean_photo("camera.jpg", out.getvalue(), LIMITS)
    assert max(photo.width, photo.height) == LIMITS.max_side
    # Decoded with draft at 1/2 scale: 3600x2700x3 = 29 MB, under the bound; the full decode would be 117 MB.
    assert 7200 * 5400 * 3 > LIMITS.max_decoded_bytes


def jpeg_with_comment_and_exif() -> bytes:
    image = Image.new("RGB", (800, 600), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"  # Make
    exif[0x9286] = "SECRET-USER-COMMENT"  # UserComment
    out = io.BytesIO()
    image.save(out, "JPEG", comment=b"Petrov Ivan, kv 12, +79781234567", exif=exif)
    raw = out.getvalue()
    assert b"Petrov Ivan" in raw and b"SecretPhoneMaker" in raw
    return raw


def test_comments_and_metadata_never_reach_the_public_photo_or_thumbnail() -> None:
    photo = clean_photo("dvor.jpg", jpeg_with_comment_and_exif(), LIMITS)
    for published in (photo.jpeg, photo.thumb):
        assert b"Petrov" not in published and b"SecretPhoneMaker" not in published
        assert b"\xff\xfe" not in published.split(b"\xff\xda", 1)[0]  # no COM marker before the scan
        reopened = Image.open(io.BytesIO(published))
        assert "comment" not in reopened.info and not reopened.getexif()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_portal_refuses_the_review_png_with_a_clear_message(
    live_server: LiveServer, review_png: bytes, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("photo", io.BytesIO(review_png), filename="screen.png", content_type="image/png")
    async with http.post(live_server.url + "/portal/photos", data=form) as resp:
        assert resp.status == 422
        assert BOMB_MESSAGE in (await resp.json())["message"]


async def test_at_most_two_photos_are_decoded_at_once_whichever_form_sends_them(live_server: LiveServer) -> None:
    """Six photos at once, two from each form that takes one (the portal, «Выполнено», the answer
    page): never more than two decodes in flight app-wide (each holds up to 64 MB decoded)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    lock, release = threading.Lock(), threading.Event()
    state = {"active": 0, "peak": 0, "started": 0}
    threads: set[str] = set()
    real = photos_module.clean_photo_and_trim

    def counting(name, raw, limits):  # type: ignore[no-untyped-def]
        with lock:
            state["active"] += 1
            state["started"] += 1
            state["peak"] = max(state["peak"], state["active"])
            threads.add(threading.current_thread().name)
        try:
            release.wait(timeout=30)
            return real(name, raw, limits)
        finally:
            with lock:
                state["active"] -= 1

    app = live_server.app
    portal, done, answers = app[PORTAL], app[DONE_PHOTOS], app[NOTIFICATIONS].answers
    when = datetime.now(UTC)
    with mock.patch.object(photos_module, "clean_photo_and_trim", counting):
        decodes = [
            *(asyncio.create_task(portal.decode(f"p{n}.jpg", jpeg)) for n in range(2)),
            *(asyncio.create_task(done.keep(f"d{n}.jpg", jpeg, when)) for n in range(2)),
            *(asyncio.create_task(answers._keep_photo((f"a{n}.jpg", jpeg), "1")) for n in range(2)),  # noqa: SLF001
        ]
        while state["started"] < 2:  # both workers busy (an event, not a timer: we poll the counter)
            await asyncio.sleep(0.01)
        for _ in range(20):
            await asyncio.sleep(0)  # give a third decode every chance to start
        in_flight_while_blocked = state["started"]
        release.set()
        results = await asyncio.gather(*decodes)
    assert in_flight_while_blocked == 2
    assert state["peak"] == 2 and len(results) == 6
    assert {name.split("_")[0] for name in threads} == {"photo-decode"}  # the decoder's pool, not the default one


async def _ticket_state(services: Services, number: str) -> tuple[Status, int, list[str]]:
    detail = await services.tickets.detail(number)
    return detail.ticket.status, detail.ticket.version, [a.kind for a in detail.attachments]


async def test_done_with_a_bomb_png_is_refused_in_russian_and_nothing_changes(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    before = await _ticket_state(services, number)
    async with staff_client(live_server.url, "dorogi") as client:
        resp = await post_done(client, number, photo=("result.png", bomb_png(), "image/png"))
        body = html.unescape(await resp.text())
    assert resp.status == 400 and BOMB_MESSAGE in body and "result.png" in body  # the route answers 400 for a bad photo
    assert await _ticket_state(services, number) == before
    assert before[0] is Status.IN_PROGRESS


async def test_the_answer_page_refuses_a_bomb_png_in_russian_and_nothing_changes(
    live_server: LiveServer, http: aiohttp.ClientSession
) -> None:
    services = live_server.services
    view = await notify_ticket(services.tickets, None)
    await to_done(services.tickets, view.number)
    before = await _ticket_state(services, view.number)
    signer = live_server.app[NOTIFICATIONS].answers.signer
    token = signer.make(LinkClaims(ANSWER, number=view.number), datetime.now(UTC) + timedelta(days=1))
    form = aiohttp.FormData()
    form.add_field("fixed", "no")
    form.add_field("comment", "Яма осталась")
    form.add_field("photo", bomb_png(), filename="yama.png", content_type="image/png")
    async with http.post(f"{live_server.url}/n/answer/{token}", data=form) as resp:
        body = html.unescape(await resp.text())
    assert resp.status == 422 and BOMB_MESSAGE in body and "Яма осталась" in body  # the comment is kept
    assert await _ticket_state(services, view.number) == before
    assert before[0] is Status.DONE
