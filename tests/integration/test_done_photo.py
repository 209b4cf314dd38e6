"""«Выполнено» with a photo of the result (issue 16, no empty answers), over real HTTP.

A pothole (``road_pothole``: done needs a note and a photo, the photo is public) is marked done
by its executor through ``POST /staff/tickets/{number}/done`` (multipart). Refusals change
nothing and keep the typed note; the stored photo is re-encoded without its metadata.
"""

from __future__ import annotations

import dataclasses
import html
import io
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.domain.tickets import Role, Status
from callcenter.services import Services
from callcenter.store import models as m
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, StaffClient, make_user, new_ticket, staff_client

MAX_PHOTO = 300_000
NOTE = "Яму заделали горячим асфальтом, 2 м²"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_photo_bytes=MAX_PHOTO)


def jpeg_with_exif(size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (90, 90, 90))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x9286] = "личный комментарий"  # UserComment
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


async def pothole_in_work(services: Services) -> str:
    await make_user(services, "dorogi", Role.EXECUTOR, department="road_service")
    ticket = await new_ticket(services, category="road_pothole", title="Яма", address="ул. Ленина, д. 5")
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR, department="road_service")
    await services.tickets.move(ticket.number, Status.IN_PROGRESS, OPERATOR_ACTOR)
    return ticket.number


async def post_done(
    client: StaffClient,
    number: str,
    *,
    note: str = NOTE,
    photo: tuple[str, bytes, str] | None = None,
    csrf: str | None = None,
    version: str = "",
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf_token", client.csrf if csrf is None else csrf)
    form.add_field("note", note)
    form.add_field("version", version)
    form.add_field("public", "1")
    form.add_field("public", "0")
    if photo is not None:
        name, data, mime = photo
        form.add_field("photo", data, filename=name, content_type=mime)
    else:  # what a browser sends when no file was chosen
        form.add_field("photo", b"", filename="", content_type="application/octet-stream")
    return await client.http.post(f"{client.base}/staff/tickets/{number}/done", data=form, allow_redirects=False)


async def unchanged(services: Services, number: str) -> None:
    detail = await services.tickets.detail(number)
    assert detail.ticket.status is Status.IN_PROGRESS
    assert [a for a in detail.attachments if a.kind == "photo"] == []
    async with services.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(m.Attachment))
    assert count == 0
    photos = Path(services.settings.data_dir) / "photos"
    assert not photos.exists() or not [p for p in photos.rglob("*.jpg") if "pending" not in p.parts]


def kept_note(body: str) -> bool:
    return NOTE in html.unescape(body) and 'id="f-note-done"' in body


async def test_done_without_a_photo_is_refused_in_russian_and_nothing_changes(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    async with staff_client(live_server.url, "dorogi") as client:
        page = await (await client.get(f"/staff/tickets/{number}")).text()
        assert f'action="/staff/tickets/{number}/done" enctype="multipart/form-data"' in page
        assert 'name="photo"' in page
        resp = await post_done(client, number)
        body = await resp.text()
        assert resp.status == 422
        assert "по категории «Яма на дороге» заявку нельзя отметить выполненной без фото" in html.unescape(body)
        assert 'id="photo-error"' in body and kept_note(body)
        # The old url-encoded move form is held to the same rule (the service enforces it).
        moved = await client.post(f"/staff/tickets/{number}/move", {"to": "done", "note": NOTE})
        assert moved.status == 422 and "без фото" in html.unescape(await moved.text())
    await unchanged(services, number)


async def test_done_with_a_photo_is_accepted_shown_and_public(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    async with staff_client(live_server.url, "dorogi") as client:
        resp = await post_done(client, number, photo=("яма после.jpg", jpeg_with_exif(), "image/jpeg"))
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == f"/staff/tickets/{number}?done=moved"
        page = await (await client.get(f"/staff/tickets/{number}?done=moved")).text()
    detail = await services.tickets.detail(number)
    assert detail.ticket.status is Status.DONE
    (photo,) = [a for a in detail.attachments if a.kind == "photo"]
    assert photo.public  # road_pothole: done_photo_public = true, and the note is shown
    done = [e for e in detail.events if e.kind == "status" and e.to_status == "done"][-1]
    assert done.note == NOTE and done.data["photo"] == photo.id and done.actor_role == "executor"
    assert f'<img src="/staff/attachments/{photo.id}" alt="Фото результата работ' in page
    stored = (Path(services.settings.data_dir) / photo.path).read_bytes()
    assert b"SecretCam" not in stored and "личный".encode() not in stored
    assert Image.open(io.BytesIO(stored)).getexif() == {}
    # The public tracking page's photo route serves it (public by the category's design).
    name = Path(photo.path).name
    async with aiohttp.ClientSession() as anon:
        public = await anon.get(f"{live_server.url}/photos/{photo.id}/{name}")
        assert public.status == 200 and public.content_type == "image/jpeg"


async def test_a_photo_in_an_indoor_category_stays_internal(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    ticket = await new_ticket(services)  # water_leak: photo optional, never public
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR, department="vodokanal")
    await services.tickets.move(ticket.number, Status.IN_PROGRESS, OPERATOR_ACTOR)
    async with staff_client(live_server.url, "vera") as client:
        resp = await post_done(client, ticket.number, photo=("труба.jpg", jpeg_with_exif(), "image/jpeg"))
        assert resp.status == 303
    detail = await services.tickets.detail(ticket.number)
    (photo,) = [a for a in detail.attachments if a.kind == "photo"]
    assert detail.ticket.status is Status.DONE and not photo.public
    public = await services.tickets.detail(ticket.number, include_internal=False)
    assert not [e for e in public.events if e.kind == "attachment"]


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (("отчёт.jpg", b"%PDF-1.4 not a photo at all" * 10, "image/jpeg"), "не является фотографией"),
        (("big.jpg", b"\xff\xd8\xff" + b"0" * (MAX_PHOTO + 10), "image/jpeg"), "больше"),
        (("пусто.jpg", b"", "image/jpeg"), "пустой"),
    ],
    ids=["not-an-image", "over-the-photo-limit", "empty-file"],
)
async def test_a_bad_photo_is_a_clear_400_and_the_note_is_kept(
    live_server: LiveServer, photo: tuple[str, bytes, str], message: str
) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    async with staff_client(live_server.url, "dorogi") as client:
        resp = await post_done(client, number, photo=photo)
        body = await resp.text()
    assert resp.status == 400, body
    assert message in html.unescape(body) and 'id="photo-error"' in body and kept_note(body)
    await unchanged(services, number)


