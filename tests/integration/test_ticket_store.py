"""The ticket store on real databases: lifecycle through the service, conflicts, numbers, search."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from callcenter.domain.errors import ConflictError, IllegalTransition, TicketNotFound, ValidationError
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.services import Services
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket, TicketFilter
from callcenter.tickets.service import TicketService

OPERATOR = Actor(role=Role.OPERATOR, name="Анна Оператор")
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="Руководитель")
SYSTEM = Actor.system("обратный звонок")


def leak(phone: str = "8 978 123-45-67", **kw: object) -> NewTicket:
    values = dict(
        channel=Channel.PHONE,
        phone=phone,
        category="water_leak",
        title="Порыв водопровода",
        description="Во дворе бьёт вода из-под асфальта, затопило подвал",
        address="ул. Ленина, д. 5",
    )
    values.update(kw)
    return NewTicket(**values)  # type: ignore[arg-type]


async def test_create_assigns_number_citizen_department_and_first_event(services: Services) -> None:
    view = await services.tickets.create(leak(), OPERATOR)
    assert view.number.isdigit() and len(view.number) == 7
    assert view.status is Status.NEW and view.phone == "+79781234567"
    assert view.department == services.reference.category("water_leak").department
    detail = await services.tickets.detail(view.number)
    assert [e.kind for e in detail.events] == ["created"]
    assert detail.events[0].actor_name == "Анна Оператор"


async def test_full_lifecycle_writes_one_event_per_move(services: Services) -> None:
    t = services.tickets
    view = await t.create(leak(), OPERATOR)
    executor = Actor(role=Role.EXECUTOR, name="Водоканал", department=view.department)
    await t.move(view.number, Status.DISPATCHED, OPERATOR)
    await t.move(view.number, Status.IN_PROGRESS, executor)
    await t.move(view.number, Status.DONE, executor, note="Заменён участок трубы")
    await t.move(view.number, Status.IN_PROGRESS, SYSTEM, note="Вода всё ещё течёт")
    await t.move(view.number, Status.DONE, executor, note="Повторно устранено")
    await t.move(view.number, Status.CLOSED, SYSTEM, note="Подтвердил в IVR")
    final = await t.move(view.number, Status.ARCHIVED, SYSTEM)
    assert final.status is Status.ARCHIVED and final.version == 8
    detail = await t.detail(view.number)
    moves = [(e.from_status, e.to_status) for e in detail.events if e.kind == "status"]
    assert moves == [
        ("new", "dispatched"),
        ("dispatched", "in_progress"),
        ("in_progress", "done"),
        ("done", "in_progress"),
        ("in_progress", "done"),
        ("done", "closed"),
        ("closed", "archived"),
    ]
    assert detail.timers.reopen_count == 1 and detail.timers.to_close is not None
    reopen = [e for e in detail.events if e.data.get("reopened")]
    assert reopen and reopen[0].note == "Вода всё ещё течёт"


async def test_illegal_move_is_refused_and_nothing_is_written(services: Services) -> None:
    view = await services.tickets.create(leak(), OPERATOR)
    with pytest.raises(IllegalTransition) as info:
        await services.tickets.move(view.number, Status.CLOSED, OPERATOR, note="подтвердил")
    assert "нельзя перевести из «Новая» в «Закрыта»" in info.value.message
    after = await services.tickets.detail(view.number)
    assert after.ticket.version == 1 and len(after.events) == 1


async def test_moving_twice_to_the_same_status_is_safe(services: Services) -> None:
    view = await services.tickets.create(leak(), OPERATOR)
    await services.tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    again = await services.tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    assert again.version == 2
    assert len((await services.tickets.detail(view.number)).events) == 2


async def test_second_editor_gets_a_conflict_and_nothing_is_overwritten(services: Services) -> None:
    view = await services.tickets.create(leak(), OPERATOR)
    await services.tickets.edit(view.number, {"title": "Порыв на Ленина"}, OPERATOR, expected_version=view.version)
    with pytest.raises(ConflictError) as info:
        await services.tickets.edit(view.number, {"title": "Другое"}, SUPERVISOR, expected_version=view.version)
    assert "уже изменил другой сотрудник" in info.value.message
    with pytest.raises(ConflictError):
        await services.tickets.move(view.number, Status.DISPATCHED, SUPERVISOR, expected_version=view.version)
    assert (await services.tickets.get(view.number)).title == "Порыв на Ленина"


async def test_concurrent_edits_from_the_same_version_one_wins(services: Services) -> None:
    view = await services.tickets.create(leak(), OPERATOR)
    results = await asyncio.gather(
        services.tickets.edit(view.number, {"title": "A"}, OPERATOR, expected_version=1),
        services.tickets.edit(view.number, {"title": "B"}, SUPERVISOR, expected_version=1),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "TicketView"]
    winner = next(r for r in results if not isinstance(r, Exception))
    assert (await services.tickets.get(view.number)).title == winner.title


async def test_numbers_are_unique_under_concurrent_creation(services: Services) -> None:
    views = await asyncio.gather(
        *(services.tickets.create(leak(phone=f"+7978555{i:04d}"), OPERATOR) for i in range(40))
    )
    numbers = [v.number for v in views]
    assert len(set(numbers)) == 40
    async with services.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(m.Ticket))).scalar_one() == 40


async def test_concurrent_creation_from_separate_engines(services: Services, settings: object) -> None:
    """Two app instances (two engines, two pools) hand out numbers from one counter."""
    from callcenter.app import build_services

    other = build_services(services.settings)
    try:
        batches = await asyncio.gather(
            *(
                svc.tickets.create(leak(phone=f"+7978444{i:04d}"), OPERATOR)
                for i in range(25)
                for svc in (services, other)
            )
        )
    finally:
        await other.engine.dispose()
    assert len({v.number for v in batches}) == 50


async def test_draft_must_be_confirmed_before_dispatch(services: Services) -> None:
    draft = await services.tickets.create(leak(channel=Channel.IVR, is_draft=True), SYSTEM)
    with pytest.raises(IllegalTransition, match="черновик"):
        await services.tickets.move(draft.number, Status.DISPATCHED, OPERATOR)
    confirmed = await services.tickets.edit(draft.number, {"address": "ул. Ленина, д. 7"}, OPERATOR, confirm_draft=True)
    assert not confirmed.is_draft
    assert (await services.tickets.move(draft.number, Status.DISPATCHED, OPERATOR)).status is Status.DISPATCHED


async def test_duplicate_is_linked_to_its_original(services: Services) -> None:
    original = await services.tickets.create(leak(), OPERATOR)
    dup = await services.tickets.create(leak(phone="+79785550000"), OPERATOR)
    rejected = await services.tickets.move(dup.number, Status.REJECTED, OPERATOR, duplicate_of=original.number)
    assert rejected.duplicate_of == original.number
    assert (await services.tickets.detail(original.number)).duplicates == [dup.number]
    with pytest.raises(ValidationError):
        other = await services.tickets.create(leak(), OPERATOR)
        await services.tickets.move(other.number, Status.REJECTED, OPERATOR, duplicate_of="2699999")


async def test_unknown_ticket_category_and_phone(services: Services) -> None:
    with pytest.raises(TicketNotFound):
        await services.tickets.move("2699999", Status.DISPATCHED, OPERATOR)
    with pytest.raises(ValidationError) as info:
        await services.tickets.create(leak(category="teleport"), OPERATOR)
    assert info.value.field == "category"
    with pytest.raises(ValidationError) as info:
        await services.tickets.create(leak(phone="12"), OPERATOR)
    assert info.value.field == "phone"


async def test_phone_lookup_merges_channels(services: Services) -> None:
    await services.tickets.create(leak(phone="8 978 123-45-67", channel=Channel.PHONE), OPERATOR)
    await services.tickets.create(leak(phone="+7(978)1234567", channel=Channel.WEB), OPERATOR)
    await services.tickets.create(leak(phone="+79780000000"), OPERATOR)
    mine = await services.tickets.tickets_for_phone("978 123 45 67")
    assert sorted(v.channel.value for v in mine) == ["phone", "web"]
    page = await services.tickets.list(TicketFilter(phone="89781234567"))
    assert len(page.rows) == 2


async def test_russian_full_text_search_finds_word_forms(services: Services) -> None:
    await services.tickets.create(leak(description="Затопило подвал, течёт труба"), OPERATOR)
    await services.tickets.create(
        leak(category="street_lighting", title="Не горят фонари", description="На улице темно, не горит освещение"),
        OPERATOR,
    )
    found = await services.tickets.list(TicketFilter(query="трубы"))
    assert [v.title for v in found.rows] == ["Порыв водопровода"]
    assert len((await services.tickets.list(TicketFilter(query="фонарь"))).rows) == 1
    assert len((await services.tickets.list(TicketFilter(query="освещения"))).rows) == 1
    assert (await services.tickets.list(TicketFilter(query='" OR 1=1 --'))).rows == []


async def test_exact_lookups_by_number_and_address(services: Services) -> None:
    a = await services.tickets.create(leak(street="улица Ленина", house="5"), OPERATOR)
    await services.tickets.create(leak(street="улица Ленина", house="7"), OPERATOR)
    assert [v.number for v in (await services.tickets.list(TicketFilter(query=a.number))).rows] == [a.number]
    by_address = await services.tickets.list(TicketFilter(street="улица Ленина", house="5"))
    assert [v.number for v in by_address.rows] == [a.number]


async def test_keyset_paging_newest_first_with_filters(services: Services) -> None:
    for i in range(7):
        await services.tickets.create(leak(phone=f"+7978111{i:04d}"), OPERATOR)
    first = await services.tickets.list(TicketFilter(statuses=(Status.NEW,)), limit=3)
    second = await services.tickets.list(TicketFilter(statuses=(Status.NEW,)), before_id=first.next_before_id, limit=3)
    third = await services.tickets.list(TicketFilter(statuses=(Status.NEW,)), before_id=second.next_before_id, limit=3)
    numbers = [v.number for v in first.rows + second.rows + third.rows]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == 7
    assert third.next_before_id is None


async def test_date_filter_uses_the_service_time_zone(services: Services) -> None:
    # 23:30 UTC on 1 Nov is 02:30 on 2 Nov in Simferopol (UTC+3).
    clock_time = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    svc = TicketService(services.sessions, clock=lambda: clock_time, zone=services.settings.zone)
    await svc.create(leak(), OPERATOR)
    day = clock_time.astimezone(services.settings.zone).date()
    assert len((await services.tickets.list(TicketFilter(date_from=day, date_to=day))).rows) == 1
    assert (await services.tickets.list(TicketFilter(date_to=day - timedelta(days=1)))).rows == []


async def test_status_changes_are_published_for_live_boards(services: Services) -> None:
    with services.hub.subscribe() as sub:
        view = await services.tickets.create(leak(), OPERATOR)
        await services.tickets.move(view.number, Status.DISPATCHED, OPERATOR)
        created, moved = sub.queue.get_nowait(), sub.queue.get_nowait()
    assert created["change"] == "created" and moved["status"] == "dispatched" and moved["previous"] == "new"
