"""What the supervisors' callback board and the operators' callback list show: snapshots, not rows.

Counts and lists come from indexed queries; completion figures for a period are computed
here from the (callback, ticket) pairs concluded in it: completion rate (the citizen was
reached) and the median time from "done" to the citizen's confirmation, per department and
per operator, and per local day for the charts.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.callbacks import (
    MODE_LABELS,
    OVERDUE_AFTER,
    RESULT_LABELS,
    STATE_LABELS,
    AttemptResult,
    CallbackMode,
    CallbackPolicy,
    CallbackState,
    CallWindow,
    median_duration,
    share,
)
from callcenter.store import models as m

AUTO_LABEL = "Автоматический обзвон"
CONCLUDED = (CallbackState.DONE.value, CallbackState.UNREACHABLE.value, CallbackState.GIVEN_UP.value)
LIST_LIMIT = 50


@dataclass(frozen=True)
class TicketRef:
    number: str
    title: str
    department: str | None
    duplicate_of_call: bool  # this citizen reported a duplicate of the ticket


@dataclass(frozen=True)
class CallbackItem:
    id: int
    state: CallbackState
    mode: CallbackMode
    phone: str
    priority: int
    due_at: datetime
    attempts: int
    last_result: str | None
    claimed_by: str | None
    lease_until: datetime | None
    completed_at: datetime | None
    window: CallWindow
    tickets: tuple[TicketRef, ...]
    overdue: bool
    callable_now: bool
    mine: bool = False

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def mode_label(self) -> str:
        return MODE_LABELS[self.mode]

    @property
    def last_result_label(self) -> str:
        return result_label(self.last_result)


@dataclass(frozen=True)
class FailedAttempt:
    callback_id: int
    phone: str
    started_at: datetime
    note: str | None


@dataclass(frozen=True)
class Figures:
    """Completion figures of one group (a department, an operator, everything)."""

    key: str
    label: str
    concluded: int = 0
    reached: int = 0
    satisfied: int = 0
    not_satisfied: int = 0
    unreachable: int = 0
    median_to_confirm: timedelta | None = None

    @property
    def completion_rate(self) -> float | None:
        return share(self.reached, self.concluded)

    @property
    def satisfaction_rate(self) -> float | None:
        return share(self.satisfied, self.reached)


@dataclass(frozen=True)
class DayFigures:
    day: date
    planned: int
    satisfied: int
    not_satisfied: int
    unreachable: int
    median_to_confirm: timedelta | None


@dataclass(frozen=True)
class BoardSnapshot:
    taken_at: datetime
    period_start: date
    period_end: date
    counts: dict[str, int]
    due: list[CallbackItem]
    in_progress: list[CallbackItem]
    overdue: list[CallbackItem]
    unreachable: list[CallbackItem]
    failed: list[FailedAttempt]
    total: Figures
    by_department: list[Figures]
    by_operator: list[Figures]
    days: list[DayFigures] = field(default_factory=list)


def result_label(result: str | None) -> str:
    if not result:
        return ""
    try:
        return RESULT_LABELS[AttemptResult(result)]
    except ValueError:
        return result


@dataclass(frozen=True)
class _Pair:
    """One concluded (callback, ticket) pair of the period."""

    state: str
    outcome: str | None
    completed_at: datetime
    done_at: datetime | None
    department: str | None


class CallbackBoard:
    """Read-only queries for the board, the operators' list and the CSV export."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: CallbackPolicy,
        department_names: dict[str, str] | None = None,
        category_names: dict[str, str] | None = None,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._zone: ZoneInfo = policy.zone
        self._names = department_names or {}
        self._categories = category_names or {}

    def today(self, now: datetime) -> date:
        """The service's local date at ``now``."""
        return now.astimezone(self._zone).date()

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self._zone).astimezone(UTC)

    # ------------------------------------------------------------------ the board

    async def snapshot(self, now: datetime, start: date, end: date) -> BoardSnapshot:
        async with self._sessions() as session:
            counts = await self._counts(session, now)
            lists = {name: await self._items(session, stmt, now) for name, stmt in self._list_queries(now).items()}
            failed = await self._failed(session, now)
            pairs = await self._pairs(session, start, end)
            operators = await self._operator_figures(session, start, end)
            planned = await self._planned_per_day(session, start, end)
        return BoardSnapshot(
            taken_at=now,
            period_start=start,
            period_end=end,
            counts=counts,
            due=lists["due"],
            in_progress=lists["in_progress"],
            overdue=lists["overdue"],
            unreachable=lists["unreachable"],
            failed=failed,
            total=_figures("all", "Все исполнители", pairs),
            by_department=self._by_department(pairs),
            by_operator=operators,
            days=self._days(pairs, planned, start, end),
        )

    async def _counts(self, session: AsyncSession, now: datetime) -> dict[str, int]:
        cb = m.Callback
        today = self.local_midnight(now.astimezone(self._zone).date())
        planned = cb.state == CallbackState.PLANNED.value
        queries = {
            "due": planned & (cb.due_at <= now),
            "scheduled": planned & (cb.due_at > now),
            "overdue": planned & (cb.due_at <= now - OVERDUE_AFTER),
            "in_progress": cb.state == CallbackState.CLAIMED.value,
            "unreachable": cb.state == CallbackState.UNREACHABLE.value,
            "done_today": (cb.state == CallbackState.DONE.value) & (cb.completed_at >= today),
            "satisfied_today": (cb.state == CallbackState.DONE.value)
            & (cb.outcome == "satisfied")
            & (cb.completed_at >= today),
        }
        return {
            name: (await session.execute(select(func.count()).select_from(cb).where(cond))).scalar_one()
            for name, cond in queries.items()
        }

    def _list_queries(self, now: datetime) -> dict[str, Select[tuple[m.Callback]]]:
        cb = m.Callback
        planned = cb.state == CallbackState.PLANNED.value
        return {
            "due": select(cb).where(planned, cb.due_at <= now).order_by(cb.priority, cb.due_at).limit(LIST_LIMIT),
            "overdue": select(cb)
            .where(planned, cb.due_at <= now - OVERDUE_AFTER)
            .order_by(cb.due_at)
            .limit(LIST_LIMIT),
            "in_progress": select(cb)
            .where(cb.state == CallbackState.CLAIMED.value)
            .order_by(cb.lease_until)
            .limit(LIST_LIMIT),
            "unreachable": select(cb)
            .where(cb.state == CallbackState.UNREACHABLE.value)
            .order_by(cb.completed_at.desc())
            .limit(100),
        }

    async def _items(
        self, session: AsyncSession, stmt: Select[tuple[m.Callback]], now: datetime, owner: str | None = None
    ) -> list[CallbackItem]:
        rows = (await session.execute(stmt)).scalars().all()
        tickets = await self._tickets(session, [r.id for r in rows])
        return [self._item(r, tickets.get(r.id, ()), now, owner) for r in rows]

    def _item(self, cb: m.Callback, tickets: tuple[TicketRef, ...], now: datetime, owner: str | None) -> CallbackItem:
        window = CallWindow(cb.window_start, cb.window_end)
        state = CallbackState(cb.state)
        return CallbackItem(
            id=cb.id,
            state=state,
            mode=CallbackMode(cb.mode),
            phone=cb.phone,
            priority=cb.priority,
            due_at=cb.due_at,
            attempts=cb.attempts,
            last_result=cb.last_result,
            claimed_by=cb.claimed_by,
            lease_until=cb.lease_until,
            completed_at=cb.completed_at,
            window=window,
            tickets=tickets,
            overdue=state is CallbackState.PLANNED and now - cb.due_at > OVERDUE_AFTER,
            callable_now=self._policy.may_call(now, window),
            mine=owner is not None and cb.claimed_by == owner and cb.lease_until is not None and cb.lease_until > now,
        )

    async def _tickets(self, session: AsyncSession, ids: list[int]) -> dict[int, tuple[TicketRef, ...]]:
        if not ids:
            return {}
        rows = await session.execute(
            select(
                m.CallbackTicket.callback_id,
                m.Ticket.number,
                m.Ticket.title,
                m.Ticket.department_code,
                m.CallbackTicket.via_ticket_id,
            )
            .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
            .where(m.CallbackTicket.callback_id.in_(ids))
            .order_by(m.CallbackTicket.callback_id, m.CallbackTicket.via_ticket_id.is_not(None), m.Ticket.id)
        )
        found: dict[int, list[TicketRef]] = defaultdict(list)
        for callback_id, number, title, department, via in rows:
            found[callback_id].append(
                TicketRef(number, title, self._names.get(department or "", department), via is not None)
            )
        return {k: tuple(v) for k, v in found.items()}

    async def _failed(self, session: AsyncSession, now: datetime) -> list[FailedAttempt]:
        rows = await session.execute(
            select(
                m.CallbackAttempt.callback_id, m.Callback.phone, m.CallbackAttempt.started_at, m.CallbackAttempt.note
            )
            .join(m.Callback, m.Callback.id == m.CallbackAttempt.callback_id)
            .where(
                m.CallbackAttempt.result == AttemptResult.FAILED.value,
                m.CallbackAttempt.started_at >= now - timedelta(days=7),
            )
            .order_by(m.CallbackAttempt.started_at.desc())
            .limit(LIST_LIMIT)
        )
        return [FailedAttempt(*row) for row in rows]

    # ------------------------------------------------------------------ period figures

    async def _pairs(self, session: AsyncSession, start: date, end: date) -> list[_Pair]:
        lo, hi = self.local_midnight(start), self.local_midnight(end + timedelta(days=1))
        rows = await session.execute(
            select(
                m.Callback.state,
                m.Callback.outcome,
                m.Callback.completed_at,
                m.CallbackTicket.done_at,
                m.Ticket.department_code,
            )
            .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
            .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
            .where(m.Callback.state.in_(CONCLUDED), m.Callback.completed_at >= lo, m.Callback.completed_at < hi)
        )
        return [_Pair(*row) for row in rows]

    def _by_department(self, pairs: list[_Pair]) -> list[Figures]:
        groups: dict[str, list[_Pair]] = defaultdict(list)
        for pair in pairs:
            groups[pair.department or ""].append(pair)
        figures = [
            _figures(code, self._names.get(code, code) or "Без исполнителя", items) for code, items in groups.items()
        ]
        return sorted(figures, key=lambda f: (-f.concluded, f.label))

    async def _operator_figures(self, session: AsyncSession, start: date, end: date) -> list[Figures]:
        lo, hi = self.local_midnight(start), self.local_midnight(end + timedelta(days=1))
        rows = (
            await session.execute(
                select(
                    m.CallbackAttempt.operator_id,
                    m.CallbackAttempt.result,
                    m.CallbackAttempt.ended_at,
                    func.min(m.CallbackTicket.done_at),
                    m.User.full_name,
                    m.User.login,
                )
                .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.CallbackAttempt.callback_id)
                .outerjoin(m.User, m.User.id == m.CallbackAttempt.operator_id)
                .where(
                    m.CallbackAttempt.started_at >= lo,
                    m.CallbackAttempt.started_at < hi,
                    m.CallbackAttempt.result.is_not(None),
                    m.CallbackAttempt.result.not_in([AttemptResult.NOT_SENT.value, AttemptResult.LOST.value]),
                )
                .group_by(
                    m.CallbackAttempt.id,
                    m.CallbackAttempt.operator_id,
                    m.CallbackAttempt.result,
                    m.CallbackAttempt.ended_at,
                    m.User.full_name,
                    m.User.login,
                )
            )
        ).all()
        groups: dict[int | None, list[Any]] = defaultdict(list)
        names: dict[int | None, str] = {None: AUTO_LABEL}
        for operator_id, result, ended_at, done_at, full_name, login in rows:
            groups[operator_id].append((result, ended_at, done_at))
            if operator_id is not None:
                names[operator_id] = full_name or login or f"№ {operator_id}"
        return sorted(
            (_operator(key, names[key], items) for key, items in groups.items()), key=lambda f: (-f.concluded, f.label)
        )

    async def _planned_per_day(self, session: AsyncSession, start: date, end: date) -> dict[date, int]:
        lo, hi = self.local_midnight(start), self.local_midnight(end + timedelta(days=1))
        created = (
            (
                await session.execute(
                    select(m.Callback.created_at).where(m.Callback.created_at >= lo, m.Callback.created_at < hi)
                )
            )
            .scalars()
            .all()
        )
        per_day: dict[date, int] = defaultdict(int)
        for at in created:
            per_day[at.astimezone(self._zone).date()] += 1
        return per_day

    def _days(self, pairs: list[_Pair], planned: dict[date, int], start: date, end: date) -> list[DayFigures]:
        by_day: dict[date, list[_Pair]] = defaultdict(list)
        for pair in pairs:
            by_day[pair.completed_at.astimezone(self._zone).date()].append(pair)
        days = []
        day = start
        while day <= end:
            f = _figures("", "", by_day.get(day, []))
            days.append(
                DayFigures(day, planned.get(day, 0), f.satisfied, f.not_satisfied, f.unreachable, f.median_to_confirm)
            )
            day += timedelta(days=1)
        return days

    # ------------------------------------------------------------------ the operators' list

    async def operator_list(self, user_id: int, now: datetime) -> list[CallbackItem]:
        """Operator-mode callbacks that are due and free, and those this operator holds."""
        cb = m.Callback
        owner = f"user:{user_id}"
        free = (cb.state == CallbackState.PLANNED.value) & (cb.due_at <= now)
        held_by_me = (cb.state == CallbackState.CLAIMED.value) & (cb.claimed_by == owner) & (cb.lease_until > now)
        expired = (cb.state == CallbackState.CLAIMED.value) & (cb.lease_until <= now)
        stmt = (
            select(cb)
            .where(cb.mode == CallbackMode.OPERATOR.value, free | held_by_me | expired)
            .order_by(cb.priority, cb.due_at)
            .limit(100)
        )
        async with self._sessions() as session:
            items = await self._items(session, stmt, now, owner)
        return sorted(items, key=lambda i: (not i.mine, i.priority, i.due_at))

    # ------------------------------------------------------------------ CSV

    async def export_rows(self, start: date, end: date, batch: int = 1000) -> AsyncIterator[list[Any]]:
        """(callback, ticket) rows of callbacks planned in the period, in id order, batch by batch."""
        lo, hi = self.local_midnight(start), self.local_midnight(end + timedelta(days=1))
        after = 0
        while True:
            async with self._sessions() as session:
                ids = list(
                    (
                        await session.execute(
                            select(m.Callback.id)
                            .where(m.Callback.created_at >= lo, m.Callback.created_at < hi, m.Callback.id > after)
                            .order_by(m.Callback.id)
                            .limit(batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    return
                rows = await self._export_batch(session, ids)
            after = ids[-1]
            yield rows

    async def _export_batch(self, session: AsyncSession, ids: list[int]) -> list[list[Any]]:
        deciding = dict(
            (
                await session.execute(
                    select(m.CallbackAttempt.callback_id, func.coalesce(m.User.full_name, m.User.login))
                    .join(m.User, m.User.id == m.CallbackAttempt.operator_id)
                    .where(
                        m.CallbackAttempt.callback_id.in_(ids),
                        m.CallbackAttempt.result.in_(["satisfied", "not_satisfied"]),
                    )
                )
            ).all()
        )
        rows = await session.execute(
            select(
                m.Callback, m.CallbackTicket.done_at, m.Ticket.number, m.Ticket.department_code, m.Ticket.category_code
            )
            .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
            .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
            .where(m.Callback.id.in_(ids))
            .order_by(m.Callback.id, m.Ticket.id)
        )
        return [
            self._csv_row(cb, done_at, number, department, category, deciding.get(cb.id))
            for cb, done_at, number, department, category in rows
        ]

    def _csv_row(
        self,
        cb: m.Callback,
        done_at: datetime | None,
        number: str,
        department: str | None,
        category: str | None,
        operator: str | None,
    ) -> list[Any]:
        confirmed = cb.completed_at if cb.outcome == "satisfied" else None
        hours = round((confirmed - done_at).total_seconds() / 3600, 2) if confirmed and done_at else ""
        who = operator or (AUTO_LABEL if cb.outcome in ("satisfied", "not_satisfied") else "")
        return [
            cb.id,
            number,
            self._names.get(department or "", department or ""),
            self._categories.get(category or "", category or ""),
            cb.phone,
            STATE_LABELS[CallbackState(cb.state)],
            result_label(cb.outcome) or (cb.outcome or ""),
            MODE_LABELS[CallbackMode(cb.mode)],
            cb.attempts,
            self._local(done_at),
            self._local(cb.due_at),
            self._local(cb.completed_at),
            hours,
            who,
        ]

    def _local(self, value: datetime | None) -> str:
        return value.astimezone(self._zone).strftime("%d.%m.%Y %H:%M") if value else ""


CSV_HEADER = [
    "Обратный звонок",
    "Заявка",
    "Исполнитель",
    "Категория",
    "Телефон",
    "Состояние",
    "Итог",
    "Режим",
    "Попыток",
    "Выполнено",
    "Звонок назначен",
    "Завершён",
    "Часов до подтверждения",
    "Подтвердил (оператор)",
]


def csv_chunk(rows: Iterable[list[Any]]) -> bytes:
    """Rows as CSV bytes (``;``-separated: what Excel opens directly in a Russian locale)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _figures(key: str, label: str, pairs: Iterable[_Pair]) -> Figures:
    items = list(pairs)
    reached = [p for p in items if p.state == CallbackState.DONE.value]
    satisfied = [p for p in reached if p.outcome == "satisfied"]
    return Figures(
        key=key,
        label=label,
        concluded=len(items),
        reached=len(reached),
        satisfied=len(satisfied),
        not_satisfied=len(reached) - len(satisfied),
        unreachable=len(items) - len(reached),
        median_to_confirm=median_duration(p.completed_at - p.done_at for p in satisfied if p.done_at),
    )


def _operator(key: int | None, label: str, items: list[tuple[str, datetime | None, datetime | None]]) -> Figures:
    reached = [i for i in items if i[0] in ("satisfied", "not_satisfied")]
    satisfied = [i for i in reached if i[0] == "satisfied"]
    return Figures(
        key=str(key or "auto"),
        label=label,
        concluded=len(items),
        reached=len(reached),
        satisfied=len(satisfied),
        not_satisfied=len(reached) - len(satisfied),
        unreachable=len(items) - len(reached),
        median_to_confirm=median_duration(end - done for _, end, done in satisfied if end and done),
    )
