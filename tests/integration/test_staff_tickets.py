"""The ticket page and its actions: every field, history, files, calls, callbacks; forms that keep input."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.services import Services
from callcenter.store import models as m
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, leak, make_user, new_ticket, staff_client


def text_of(body: str) -> str:
    """The page as a person reads it (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


async def _attach(services: Services, number: str, kind: str, name: str, data: bytes, mime: str) -> int:
    folder = {"photo": "photos", "recording": "recordings"}[kind]
    path = Path(services.settings.data_dir) / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return await services.tickets.add_attachment(
        number,
        kind=kind,
        path=f"{folder}/{name}",
        mime=mime,
        size=len(data),
        sha256=None,
        public=True,
        actor=OPERATOR_ACTOR,
    )


async def _call_and_callback(services: Services, ticket_id: int, citizen_phone: str) -> None:
    now = datetime.now(UTC)
    async with services.sessions.begin() as session:
        citizen = (await session.execute(select(m.Citizen).where(m.Citizen.phone == citizen_phone))).scalar_one()
        session.add(
            m.Call(
                linkedid="1700000000.42",
                caller=citizen_phone,
                started_at=now - timedelta(minutes=5),
                answered_at=now - timedelta(minutes=4),
                ended_at=now - timedelta(minutes=2),
                ivr_path="1>2",
                ticket_id=ticket_id,
            )
        )
        callback = m.Callback(
            citizen_id=citizen.id,
            phone=citizen_phone,
            state="done",
            mode="auto",
            due_at=now,
            attempts=2,
            outcome="satisfied",
        )
        session.add(callback)
        await session.flush()
        session.add(m.CallbackTicket(callback_id=callback.id, ticket_id=ticket_id, outcome="satisfied"))
        session.add(m.CallbackAttempt(callback_id=callback.id, mode="auto", result="no_answer", started_at=now))
        session.add(
            m.CallbackAttempt(
                callback_id=callback.id,
                mode="auto",
                result="satisfied",
                started_at=now + timedelta(minutes=15),
                note="Всё починили",
            )
        )


async def test_the_page_shows_fields_history_files_calls_callbacks_and_other_tickets(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    earlier = await services.tickets.create(
        leak(phone="+7 (978) 123-45-67", channel=Channel.PHONE, description="Прошлая протечка"), OPERATOR_ACTOR
    )
    ticket = await new_ticket(services, citizen_name="Мария Иванова", flat="12")
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
    await services.tickets.add_note(ticket.number, "Позвонить после обеда", OPERATOR_ACTOR, public=False)
    photo = await _attach(services, ticket.number, "photo", "leak.jpg", b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
    voice = await _attach(services, ticket.number, "recording", "v.wav", b"RIFF0000WAVEfmt ", "audio/wav")
    await services.tickets.set_transcript(voice, "done", {"text": "у нас прорвало трубу во дворе"})
    await _call_and_callback(services, ticket.id, "+79781234567")
    async with staff_client(live_server.url, "anna") as client:
        body = await (await client.get(f"/staff/tickets/{ticket.number}")).text()
    page = text_of(body)
    for expected in (
        "Заявка № " + ticket.number,
        "Порыв водопровода",
        "Во дворе бьёт вода",
        "ул. Ленина, д. 5",
        "Мария Иванова",
        "+7 978 123-45-67",
        "ГУПС «Водоканал»",
        "Позвонить после обеда",
        "внутренняя",
        "Новая → Направлена исполнителю",
        "у нас прорвало трубу во дворе",
        "клавиша 1 → клавиша 2",
        "нет ответа",
        "Всё починили",
        "выполнен",
    ):
        assert expected in page, expected
    assert f'href="/staff/tickets/{earlier.number}"' in body  # the same citizen, another channel
    assert f'<img src="/staff/attachments/{photo}"' in body
    assert f'<audio controls preload="none" src="/staff/attachments/{voice}"' in body


async def test_attachments_are_served_only_through_the_checked_route(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services)
    photo = await _attach(services, ticket.number, "photo", "a.jpg", b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
    async with services.sessions.begin() as session:
        sneaky = m.Attachment(ticket_id=ticket.id, kind="photo", path="../../etc/passwd", mime="image/jpeg", size=1)
        html_file = m.Attachment(ticket_id=ticket.id, kind="comment", path="photos/a.jpg", mime="text/html", size=1)
        session.add_all([sneaky, html_file])
    async with staff_client(live_server.url, "anna") as client:
        resp = await client.get(f"/staff/attachments/{photo}")
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        assert await resp.read() == b"\xff\xd8\xff\xe0jpeg"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert (await client.get(f"/staff/attachments/{sneaky.id}")).status == 404
        served = await client.get(f"/staff/attachments/{html_file.id}")
        assert served.content_type == "application/octet-stream"  # never rendered as a page of ours
        assert (await client.get("/static/../data/photos/a.jpg")).status == 404
    async with staff_client(live_server.url) as anonymous:
        assert (await anonymous.get(f"/staff/attachments/{photo}")).status == 302


async def test_creating_with_bad_input_keeps_everything_typed(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        resp = await client.post(
            "/staff/tickets/new",
            {
                "phone": "12345",
                "citizen_name": "Пётр",
                "category": "",
                "description": "",
                "address": "",
                "flat": "7",
            },
        )
        body = await resp.text()
    assert resp.status == 422
    for message in (
        "Номер телефона «12345» не распознан",
        "Выберите категорию обращения",
        "Опишите проблему словами заявителя",
        "Укажите адрес",
    ):
        assert message in html.unescape(body), message
    assert 'value="12345"' in body and 'value="Пётр"' in body and 'value="7"' in body
    assert 'id="phone-error"' in body and 'aria-invalid="true"' in body


async def test_creating_from_a_ringing_call_links_the_call(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    async with services.sessions.begin() as session:
        session.add(m.Call(linkedid="1700000001.7", caller="+79781112233"))
    query = "phone=%2B79781112233&call=1700000001.7&category=no_water&description=%D0%9D%D0%B5%D1%82+%D0%B2%D0%BE%D0%B4%D1%8B"
    async with staff_client(live_server.url, "anna") as client:
        form = await (await client.get("/staff/tickets/new?" + query)).text()
        assert 'value="+79781112233"' in form and 'value="1700000001.7"' in form
        assert '<option value="no_water" selected>' in form and ">Нет воды</textarea>" in form
        resp = await client.post(
            "/staff/tickets/new",
            {
                "phone": "+79781112233",
                "call": "1700000001.7",
                "category": "no_water",
                "description": "Нет воды",
                "address": "улица Ленина 5",
                "flat": "3",
            },
        )
        assert resp.status == 303
        number = resp.headers["Location"].split("/")[-1].split("?")[0]
    ticket = await services.tickets.get(number)
    assert ticket.channel is Channel.PHONE and ticket.phone == "+79781112233"
    assert ticket.street == "улица Ленина" and ticket.house == "5" and ticket.district and ticket.lat
    assert ticket.department == "vodokanal" and ticket.extra["linkedid"] == "1700000001.7"
    async with services.sessions() as session:
        call = (await session.execute(select(m.Call).where(m.Call.linkedid == "1700000001.7"))).scalar_one()
    assert call.ticket_id == ticket.id


async def test_an_edit_conflict_says_so_and_keeps_what_was_typed(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services)
    async with staff_client(live_server.url, "anna") as client:
        form = await (await client.get(f"/staff/tickets/{ticket.number}/edit")).text()
        version = re.search(r'name="version" value="(\d+)"', form).group(1)
        await services.tickets.edit(ticket.number, {"title": "Изменено коллегой"}, OPERATOR_ACTOR)
        mine = {
            "version": version,
            "category": "water_leak",
            "title": "Моё название",
            "description": "Моё подробное описание",
            "address": ticket.address,
            "flat": "",
            "district": "",
        }
        resp = await client.post(f"/staff/tickets/{ticket.number}/edit", mine)
        body = html.unescape(await resp.text())
        assert resp.status == 409
        assert "уже изменил другой сотрудник" in body
        assert 'value="Моё название"' in body and "Моё подробное описание</textarea>" in body
        assert "Изменено коллегой" in body  # what is there now, side by side
        fresh = re.search(r'name="version" value="(\d+)"', body).group(1)
        again = await client.post(f"/staff/tickets/{ticket.number}/edit", {**mine, "version": fresh})
        assert again.status == 303
    assert (await services.tickets.get(ticket.number)).title == "Моё название"


async def test_a_voice_draft_must_be_confirmed_before_dispatch(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    draft = await new_ticket(
        services, channel=Channel.IVR, is_draft=True, category=None, description="распознанный текст"
    )
    async with staff_client(live_server.url, "anna") as client:
        refused = await client.post(
            f"/staff/tickets/{draft.number}/move",
            {"to": "dispatched", "department": "vodokanal", "note": "срочно", "version": str(draft.version)},
        )
        body = html.unescape(await refused.text())
        assert refused.status == 409 and "черновик из голосового сообщения" in body
        assert ">срочно</textarea>" in body
        no_category = await client.post(
            f"/staff/tickets/{draft.number}/edit",
            {
                "version": str(draft.version),
                "category": "",
                "description": "Течёт кран",
                "confirm": "1",
                "title": "",
                "address": "",
                "flat": "",
                "district": "",
            },
        )
        assert no_category.status == 422 and "выберите категорию" in (await no_category.text())
        confirmed = await client.post(
            f"/staff/tickets/{draft.number}/edit",
            {
                "version": str(draft.version),
                "category": "water_leak",
                "description": "Течёт кран",
                "confirm": "1",
                "title": "Течь",
                "address": "улица Ленина 5",
                "flat": "",
                "district": "",
            },
        )
        assert confirmed.status == 303
        view = await services.tickets.get(draft.number)
        assert not view.is_draft and view.department == "vodokanal"
        page = await (await client.get(f"/staff/tickets/{draft.number}")).text()
        assert '<option value="vodokanal" selected>' in page  # the category's executor, suggested
        moved = await client.post(
            f"/staff/tickets/{draft.number}/move",
            {"to": "dispatched", "department": "vodokanal", "version": str(view.version)},
        )
        assert moved.status == 303
    assert (await services.tickets.get(draft.number)).status is Status.DISPATCHED


async def test_reject_needs_a_reason_and_can_link_a_duplicate(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    original = await new_ticket(services)
    repeat = await new_ticket(services)
    async with staff_client(live_server.url, "anna") as client:
        bare = await client.post(f"/staff/tickets/{repeat.number}/move", {"to": "rejected"})
        assert bare.status == 422 and "Укажите причину отказа" in html.unescape(await bare.text())
        unknown = await client.post(
            f"/staff/tickets/{repeat.number}/move", {"to": "rejected", "duplicate_of": "2699999", "note": "повтор"}
        )
        body = html.unescape(await unknown.text())
        assert unknown.status == 422 and "2699999" in body and 'id="duplicate_of-error"' in body
        assert ">повтор</textarea>" in body
        linked = await client.post(
            f"/staff/tickets/{repeat.number}/move", {"to": "rejected", "duplicate_of": f"№ {original.number}"}
        )
        assert linked.status == 303
    view = await services.tickets.get(repeat.number)
    assert view.status is Status.REJECTED and view.duplicate_of == original.number


async def test_notes_public_or_internal_and_empty_ones_refused(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services)
    async with staff_client(live_server.url, "anna") as client:
        empty = await client.post(f"/staff/tickets/{ticket.number}/note", {"note": "   "})
        assert empty.status == 422 and "Текст заметки пуст" in await empty.text()
        assert (await client.post(f"/staff/tickets/{ticket.number}/note", {"note": "Для своих"})).status == 303
        assert (
            await client.post(f"/staff/tickets/{ticket.number}/note", {"note": "Бригада выехала", "public": "1"})
        ).status == 303
    notes = {e.note: e.public for e in (await services.tickets.detail(ticket.number)).events if e.kind == "note"}
    assert notes == {"Для своих": False, "Бригада выехала": True}


async def test_the_executor_accepts_and_must_say_what_was_done(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    ticket = await new_ticket(services)
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
    async with staff_client(live_server.url, "vera") as client:
        queue = await (await client.get("/staff/queue")).text()
        assert "Принять в работу" in queue and ticket.number in queue
        accepted = await client.post(
            f"/staff/tickets/{ticket.number}/move", {"to": "in_progress", "version": "2", "back": "/staff/queue"}
        )
        assert accepted.status == 303 and accepted.headers["Location"] == "/staff/queue"
        silent = await client.post(f"/staff/tickets/{ticket.number}/move", {"to": "done", "note": ""})
        body = html.unescape(await silent.text())
        assert silent.status == 422 and "Опишите, что сделано" in body and 'id="note-error"' in body
        done = await client.post(
            f"/staff/tickets/{ticket.number}/move", {"to": "done", "note": "Заменили участок трубы"}
        )
        assert done.status == 303
    detail = await services.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.DONE
    assert detail.events[-1].note == "Заменили участок трубы" and detail.events[-1].actor_role == "executor"


async def test_the_analyst_reads_but_sees_no_actions(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "ada", Role.ANALYST)
    ticket = await new_ticket(services)
    async with staff_client(live_server.url, "ada") as client:
        body = await (await client.get(f"/staff/tickets/{ticket.number}")).text()
    assert "Порыв водопровода" in body
    assert "/move" not in body and "/note" not in body and "/edit" not in body


async def test_a_stale_version_on_a_move_is_a_conflict(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services)
    await services.tickets.edit(ticket.number, {"title": "новое"}, Actor(role=Role.OPERATOR, name="коллега"))
    async with staff_client(live_server.url, "anna") as client:
        resp = await client.post(
            f"/staff/tickets/{ticket.number}/move", {"to": "dispatched", "department": "vodokanal", "version": "1"}
        )
        assert resp.status == 409 and "уже изменил другой сотрудник" in await resp.text()
    assert (await services.tickets.get(ticket.number)).status is Status.NEW


async def test_an_error_about_no_field_of_the_form_is_still_shown(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services)
    executor = Actor(role=Role.EXECUTOR, name="Водоканал", department="vodokanal")
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
    await services.tickets.move(ticket.number, Status.IN_PROGRESS, executor)
    await services.tickets.move(ticket.number, Status.DONE, executor, note="Сделано")
    await services.tickets.move(ticket.number, Status.CLOSED, OPERATOR_ACTOR, note="Подтвердил по телефону")
    async with staff_client(live_server.url, "anna") as client:
        resp = await client.post(
            f"/staff/tickets/{ticket.number}/edit",
            {
                "version": "",
                "category": "water_leak",
                "description": "Поздняя правка",
                "title": "",
                "address": "",
                "flat": "",
                "district": "",
            },
        )
        body = html.unescape(await resp.text())
    assert resp.status == 422
    assert "Закрытую заявку изменить нельзя" in body and "Поздняя правка</textarea>" in body
