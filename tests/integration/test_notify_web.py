"""The citizens' link pages and the supervisors' page over the real app on a real port: the
answer link closes or reopens, bad input is refused with a clear message and changes nothing,
unsubscribe stops messages, the no-answer rule closes when the city chose so."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import timedelta

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.domain.notifications import NoAnswerRule
from callcenter.domain.tickets import Role, Status
from callcenter.notifications.api import NOTIFICATIONS, build_notifications
from callcenter.notifications.links import ANSWER, LinkClaims
from callcenter.notifications.models import Notification
from callcenter.store import models as m
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, staff_client
from tests.notify_support import (
    MailServer,
    mail_settings,
    new_ticket,
    to_done,
)

ANSWER_LINK = re.compile(r"(/n/answer/[A-Za-z0-9_\-.]+)")
UNSUB_LINK = re.compile(r"(/n/unsubscribe/[A-Za-z0-9_\-.]+)")


@pytest.fixture
def settings(settings: Settings, mail_server: MailServer) -> Settings:  # the conftest's settings, with e-mail on
    return mail_settings(settings, mail_server, notify_tick_seconds=0.2)


async def _bodies(live: LiveServer, number: str) -> list[str]:
    return [n.body for n in await live.app[NOTIFICATIONS].outbox.for_ticket(number)]


async def _done_with_link(live: LiveServer) -> tuple[str, str]:
    view = await new_ticket(live.services.tickets, "citizen@example.ru")
    await to_done(live.services.tickets, view.number)
    (link,) = [found.group(1) for b in await _bodies(live, view.number) if (found := ANSWER_LINK.search(b))]
    return view.number, link


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


async def _status(live: LiveServer, number: str) -> Status:
    return (await live.services.tickets.detail(number)).ticket.status


async def test_confirm_by_link_closes_and_cancels_callback(live_server: LiveServer) -> None:
    number, link = await _done_with_link(live_server)
    async with live_server.services.sessions() as session:
        planned = (await session.execute(select(m.Callback.state))).scalars().all()
    assert planned == ["planned"]
    async with aiohttp.ClientSession() as http:
        page = await http.get(live_server.url + link)
        text = await page.text()
        assert page.status == 200 and "Проблема устранена?" in text
        assert page.headers["Cache-Control"] == "no-store"
        assert await _status(live_server, number) is Status.DONE  # opening the link changes nothing
        form = aiohttp.FormData()
        form.add_field("fixed", "yes")
        form.add_field("comment", "Спасибо, всё сухо")
        done = await http.post(live_server.url + link, data=form)
        assert done.status == 200 and "закрыта" in await done.text()
        assert await _status(live_server, number) is Status.CLOSED
        again = await http.get(live_server.url + link)
        assert "уже не требуется" in await again.text()
        twice = await http.post(live_server.url + link, data={"fixed": "no", "comment": "передумал"})
        assert twice.status == 409 and "уже не требуется" in await twice.text()
    async with live_server.services.sessions() as session:
        assert (await session.execute(select(m.Callback.state))).scalars().all() == ["cancelled"]
    detail = await live_server.services.tickets.detail(number)
    closing = [e for e in detail.events if e.kind == "status" and e.to_status == "closed"]
    assert closing[0].actor_role == Role.SYSTEM.value and "по ссылке" in (closing[0].note or "")


async def test_not_fixed_reopens_with_comment_and_photo(live_server: LiveServer) -> None:
    number, link = await _done_with_link(live_server)
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("fixed", "no")
        form.add_field("comment", "Вода снова течёт")
        form.add_field("photo", _jpeg(), filename="leak.jpg", content_type="image/jpeg")
        resp = await http.post(live_server.url + link, data=form)
        assert resp.status == 200 and "возвращена исполнителю" in await resp.text()
    detail = await live_server.services.tickets.detail(number)
    assert detail.ticket.status is Status.IN_PROGRESS
    assert any("Вода снова течёт" in (e.note or "") for e in detail.events if e.kind == "status")
    assert [a.kind for a in detail.attachments] == ["photo"]
    assert (live_server.services.settings.data_dir / detail.attachments[0].path).exists()


async def test_bad_input_on_the_answer_page(live_server: LiveServer) -> None:
    number, link = await _done_with_link(live_server)
    async with aiohttp.ClientSession() as http:
        # No answer to the question.
        resp = await http.post(live_server.url + link, data={"comment": "что-то"})
        text = await resp.text()
        assert resp.status == 422 and "Ответьте на вопрос" in text and "что-то" in text  # the comment is kept
        # Not a photo.
        form = aiohttp.FormData()
        form.add_field("fixed", "no")
        form.add_field("comment", "не исправлено")
        form.add_field("photo", b"%PDF-1.4 not an image", filename="doc.pdf", content_type="application/pdf")
        resp = await http.post(live_server.url + link, data=form)
        assert resp.status == 422 and "не исправлено" in await resp.text()
        # An overlong comment.
        resp = await http.post(live_server.url + link, data={"fixed": "no", "comment": "ы" * 2500})
        assert resp.status == 422 and "слишком длинный" in await resp.text()
        # A changed token, a cut one, and one for another ticket signed with another key.
        token = link.rsplit("/", 1)[1]
        for bad in (f"{token[:-3]}xyz", token[:-16], f"{token[:6]}{token[-16:]}", f"{token}.{token}"):
            for method in ("GET", "POST"):
                resp = await http.request(method, f"{live_server.url}/n/answer/{bad}", data={"fixed": "yes"})
                assert resp.status == 400 and "Ссылка повреждена" in await resp.text(), (method, bad)
    assert await _status(live_server, number) is Status.DONE  # nothing was changed by any of it


async def test_expired_link(live_server: LiveServer) -> None:
    number, _ = await _done_with_link(live_server)
    signer = live_server.app[NOTIFICATIONS].answers.signer
    from callcenter.clock import utcnow

    expired = signer.make(LinkClaims(ANSWER, number=number), utcnow() - timedelta(seconds=1))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{live_server.url}/n/answer/{expired}", data={"fixed": "yes"})
        assert resp.status == 410 and "истёк" in await resp.text()
    assert await _status(live_server, number) is Status.DONE


async def test_unsubscribe_stops_messages(live_server: LiveServer) -> None:
    view = await new_ticket(live_server.services.tickets, "stop@example.ru")
    (body,) = await _bodies(live_server, view.number)
    link = UNSUB_LINK.search(body).group(1)  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http:
        page = await http.get(live_server.url + link)
        assert page.status == 200 and "Отписаться" in await page.text()
        done = await http.post(live_server.url + link)
        assert done.status == 200 and "больше не будут" in await done.text()
        bad = await http.post(live_server.url + link.replace("unsubscribe/", "unsubscribe/x"))
        assert bad.status == 400
    await to_done(live_server.services.tickets, view.number)
    states = [n.state for n in await live_server.app[NOTIFICATIONS].outbox.for_ticket(view.number)]
    assert len(states) == 1  # nothing new was queued for the unsubscribed address
    other = await new_ticket(live_server.services.tickets, "stop@example.ru")
    assert await _bodies(live_server, other.number) == []


async def test_supervisor_sees_failures_and_retries(live_server: LiveServer) -> None:
    view = await new_ticket(live_server.services.tickets, "x@example.ru")
    async with live_server.services.sessions.begin() as session:
        row = (await session.execute(select(Notification))).scalar_one()
        row.state, row.last_error, row.attempts = "failed", "SMTP 550: no such mailbox", 6
    await make_user(live_server.services, "sup", Role.SUPERVISOR)
    await make_user(live_server.services, "op", Role.OPERATOR)
    async with staff_client(live_server.url, "op") as op:
        assert (await op.get("/staff/notifications")).status == 403
    async with staff_client(live_server.url, "sup") as sup:
        page = await sup.get("/staff/notifications")
        text = await page.text()
        assert page.status == 200 and view.number in text and "no such mailbox" in text and "Не доставлено" in text
        health = await (await sup.get("/healthz")).json()
        assert health["notifications"] == {"email": "on", "sms": "off", "failed": 1, "overdue": 0}
        resp = await sup.post(f"/staff/notifications/{row.id}/retry")
        assert resp.status == 303
    async with live_server.services.sessions() as session:
        again = (await session.execute(select(Notification))).scalar_one()
    assert again.state in ("pending", "sending", "sent") and again.attempts in (0, 1)


async def test_no_answer_rule(services, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.test_callback_support import FakeClock

    view = await new_ticket(services.tickets, None)
    await to_done(services.tickets, view.number)
    clock = FakeClock(services.tickets._clock() + timedelta(days=7, minutes=1))
    leave = build_notifications(settings, sessions=services.sessions, tickets=services.tickets, clock=clock)
    assert [n for n, _ in await leave.answers.unanswered()] == [view.number]
    assert await leave.answers.apply_no_answer() == 0  # default: left for supervisors
    close = build_notifications(
        dataclasses.replace(settings, notify_no_answer_action=NoAnswerRule.CLOSE.value),
        sessions=services.sessions,
        tickets=services.tickets,
        clock=clock,
    )
    assert await close.answers.apply_no_answer() == 1
    detail = await services.tickets.detail(view.number)
    assert detail.ticket.status is Status.CLOSED and "нет ответа" in (detail.events[-1].note or "")
    assert await close.answers.unanswered() == []


async def test_oversized_photo_is_refused_and_nothing_changes(live_server: LiveServer) -> None:
    number, link = await _done_with_link(live_server)
    limit = live_server.services.settings.max_photo_bytes
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("fixed", "no")
        form.add_field("comment", "фото большое")
        form.add_field("photo", io.BytesIO(b"\xff" * (limit + 1)), filename="big.jpg", content_type="image/jpeg")
        resp = await http.post(live_server.url + link, data=form)
        text = await resp.text()
        assert resp.status == 422 and 'id="err-photo"' in text and "фото большое" in text  # typed text kept
        junk = await http.post(
            live_server.url + link, data=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert junk.status in (400, 422)
    assert await _status(live_server, number) is Status.DONE
