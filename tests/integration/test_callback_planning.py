"""Planning callbacks when tickets become done: due times, merging, duplicates, reconcile."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from callcenter.domain.callbacks import CallbackMode, CallbackState, CallWindow
from callcenter.domain.tickets import Channel, Status
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket
from tests.integration.test_callback_support import (
    OPERATOR,
    SUPERVISOR,
    build_rig,
    local,
    set_category_callback,
)


async def test_done_ticket_plans_one_callback_after_the_delay(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    ticket = await rig.done_ticket("+7 978 000-11-22")
    [cb] = await rig.callbacks_rows()
    assert cb.state == CallbackState.PLANNED and cb.mode == CallbackMode.AUTO
    assert cb.phone == "+79780001122"
    assert cb.due_at == local(2026, 12, 2, 12, 15)  # CALLCENTER_CALLBACK_DELAY_SECONDS=900
    assert cb.priority == 1  # water_leak is an emergency category
    assert (cb.window_start, cb.window_end) == (9 * 60, 21 * 60)
    [link] = await rig.links(cb.id)
    assert link.ticket_id == ticket.id and link.via_ticket_id is None
    assert link.done_at == rig.clock.now


async def test_ticket_done_in_the_evening_is_called_next_morning(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 20, 50))
    await rig.done_ticket("+79780001122")
    [cb] = await rig.callbacks_rows()
    assert cb.due_at == local(2026, 12, 3, 9, 0)


async def test_citizen_with_several_done_tickets_gets_one_call(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    first = await rig.done_ticket("+79780001122", category="garbage", title="Мусор")
    rig.clock.advance(minutes=5)
    second = await rig.done_ticket("89780001122", category="water_leak")
    other = await rig.done_ticket("+79780009999", category="garbage")
    rows = await rig.callbacks_rows()
    assert len(rows) == 2
    mine = next(r for r in rows if r.phone == "+79780001122")
    assert [link.ticket_id for link in await rig.links(mine.id)] == [first.id, second.id]
    assert mine.priority == 1  # the merged call takes the most urgent priority
    assert mine.due_at == local(2026, 12, 2, 12, 15)  # joining never postpones the call
    assert [link.ticket_id for link in await rig.links(next(r for r in rows if r.phone == "+79780009999").id)] == [
        other.id
    ]


async def test_category_hours_narrow_the_merged_window(services) -> None:
    from callcenter.domain.callbacks import CallbackPolicy

    policy = CallbackPolicy.from_settings(services.settings)
    policy = CallbackPolicy(
        zone=policy.zone,
        delay=policy.delay,
        window=policy.window,
        days=policy.days,
        retry_delays=policy.retry_delays,
        max_attempts=policy.max_attempts,
        category_windows={"garbage": CallWindow.parse("13:00-18:00")},
    )
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0), policy=policy)
    await rig.done_ticket("+79780001122", category="water_leak")
    [cb] = await rig.callbacks_rows()
    assert cb.due_at == local(2026, 12, 2, 12, 15)
    await rig.done_ticket("+79780001122", category="garbage")
    [cb] = await rig.callbacks_rows()
    assert (cb.window_start, cb.window_end) == (13 * 60, 18 * 60)
    assert cb.due_at == local(2026, 12, 2, 13, 0)


async def test_everyone_who_reported_a_duplicate_is_called_too(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    original = await rig.tickets.create(
        NewTicket(channel=Channel.PHONE, phone="+79780001111", category="water_leak", title="Течь"), OPERATOR
    )
    dups = []
    for phone in ("+79780002222", "+79780003333", "+79780001111"):
        dup = await rig.tickets.create(
            NewTicket(channel=Channel.WEB, phone=phone, category="water_leak", title="Течь"), OPERATOR
        )
        dups.append(await rig.tickets.move(dup.number, Status.REJECTED, OPERATOR, duplicate_of=original.number))
    for status in (Status.DISPATCHED, Status.IN_PROGRESS):
        await rig.tickets.move(original.number, status, OPERATOR)
    await rig.tickets.move(original.number, Status.DONE, OPERATOR, note="Устранено")
    rows = await rig.callbacks_rows()
    assert sorted(r.phone for r in rows) == ["+79780001111", "+79780002222", "+79780003333"]
    for row in rows:
        [link] = await rig.links(row.id)
        assert link.ticket_id == original.id  # everyone is called about the original
        expected_via = {"+79780001111": None, "+79780002222": dups[0].id, "+79780003333": dups[1].id}[row.phone]
        assert link.via_ticket_id == expected_via  # the original's own reporter is called once


async def test_category_without_callback_plans_nothing(services) -> None:
    await set_category_callback(services, "garbage", False)
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    await rig.done_ticket("+79780001122", category="garbage")
    assert await rig.callbacks_rows() == []
    assert await rig.store.tickets_missing_callback() == []


async def test_ticket_without_phone_plans_nothing(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    await rig.done_ticket(None)
    assert await rig.callbacks_rows() == []
    assert await rig.store.tickets_missing_callback() == []


async def test_planning_twice_is_harmless_and_reconcile_finds_missed_tickets(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    rig.tickets.on_status_change.clear()  # as if the listener had failed or the app stopped
    ticket = await rig.done_ticket("+79780001122")
    assert await rig.callbacks_rows() == []
    assert await rig.callbacks.plan_missing() == 1
    assert await rig.callbacks.plan_missing() == 0
    [cb] = await rig.callbacks_rows()
    await rig.callbacks.plan(ticket.id, rig.clock.now)  # the listener arriving late: nothing new
    assert [r.id for r in await rig.callbacks_rows()] == [cb.id]
    assert len(await rig.links(cb.id)) == 1


async def test_failed_listener_never_breaks_the_status_move(services, monkeypatch) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))

    async def broken(*args, **kwargs):
        raise ConnectionError("database restarting")

    monkeypatch.setattr(rig.store, "plan_for_done", broken)
    ticket = await rig.done_ticket("+79780001122")
    assert ticket.status is Status.DONE
    monkeypatch.undo()
    assert await rig.callbacks.plan_missing() == 1


async def test_reopened_by_staff_cancels_the_planned_call(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    ticket = await rig.done_ticket("+79780001122")
    await rig.tickets.move(ticket.number, Status.IN_PROGRESS, SUPERVISOR, note="Исполнитель не закончил работу")
    [cb] = await rig.callbacks_rows()
    assert cb.state == CallbackState.CANCELLED
    assert await rig.links(cb.id) == []
    rig.clock.advance(hours=1)
    await rig.tickets.move(ticket.number, Status.DONE, OPERATOR, note="Теперь закончил")
    rows = await rig.callbacks_rows()
    assert [r.state for r in rows] == [CallbackState.CANCELLED, CallbackState.PLANNED]
    assert rows[1].due_at == rig.clock.now + timedelta(minutes=15)


async def test_closed_by_staff_keeps_calling_the_duplicates_reporters(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    original = await rig.tickets.create(
        NewTicket(channel=Channel.PHONE, phone="+79780001111", category="water_leak", title="Течь"), OPERATOR
    )
    dup = await rig.tickets.create(
        NewTicket(channel=Channel.WEB, phone="+79780002222", category="water_leak", title="Течь"), OPERATOR
    )
    await rig.tickets.move(dup.number, Status.REJECTED, OPERATOR, duplicate_of=original.number)
    for status in (Status.DISPATCHED, Status.IN_PROGRESS):
        await rig.tickets.move(original.number, status, OPERATOR)
    await rig.tickets.move(original.number, Status.DONE, OPERATOR, note="Устранено")
    await rig.tickets.move(original.number, Status.CLOSED, SUPERVISOR, note="Заявитель сам позвонил и подтвердил")
    states = {r.phone: r.state for r in await rig.callbacks_rows()}
    assert states == {"+79780001111": CallbackState.CANCELLED, "+79780002222": CallbackState.PLANNED}


async def test_operator_mode_when_configured(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0), mode=CallbackMode.OPERATOR)
    await rig.done_ticket("+79780001122")
    [cb] = await rig.callbacks_rows()
    assert cb.mode == CallbackMode.OPERATOR
    async with services.sessions() as session:
        assert (await session.execute(select(m.CallbackAttempt))).first() is None
