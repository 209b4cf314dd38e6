"""The dispatch loop against the Dialer port: originate, outcomes, retries, leases, a link that is down."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.callbacks.dialer import DialResult
from callcenter.callbacks.store import CallbackNotFound
from callcenter.domain.callbacks import AttemptResult, CallbackMode, CallbackState
from callcenter.domain.errors import MissingField, ValidationError
from callcenter.domain.tickets import Role, Status
from tests.integration.test_callback_support import SUPERVISOR, build_rig, local


async def _due_rig(services, **kwargs):
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0), **kwargs)
    ticket = await rig.done_ticket("+79780001122")
    rig.clock.advance(minutes=15)
    return rig, ticket


async def test_done_originate_answered_satisfied_closes_the_ticket(services) -> None:
    rig, ticket = await _due_rig(services)
    await rig.tick()
    [call] = rig.dialer.calls
    [cb] = await rig.callbacks_rows()
    assert (call.phone, call.callback_id, call.ticket_numbers) == ("+79780001122", cb.id, (ticket.number,))
    assert call.attempt_row_existed  # the key was stored before dialling
    assert cb.state == CallbackState.CLAIMED and cb.lease_until == rig.clock.now + timedelta(seconds=300)
    await rig.outcomes.record_callback_outcome(
        ticket_number=ticket.number,
        callback_id=str(cb.id),
        outcome="satisfied",
        comment_recording=None,
        call_uniqueid="cc-" + call.action_id,
    )
    closed = await rig.tickets.detail(ticket.number)
    assert closed.ticket.status is Status.CLOSED
    last = closed.events[-1]
    assert last.note.startswith("Заявитель подтвердил выполнение") and last.actor_role == Role.SYSTEM
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.outcome, cb.completed_at) == (CallbackState.DONE, "satisfied", rig.clock.now)
    [attempt] = await rig.attempts(cb.id)
    assert (attempt.result, attempt.action_id, attempt.call_uniqueid) == (
        "satisfied",
        call.action_id,
        "cc-" + call.action_id,
    )
    assert [link.applied_at for link in await rig.links(cb.id)] == [rig.clock.now]
    await rig.tick()
    assert len(rig.dialer.calls) == 1  # a finished callback is never dialled again


async def test_busy_then_answered_not_satisfied_reopens_with_the_recording(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.script = [DialResult.BUSY, DialResult.ANSWERED]
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts, cb.last_result) == (CallbackState.PLANNED, 1, "busy")
    assert cb.due_at == rig.clock.now + timedelta(minutes=15)
    await rig.tick()
    assert len(rig.dialer.calls) == 1  # not due yet
    rig.clock.advance(minutes=15)
    await rig.tick()
    first, second = rig.dialer.calls
    assert first.action_id != second.action_id
    recording = Path(services.settings.data_dir) / "recordings" / "callback-comment.wav"
    recording.parent.mkdir(parents=True)
    recording.write_bytes(b"RIFF....WAVE" + b"\0" * 100)
    await rig.outcomes.record_callback_outcome(
        ticket_number=ticket.number,
        callback_id=str(cb.id),
        outcome="not_satisfied",
        comment_recording=str(recording),
        call_uniqueid="1795979659.18",
    )
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.IN_PROGRESS
    assert detail.ticket.department == ticket.department  # the same executor
    assert detail.events[-1].note.startswith("Заявитель не удовлетворён выполнением")
    assert detail.events[-1].data.get("reopened") is True
    [attachment] = [a for a in detail.attachments if a.kind == "comment"]
    assert (attachment.path, attachment.size, attachment.public) == ("recordings/callback-comment.wav", 112, False)
    results = [a.result for a in await rig.attempts(cb.id)]
    assert results == ["busy", "not_satisfied"]


async def test_no_answer_three_times_makes_it_unreachable_for_a_supervisor(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.default = DialResult.NO_ANSWER
    for wait in (15, 120):
        await rig.tick()
        rig.clock.advance(minutes=wait)
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts, cb.outcome) == (CallbackState.UNREACHABLE, 3, "unreachable")
    assert [a.result for a in await rig.attempts(cb.id)] == ["no_answer"] * 3
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.DONE  # never closed without the citizen
    assert "Не удалось дозвониться" in detail.events[-1].note
    rig.clock.advance(days=2)
    await rig.tick()
    assert len(rig.dialer.calls) == 3

    await rig.callbacks.retry_now(cb.id, SUPERVISOR)  # "повторить сейчас"
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts, cb.mode) == (CallbackState.PLANNED, 0, CallbackMode.AUTO)
    await rig.tick()
    assert len(rig.dialer.calls) == 4


async def test_supervisor_hands_over_or_marks_unreachable_but_never_closes(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.default = DialResult.BUSY
    for _ in range(3):
        await rig.tick()
        rig.clock.advance(days=1)
    [cb] = await rig.callbacks_rows()
    assert cb.state == CallbackState.UNREACHABLE
    await rig.callbacks.hand_to_operator(cb.id, SUPERVISOR)
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.mode, cb.attempts) == (CallbackState.PLANNED, CallbackMode.OPERATOR, 0)
    await rig.tick()
    assert len(rig.dialer.calls) == 3  # operators call it, not the dispatcher
    with pytest.raises(Exception, match="только звонок, по которому не дозвонились"):
        await rig.callbacks.mark_unreachable(cb.id, SUPERVISOR)


async def test_mark_unreachable_leaves_a_note_and_the_ticket_done(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.default = DialResult.FAILED
    for _ in range(3):
        await rig.tick()
        rig.clock.advance(days=1)
    [cb] = await rig.callbacks_rows()
    await rig.callbacks.mark_unreachable(cb.id, SUPERVISOR)
    [cb] = await rig.callbacks_rows()
    assert cb.state == CallbackState.GIVEN_UP
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.DONE
    assert "Отмечено как недозвон" in detail.events[-1].note and detail.events[-1].kind == "note"


async def test_link_down_when_due_nothing_is_lost(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.available = False
    for _ in range(3):
        report = await rig.dispatcher.tick()
        assert report.waiting_for_link and report.started == 0
        rig.clock.advance(minutes=10)
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts) == (CallbackState.PLANNED, 0)
    assert rig.dialer.calls == [] and await rig.attempts(cb.id) == []
    rig.dialer.available = True
    await rig.tick()
    assert [c.callback_id for c in rig.dialer.calls] == [cb.id]


async def test_link_dropping_between_claim_and_dial_is_not_counted(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.script = [DialResult.NOT_SENT]
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts) == (CallbackState.PLANNED, 0)
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert cb.state == CallbackState.CLAIMED and len(rig.dialer.calls) == 2
    assert [a.result for a in await rig.attempts(cb.id)] == ["not_sent", None]


async def test_restart_in_the_middle_of_a_call_is_recovered_after_the_lease(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.hold = asyncio.Event()
    await rig.dispatcher.tick()
    await rig.dialer.wait_for(lambda: len(rig.dialer.calls) == 1)
    await rig.dispatcher.close(timeout=0)  # the process dies mid-call: no result recorded
    [cb] = await rig.callbacks_rows()
    assert cb.state == CallbackState.CLAIMED
    restarted = build_rig(services, start=rig.clock.now, dialer=rig.dialer)
    restarted.dialer.hold = None
    await restarted.tick()
    assert len(rig.dialer.calls) == 1  # the lease still holds: nobody dials it twice
    restarted.clock.advance(seconds=services.settings.callback_lease_seconds + 1)
    await restarted.tick()
    first, second = rig.dialer.calls
    assert first.callback_id == second.callback_id and first.action_id != second.action_id
    attempts = await restarted.attempts(cb.id)
    assert [(a.action_id, a.result) for a in attempts] == [(first.action_id, "lost"), (second.action_id, None)]
    [cb] = await restarted.callbacks_rows()
    assert (cb.state, cb.attempts, cb.claimed_by) == (CallbackState.CLAIMED, 2, restarted.dispatcher.owner)


async def test_cap_on_concurrent_calls(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0), max_concurrent=2)
    for i in range(5):
        await rig.done_ticket(f"+7978000{i:04d}")
    rig.clock.advance(minutes=15)
    rig.dialer.hold = asyncio.Event()
    await rig.dispatcher.tick()
    await rig.dispatcher.tick()
    await rig.dialer.wait_for(lambda: rig.dialer.in_flight == 2)
    assert len(rig.dialer.calls) == 2
    rig.dialer.hold.set()
    await rig.dispatcher.wait_idle(5)
    # Answered calls hold their line until the IVR reports; a line frees as each outcome arrives.
    await rig.tick()
    assert len(rig.dialer.calls) == 2
    first = rig.dialer.calls[0]
    await rig.outcomes.record_callback_outcome(
        ticket_number=first.ticket_numbers[0],
        callback_id=str(first.callback_id),
        outcome="satisfied",
        comment_recording=None,
        call_uniqueid="x",
    )
    await rig.tick()
    assert len(rig.dialer.calls) == 3 and rig.dialer.max_in_flight == 2


async def test_ivr_outcome_after_the_dial_timed_out_still_counts(services) -> None:
    rig, ticket = await _due_rig(services)
    rig.dialer.script = [DialResult.UNKNOWN]
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.last_result) == (CallbackState.PLANNED, "timed_out")
    assert [a.note for a in await rig.attempts(cb.id)] == ["fake unknown"]
    await rig.outcomes.record_callback_outcome(
        ticket_number=ticket.number,
        callback_id=str(cb.id),
        outcome="not_satisfied",
        comment_recording=None,
        call_uniqueid="u1",
    )
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.IN_PROGRESS
    # The dial's detail is not the citizen's words.
    assert detail.events[-1].note == "Заявитель не удовлетворён выполнением: комментарий не оставлен"
    assert [(a.result, a.note) for a in await rig.attempts(cb.id)] == [("not_satisfied", None)]


async def test_ivr_no_input_and_hangup_are_retried_operator_goes_to_the_list(services) -> None:
    rig, ticket = await _due_rig(services)
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    await rig.outcomes.record_callback_outcome(
        ticket_number=ticket.number,
        callback_id=str(cb.id),
        outcome="no_input",
        comment_recording=None,
        call_uniqueid="u1",
    )
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.due_at) == (CallbackState.PLANNED, rig.clock.now + timedelta(minutes=15))
    rig.clock.advance(minutes=15)
    await rig.tick()
    await rig.outcomes.record_callback_outcome(
        ticket_number=ticket.number, callback_id=None, outcome="operator", comment_recording=None, call_uniqueid="u2"
    )
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.mode, cb.due_at) == (CallbackState.PLANNED, CallbackMode.OPERATOR, rig.clock.now)
    assert [a.result for a in await rig.attempts(cb.id)] == ["no_input", "operator"]


async def test_bad_ivr_input_is_refused_and_changes_nothing(services) -> None:
    rig, ticket = await _due_rig(services)
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    with pytest.raises(ValidationError, match="Неизвестный итог"):
        await rig.outcomes.record_callback_outcome(
            ticket_number=ticket.number,
            callback_id=str(cb.id),
            outcome="happy",
            comment_recording=None,
            call_uniqueid="u",
        )
    with pytest.raises(ValidationError):
        await rig.outcomes.record_callback_outcome(
            ticket_number=ticket.number,
            callback_id=str(cb.id),
            outcome="busy",
            comment_recording=None,
            call_uniqueid="u",
        )
    with pytest.raises(CallbackNotFound, match="не найден"):
        await rig.outcomes.record_callback_outcome(
            ticket_number=ticket.number,
            callback_id="999999",
            outcome="satisfied",
            comment_recording=None,
            call_uniqueid="u",
        )
    with pytest.raises(CallbackNotFound):
        await rig.outcomes.record_callback_outcome(
            ticket_number="2699999", callback_id=None, outcome="satisfied", comment_recording=None, call_uniqueid="u"
        )
    [after] = await rig.callbacks_rows()
    assert (after.state, after.attempts) == (CallbackState.CLAIMED, 1)
    assert [a.result for a in await rig.attempts(cb.id)] == [None]
    assert (await rig.tickets.get(ticket.number)).status is Status.DONE


async def test_repeated_ivr_outcome_is_applied_once(services) -> None:
    rig, ticket = await _due_rig(services)
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    for _ in range(2):
        await rig.outcomes.record_callback_outcome(
            ticket_number=ticket.number,
            callback_id=str(cb.id),
            outcome="satisfied",
            comment_recording=None,
            call_uniqueid="u",
        )
    detail = await rig.tickets.detail(ticket.number)
    assert [e.to_status for e in detail.events if e.kind == "status"].count("closed") == 1
    assert len(await rig.attempts(cb.id)) == 1


async def test_a_crash_between_outcome_and_ticket_move_is_finished_by_the_next_tick(services) -> None:
    rig, ticket = await _due_rig(services)
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    # The outcome row is written, then the process stops before the ticket is moved.
    await rig.store.record_result(cb.id, AttemptResult.SATISFIED, rig.clock.now, late_ok=True)
    assert (await rig.tickets.get(ticket.number)).status is Status.DONE
    report = await rig.dispatcher.tick()
    assert report.applied == 1
    assert (await rig.tickets.get(ticket.number)).status is Status.CLOSED


async def test_one_call_covers_several_tickets_and_closes_them_all(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0))
    first = await rig.done_ticket("+79780001122")
    second = await rig.done_ticket("+79780001122", category="garbage")
    rig.clock.advance(minutes=15)
    await rig.tick()
    [call] = rig.dialer.calls
    assert call.ticket_numbers == (first.number, second.number)  # TICKET_ID is the first
    await rig.outcomes.record_callback_outcome(
        ticket_number=first.number,
        callback_id=str(call.callback_id),
        outcome="satisfied",
        comment_recording=None,
        call_uniqueid="u",
    )
    assert {(await rig.tickets.get(n)).status for n in (first.number, second.number)} == {Status.CLOSED}


async def test_duplicate_reporter_answer_is_noted_original_reporter_decides(services) -> None:
    from callcenter.domain.tickets import Channel
    from callcenter.tickets.schemas import NewTicket
    from tests.integration.test_callback_support import OPERATOR

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
    rig.clock.advance(minutes=15)
    await rig.tick()
    by_phone = {c.phone: c for c in rig.dialer.calls}
    await rig.outcomes.record_callback_outcome(
        ticket_number=original.number,
        callback_id=str(by_phone["+79780002222"].callback_id),
        outcome="satisfied",
        comment_recording=None,
        call_uniqueid="u",
    )
    detail = await rig.tickets.detail(original.number)
    assert detail.ticket.status is Status.DONE  # the reporter of the original decides
    assert f"заявке-дублю № {dup.number} подтвердил" in detail.events[-1].note
    await rig.outcomes.record_callback_outcome(
        ticket_number=original.number,
        callback_id=str(by_phone["+79780001111"].callback_id),
        outcome="satisfied",
        comment_recording=None,
        call_uniqueid="u",
    )
    assert (await rig.tickets.get(original.number)).status is Status.CLOSED


async def test_operator_mode_list_outcomes(services) -> None:
    rig, ticket = await _due_rig(services, mode=CallbackMode.OPERATOR)
    user = await services.users.create("smirnova", "операторпароль1", Role.OPERATOR, full_name="Смирнова")
    await rig.tick()
    assert rig.dialer.calls == []  # nothing is dialled automatically
    [cb] = await rig.callbacks_rows()
    with pytest.raises(MissingField):
        await rig.callbacks.record_operator_outcome(cb.id, user, "not_satisfied", "  ")
    await rig.callbacks.record_operator_outcome(cb.id, user, "busy")
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts, cb.due_at) == (CallbackState.PLANNED, 1, rig.clock.now + timedelta(minutes=15))
    rig.clock.advance(minutes=15)
    await rig.callbacks.record_operator_outcome(cb.id, user, "satisfied")
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.CLOSED
    assert detail.events[-1].actor_name == "Смирнова" and "звонок оператора Смирнова" in detail.events[-1].note
    attempts = await rig.attempts(cb.id)
    assert [(a.result, a.mode, a.operator_id) for a in attempts] == [
        ("busy", "operator", user.id),
        ("satisfied", "operator", user.id),
    ]


async def test_click_to_call_writes_the_attempt_first_and_operator_records_the_outcome(services) -> None:
    rig, ticket = await _due_rig(services, mode=CallbackMode.OPERATOR)
    user = await services.users.create(
        "smirnova", "операторпароль1", Role.OPERATOR, full_name="Смирнова", device="PJSIP/op1"
    )
    [cb] = await rig.callbacks_rows()
    start = await rig.callbacks.start_call(cb.id, user, rig.dialer)
    assert start.dialling and start.phone == "+79780001122"
    await rig.callbacks.wait_background(5)
    [click] = rig.dialer.clicks
    assert (click["device"], click["phone"], click["ticket"]) == ("PJSIP/op1", "+79780001122", ticket.number)
    [attempt] = await rig.attempts(cb.id)
    assert (attempt.action_id, attempt.result, attempt.operator_id) == (click["action_id"], None, user.id)
    await rig.callbacks.record_operator_outcome(cb.id, user, "not_satisfied", "Вода снова течёт")
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.IN_PROGRESS
    assert detail.events[-1].note == "Заявитель не удовлетворён выполнением: Вода снова течёт"
    [attempt] = await rig.attempts(cb.id)
    assert (attempt.result, attempt.note) == ("not_satisfied", "Вода снова течёт")


async def test_click_to_call_without_link_shows_the_number(services) -> None:
    rig, ticket = await _due_rig(services, mode=CallbackMode.OPERATOR)
    user = await services.users.create("smirnova", "операторпароль1", Role.OPERATOR, device="PJSIP/op1")
    other = await services.users.create("ivanova", "операторпароль2", Role.OPERATOR, device="PJSIP/op2")
    rig.dialer.available = False
    [cb] = await rig.callbacks_rows()
    start = await rig.callbacks.start_call(cb.id, user, rig.dialer)
    assert not start.dialling and "вручную" in start.message and start.phone == "+79780001122"
    assert rig.dialer.clicks == []
    with pytest.raises(Exception, match="взял другой сотрудник"):
        await rig.callbacks.start_call(cb.id, other, rig.dialer)


async def test_operators_cannot_call_at_night(services) -> None:
    rig, ticket = await _due_rig(services, mode=CallbackMode.OPERATOR)
    user = await services.users.create("smirnova", "операторпароль1", Role.OPERATOR, device="PJSIP/op1")
    rig.clock.set(local(2026, 12, 2, 22, 30))
    [cb] = await rig.callbacks_rows()
    with pytest.raises(Exception, match="часы обзвона 09:00-21:00"):
        await rig.callbacks.start_call(cb.id, user, rig.dialer)
