"""The 1563 ticket lifecycle as pure logic: statuses, who may move what, and timers.

new -> dispatched -> in_progress -> done -> closed -> archived, with
done -> in_progress (reopened with the citizen's words), new/dispatched -> rejected,
dispatched -> new (an executor returns a ticket that is not theirs).
Nothing here does I/O: the store asks :func:`plan_transition` and writes the event it returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcenter.domain.done_evidence import DEFAULT_DONE_RULE, DoneRule, check_done_evidence
from callcenter.domain.errors import IllegalTransition, MissingField, PermissionDenied


class Status(enum.StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CLOSED = "closed"
    ARCHIVED = "archived"
    REJECTED = "rejected"


STATUS_LABELS: dict[Status, str] = {
    Status.NEW: "Новая",
    Status.DISPATCHED: "Направлена исполнителю",
    Status.IN_PROGRESS: "Заявка принята в работу",
    Status.DONE: "Выполнено",
    Status.CLOSED: "Закрыта",
    Status.ARCHIVED: "В архиве",
    Status.REJECTED: "Отклонена",
}

OPEN_STATUSES = frozenset({Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE})


class Channel(enum.StrEnum):
    PHONE = "phone"  # taken by an operator during a call
    IVR = "ivr"  # voice message left in the IVR (starts as a draft)
    WEB = "web"  # the citizens' portal
    OPEN311 = "open311"  # a partner application through the Open311 API


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.PHONE: "Телефон",
    Channel.IVR: "Голосовое сообщение",
    Channel.WEB: "Портал",
    Channel.OPEN311: "Open311",
}


class Role(enum.StrEnum):
    OPERATOR = "operator"
    EXECUTOR = "executor"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    ADMIN = "admin"
    SYSTEM = "system"  # the IVR, the callback dispatcher, scheduled jobs
    CITIZEN = "citizen"


ROLE_LABELS: dict[Role, str] = {
    Role.OPERATOR: "Оператор",
    Role.EXECUTOR: "Исполнитель",
    Role.SUPERVISOR: "Руководитель смены",
    Role.ANALYST: "Аналитик",
    Role.ADMIN: "Администратор",
    Role.SYSTEM: "Система",
    Role.CITIZEN: "Заявитель",
}


@dataclass(frozen=True)
class Actor:
    """Who does something: a staff user, the system, or a citizen."""

    role: Role
    name: str
    user_id: int | None = None
    department: str | None = None  # executors act only for their department

    @classmethod
    def system(cls, name: str = "система") -> Actor:
        return cls(role=Role.SYSTEM, name=name)


@dataclass(frozen=True)
class TicketState:
    """What the rules need to know about a ticket."""

    number: str
    status: Status
    department: str | None
    is_draft: bool = False


@dataclass(frozen=True)
class TransitionPlan:
    """A legal move, ready to be written as one event row."""

    from_status: Status
    to_status: Status
    note: str | None
    department: str | None
    duplicate_of: str | None = None
    reopened: bool = False


# (from, to) -> roles allowed to make that move.
_STAFF = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
ALLOWED_MOVES: dict[tuple[Status, Status], frozenset[Role]] = {
    (Status.NEW, Status.DISPATCHED): _STAFF,
    (Status.NEW, Status.REJECTED): _STAFF,
    (Status.DISPATCHED, Status.IN_PROGRESS): _STAFF | {Role.EXECUTOR},
    (Status.DISPATCHED, Status.NEW): _STAFF | {Role.EXECUTOR},
    (Status.DISPATCHED, Status.REJECTED): _STAFF,
    (Status.IN_PROGRESS, Status.DONE): _STAFF | {Role.EXECUTOR},
    (Status.DONE, Status.CLOSED): _STAFF | {Role.SYSTEM},
    (Status.DONE, Status.IN_PROGRESS): _STAFF | {Role.SYSTEM},
    (Status.CLOSED, Status.ARCHIVED): _STAFF | {Role.SYSTEM},
    (Status.REJECTED, Status.ARCHIVED): _STAFF | {Role.SYSTEM},
}

# Moves whose note is required, and the Russian hint shown when it is missing
# (in_progress -> done: per category, see callcenter.domain.done_evidence).
_NOTE_REQUIRED: dict[tuple[Status, Status], str] = {
    (Status.DONE, Status.IN_PROGRESS): "Запишите слова заявителя: почему он не удовлетворён выполнением",
    (
        Status.DONE,
        Status.CLOSED,
    ): "Укажите, как заявитель подтвердил выполнение: заявка закрывается только после его подтверждения",
    (Status.DISPATCHED, Status.NEW): "Укажите, почему заявка возвращается оператору",
}


def allowed_targets(status: Status, role: Role) -> list[Status]:
    """Statuses this role may move a ticket to from ``status`` (for buttons and help)."""
    return [to for (frm, to), roles in ALLOWED_MOVES.items() if frm == status and role in roles]


def _refuse(state: TicketState, to: Status, reason: str) -> IllegalTransition:
    return IllegalTransition(
        f"Заявка № {state.number}: нельзя перевести из «{STATUS_LABELS[state.status]}» "
        f"в «{STATUS_LABELS[to]}»: {reason}",
        details={"number": state.number, "from": state.status.value, "to": to.value},
    )


def plan_transition(
    state: TicketState,
    to: Status,
    actor: Actor,
    *,
    note: str | None = None,
    department: str | None = None,
    duplicate_of: str | None = None,
    done_rule: DoneRule = DEFAULT_DONE_RULE,
    photos: int = 0,
) -> TransitionPlan | None:
    """Check a status move against the lifecycle; return the plan, or None if already there.

    Calling it twice for the same target is safe: the second call returns None.
    «Выполнено» is checked against the category's ``done_rule`` (``photos``: how many photos
    come with the move), see :mod:`callcenter.domain.done_evidence`.
    """
    to = Status(to)
    note = (note or "").strip() or None
    if state.status == to:
        return None
    roles = ALLOWED_MOVES.get((state.status, to))
    if roles is None:
        raise _refuse(state, to, _why_never(state.status, to))
    if actor.role not in roles:
        raise PermissionDenied(
            f"Заявка № {state.number}: роль «{ROLE_LABELS[actor.role]}» не может переводить заявку "
            f"в «{STATUS_LABELS[to]}»",
            details={"number": state.number, "role": actor.role.value, "to": to.value},
        )
    if actor.role is Role.EXECUTOR and actor.department != state.department:
        raise PermissionDenied(
            f"Заявка № {state.number} направлена другому исполнителю",
            details={"number": state.number, "department": state.department},
        )
    if (state.status, to) == (Status.IN_PROGRESS, Status.DONE):
        check_done_evidence(done_rule, note=note, photos=photos)
        return _build_plan(state, to, note, department, duplicate_of)
    hint = _NOTE_REQUIRED.get((state.status, to))
    if hint and not note:
        raise MissingField(hint, field="note")
    return _build_plan(state, to, note, department, duplicate_of)


def _build_plan(
    state: TicketState, to: Status, note: str | None, department: str | None, duplicate_of: str | None
) -> TransitionPlan:
    if to is Status.DISPATCHED:
        if state.is_draft:
            raise _refuse(state, to, "черновик из голосового сообщения сначала должен проверить оператор")
        department = department or state.department
        if not department:
            raise MissingField("Выберите исполнителя, которому направляется заявка", field="department")
    elif to is Status.REJECTED:
        if not note and not duplicate_of:
            raise MissingField("Укажите причину отказа или номер заявки, дублем которой является эта", field="note")
        if duplicate_of and duplicate_of == state.number:
            raise MissingField("Заявка не может быть дублем самой себя", field="duplicate_of")
        department = state.department
    else:
        department = state.department
    reopened = state.status is Status.DONE and to is Status.IN_PROGRESS
    return TransitionPlan(state.status, to, note, department, duplicate_of, reopened)


def _why_never(frm: Status, to: Status) -> str:
    if frm in (Status.CLOSED, Status.ARCHIVED, Status.REJECTED):
        return "работа по заявке завершена"
    if to is Status.CLOSED:
        return "закрыть можно только выполненную заявку после подтверждения заявителя"
    if to is Status.DONE:
        return "выполненной можно отметить только заявку, принятую в работу"
    if to is Status.IN_PROGRESS:
        return "в работу принимается только заявка, направленная исполнителю"
    if to is Status.ARCHIVED:
        return "в архив переносятся только закрытые или отклонённые заявки"
    return "такой переход не предусмотрен порядком работы"


# ---------------------------------------------------------------- timers


@dataclass(frozen=True)
class StatusEvent:
    """One status change as the timers see it."""

    at: datetime
    to_status: Status


@dataclass(frozen=True)
class Timers:
    """Durations derived from events; None while a stage has not been reached."""

    to_dispatch: timedelta | None = None
    to_accept: timedelta | None = None
    to_done: timedelta | None = None
    to_close: timedelta | None = None
    since_last_change: timedelta | None = None
    reopen_count: int = 0
    stages: dict[str, datetime] = field(default_factory=dict)


def compute_timers(created_at: datetime, events: list[StatusEvent], now: datetime) -> Timers:
    """Derive each stage's time from the first time the ticket reached it.

    ``to_accept`` counts from dispatch, ``to_done`` from acceptance, ``to_close`` from done
    (the callback loop); a reopen does not reset the first-reached times.
    """
    first: dict[Status, datetime] = {}
    reopens = 0
    previous: Status | None = Status.NEW
    last_change = created_at
    for event in sorted(events, key=lambda e: e.at):
        first.setdefault(event.to_status, event.at)
        if previous is Status.DONE and event.to_status is Status.IN_PROGRESS:
            reopens += 1
        previous = event.to_status
        last_change = event.at

    def span(start: datetime | None, end: datetime | None) -> timedelta | None:
        return end - start if start is not None and end is not None else None

    return Timers(
        to_dispatch=span(created_at, first.get(Status.DISPATCHED)),
        to_accept=span(first.get(Status.DISPATCHED), first.get(Status.IN_PROGRESS)),
        to_done=span(first.get(Status.IN_PROGRESS), first.get(Status.DONE)),
        to_close=span(first.get(Status.DONE), first.get(Status.CLOSED)),
        since_last_change=now - last_change,
        reopen_count=reopens,
        stages={status.value: at for status, at in first.items()},
    )


def format_duration(value: timedelta | None) -> str:
    """Minutes and seconds as the real service shows them: ``125:07``; ``—`` when unknown."""
    if value is None:
        return "—"
    total = max(0, int(value.total_seconds()))
    minutes, seconds = divmod(total, 60)
    return f"{minutes}:{seconds:02d}"


@dataclass(frozen=True)
class Targets:
    """Service-level targets (from config and the category)."""

    dispatch: timedelta = timedelta(minutes=1)
    accept: timedelta = timedelta(minutes=30)
    done: timedelta = timedelta(hours=24)


def is_overdue(status: Status, since_last_change: timedelta, targets: Targets) -> bool:
    """A ticket past the target of the stage it is waiting in is shown red."""
    limit = {
        Status.NEW: targets.dispatch,
        Status.DISPATCHED: targets.accept,
        Status.IN_PROGRESS: targets.done,
    }.get(status)
    return limit is not None and since_last_change > limit