async def test_a_body_over_the_request_limit_is_a_400_with_the_note_kept(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    async with staff_client(live_server.url, "dorogi") as client:
        resp = await post_done(client, number, photo=("huge.jpg", b"\xff\xd8" + b"1" * (MAX_PHOTO * 3), "image/jpeg"))
        body = await resp.text()
    assert resp.status == 400
    assert "Фото слишком большое" in html.unescape(body) or "больше" in html.unescape(body)
    assert kept_note(body)
    await unchanged(services, number)


async def test_a_missing_or_foreign_csrf_token_is_403_and_nothing_is_kept(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    async with staff_client(live_server.url, "dorogi") as client:
        for token in ("", "0" * 64):
            resp = await post_done(client, number, photo=("яма.jpg", jpeg_with_exif(), "image/jpeg"), csrf=token)
            body = await resp.text()
            assert resp.status == 403 and "Форма устарела" in html.unescape(body)
        # No token field at all.
        form = aiohttp.FormData()
        form.add_field("note", NOTE)
        form.add_field("photo", jpeg_with_exif(), filename="яма.jpg", content_type="image/jpeg")
        bare = await client.http.post(f"{client.base}/staff/tickets/{number}/done", data=form, allow_redirects=False)
        assert bare.status == 403
    await unchanged(services, number)
    pending = Path(services.settings.data_dir) / "photos" / "pending"
    assert not pending.exists() or not list(pending.rglob("*.jpg"))


async def test_a_refused_move_leaves_no_photo_file_behind(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    async with staff_client(live_server.url, "dorogi") as client:
        resp = await post_done(client, number, photo=("яма.jpg", jpeg_with_exif(), "image/jpeg"), version="1")
        body = await resp.text()
    assert resp.status == 409, body
    assert kept_note(body)
    await unchanged(services, number)


async def test_the_executor_of_another_department_cannot_mark_it_done(live_server: LiveServer) -> None:
    services = live_server.services
    number = await pothole_in_work(services)
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    async with staff_client(live_server.url, "vera") as client:
        resp = await post_done(client, number, photo=("яма.jpg", jpeg_with_exif(), "image/jpeg"))
        assert resp.status == 403
    await unchanged(services, number)


async def test_a_marked_handler_that_forgets_the_check_is_refused(settings: Settings, live_server: LiveServer) -> None:
    """The middleware's safety net: a multipart route marked «checks its own CSRF» that answers
    without calling verify_form_csrf gets a 403, not a silent pass."""
    from aiohttp import web

    from callcenter.app import init_app
    from callcenter.web.auth import STAFF_ROLES, csrf_checked_in_handler, require_roles

    ran: list[str] = []

    @csrf_checked_in_handler
    @require_roles(*STAFF_ROLES)
    async def forgetful(request: web.Request) -> web.Response:
        await request.read()
        ran.append(request.path)
        return web.Response(text="ok")

    await make_user(live_server.services, "dorogi", Role.EXECUTOR, department="road_service")
    app = init_app(settings)
    app.router.add_post("/staff/forgetful", forgetful)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with staff_client(f"http://127.0.0.1:{port}", "dorogi") as client:
            form = aiohttp.FormData()
            form.add_field("csrf_token", client.csrf)
            form.add_field("photo", b"x", filename="a.jpg", content_type="image/jpeg")
            resp = await client.http.post(f"{client.base}/staff/forgetful", data=form)
            assert resp.status == 403 and "Форма устарела" in html.unescape(await resp.text())
            assert ran == ["/staff/forgetful"]
    finally:
        await runner.cleanup()
