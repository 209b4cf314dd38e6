"""Every legal and illegal status move, by role, and the timers derived from events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.errors import IllegalTransition, MissingField, PermissionDenied
from callcenter.domain.tickets import (
    ALLOWED_MOVES,
    Actor,
    Role,
    Status,
    StatusEvent,
    Targets,
    TicketState,
    allowed_targets,
    compute_timers,
    format_duration,
    is_overdue,
    plan_transition,
)

OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="Руководитель")
EXECUTOR = Actor(role=Role.EXECUTOR, name="Водоканал", department="vodokanal")
OTHER_EXECUTOR = Actor(role=Role.EXECUTOR, name="Горсвет", department="gorsvet")
SYSTEM = Actor.system()
NOTES = {"note": "есть примечание", "department": "vodokanal"}

ALL_PAIRS = [(a, b) for a in Status for b in Status if a != b]


def state(status: Status, *, draft: bool = False, department: str | None = "vodokanal") -> TicketState:
    return TicketState("2600001", status, department, draft)


@pytest.mark.parametrize(("frm", "to"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_pair_is_allowed_exactly_when_the_table_says(frm: Status, to: Status) -> None:
    if (frm, to) in ALLOWED_MOVES:
        plan = plan_transition(state(frm), to, SUPERVISOR, **NOTES)
        assert plan is not None and plan.from_status is frm and plan.to_status is to
    else:
        with pytest.raises(IllegalTransition) as info:
            plan_transition(state(frm), to, SUPERVISOR, **NOTES)
        assert info.value.details == {"number": "2600001", "from": frm.value, "to": to.value}
        assert "Заявка № 2600001: нельзя перевести" in info.value.message


def test_the_main_path_of_the_real_service() -> None:
    path = [Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE, Status.CLOSED, Status.ARCHIVED]
    for frm, to in zip(path, path[1:], strict=False):
        assert (frm, to) in ALLOWED_MOVES


def test_moving_to_the_current_status_is_a_safe_no_op() -> None:
    assert plan_transition(state(Status.DONE), Status.DONE, OPERATOR) is None


def test_done_needs_a_note_of_what_was_done() -> None:
    with pytest.raises(MissingField) as info:
        plan_transition(state(Status.IN_PROGRESS), Status.DONE, EXECUTOR)
    assert info.value.field == "note"
    assert plan_transition(state(Status.IN_PROGRESS), Status.DONE, EXECUTOR, note="Заменили участок трубы")


def test_reopen_needs_the_citizens_words_and_is_marked() -> None:
    with pytest.raises(MissingField):
        plan_transition(state(Status.DONE), Status.IN_PROGRESS, SYSTEM)
    plan = plan_transition(state(Status.DONE), Status.IN_PROGRESS, SYSTEM, note="Вода всё ещё течёт")
    assert plan is not None and plan.reopened and plan.department == "vodokanal"


def test_close_requires_the_citizens_confirmation() -> None:
    with pytest.raises(MissingField) as info:
        plan_transition(state(Status.DONE), Status.CLOSED, OPERATOR)
    assert "подтверждения" in info.value.message


def test_a_draft_cannot_be_dispatched_before_an_operator_confirms_it() -> None:
    with pytest.raises(IllegalTransition) as info:
        plan_transition(state(Status.NEW, draft=True), Status.DISPATCHED, OPERATOR)
    assert "черновик" in info.value.message


def test_dispatch_needs_a_department() -> None:
    with pytest.raises(MissingField) as info:
        plan_transition(state(Status.NEW, department=None), Status.DISPATCHED, OPERATOR)
    assert info.value.field == "department"
    plan = plan_transition(state(Status.NEW, department=None), Status.DISPATCHED, OPERATOR, department="gorsvet")
    assert plan is not None and plan.department == "gorsvet"


def test_reject_needs_a_reason_or_an_original() -> None:
    with pytest.raises(MissingField):
        plan_transition(state(Status.NEW), Status.REJECTED, OPERATOR)
    plan = plan_transition(state(Status.NEW), Status.REJECTED, OPERATOR, duplicate_of="2600002")
    assert plan is not None and plan.duplicate_of == "2600002"
    with pytest.raises(MissingField):
        plan_transition(state(Status.NEW), Status.REJECTED, OPERATOR, duplicate_of="2600001")


def test_executor_only_accepts_and_completes_for_their_department() -> None:
    assert plan_transition(state(Status.DISPATCHED), Status.IN_PROGRESS, EXECUTOR)
    with pytest.raises(PermissionDenied):
        plan_transition(state(Status.DISPATCHED), Status.IN_PROGRESS, OTHER_EXECUTOR)
    with pytest.raises(PermissionDenied):
        plan_transition(state(Status.DONE), Status.CLOSED, EXECUTOR, note="сам закрыл")


def test_system_closes_or_reopens_after_a_callback_but_never_dispatches() -> None:
    assert plan_transition(state(Status.DONE), Status.CLOSED, SYSTEM, note="подтвердил в IVR")
    with pytest.raises(PermissionDenied):
        plan_transition(state(Status.NEW), Status.DISPATCHED, SYSTEM)


def test_allowed_targets_lists_the_buttons_a_role_gets() -> None:
    assert allowed_targets(Status.DISPATCHED, Role.EXECUTOR) == [Status.IN_PROGRESS, Status.NEW]
    assert allowed_targets(Status.ARCHIVED, Role.ADMIN) == []


def test_timers_from_events_and_reopen_count() -> None:
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    events = [
        StatusEvent(t0 + timedelta(seconds=50), Status.DISPATCHED),
        StatusEvent(t0 + timedelta(minutes=12), Status.IN_PROGRESS),
        StatusEvent(t0 + timedelta(hours=3), Status.DONE),
        StatusEvent(t0 + timedelta(hours=5), Status.IN_PROGRESS),
        StatusEvent(t0 + timedelta(hours=6), Status.DONE),
        StatusEvent(t0 + timedelta(hours=8), Status.CLOSED),
    ]
    timers = compute_timers(t0, list(reversed(events)), now=t0 + timedelta(hours=9))
    assert timers.to_dispatch == timedelta(seconds=50)
    assert timers.to_accept == timedelta(minutes=11, seconds=10)
    assert timers.to_done == timedelta(hours=3) - timedelta(minutes=12)
    assert timers.to_close == timedelta(hours=5)
    assert timers.since_last_change == timedelta(hours=1)
    assert timers.reopen_count == 1


def test_timers_of_a_new_ticket_are_unknown_but_it_ages() -> None:
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    timers = compute_timers(t0, [], now=t0 + timedelta(seconds=75))
    assert timers.to_dispatch is None and timers.since_last_change == timedelta(seconds=75)


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0:00"), (59, "0:59"), (61, "1:01"), (7507, "125:07")])
def test_durations_show_minutes_and_seconds(seconds: int, shown: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == shown
    assert format_duration(None) == "—"


def test_overdue_by_stage() -> None:
    targets = Targets(dispatch=timedelta(minutes=1), accept=timedelta(minutes=30), done=timedelta(hours=24))
    assert is_overdue(Status.NEW, timedelta(seconds=61), targets)
    assert not is_overdue(Status.NEW, timedelta(seconds=59), targets)
    assert is_overdue(Status.DISPATCHED, timedelta(minutes=31), targets)
    assert not is_overdue(Status.DONE, timedelta(days=5), targets)
