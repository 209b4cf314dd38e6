"""Callbacks after a ticket is done, as pure logic: when to call, what an outcome means.

The real service closes a ticket only when the citizen, called back, confirms the work was
done. Planning: the first call goes ``delay`` after "done", inside the calling window
(local time of the service, allowed week days, never at night); a busy line or no answer
is retried on a schedule; after ``max_attempts`` the callback is "unreachable" and a
supervisor decides. Nothing here does I/O or reads a clock: every function is given ``now``.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A due callback nobody has called for this long is shown red on the supervisors' board.
OVERDUE_AFTER = timedelta(hours=1)
# An operator who took a callback keeps it this long (at least) before others see it again.
OPERATOR_LEASE = timedelta(minutes=30)


class CallbackState(enum.StrEnum):
    PLANNED = "planned"  # waiting for its due time (first call or a retry)
    CLAIMED = "claimed"  # a dispatcher is dialling, or an operator took it
    DONE = "done"  # the citizen answered: satisfied or not
    UNREACHABLE = "unreachable"  # attempts used up: a supervisor decides
    GIVEN_UP = "given_up"  # a supervisor marked it as "недозвон"; the ticket stays done
    CANCELLED = "cancelled"  # every ticket it covered left "done" some other way


class CallbackMode(enum.StrEnum):
    AUTO = "auto"  # AMI Originate into the satisfaction IVR
    OPERATOR = "operator"  # on the operators' callback list


class AttemptResult(enum.StrEnum):
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # the network refused the call (no such number, congestion)
    NO_INPUT = "no_input"  # answered, pressed nothing
    HANGUP = "hangup"  # answered, hung up before choosing
    OPERATOR = "operator"  # pressed 0: the citizen wants a person
    TIMED_OUT = "timed_out"  # Asterisk never said what became of the call
    LOST = "lost"  # the claim expired (crash, restart) before a result came
    NOT_SENT = "not_sent"  # the AMI link was down: nothing was dialled, not counted


STATE_LABELS: dict[CallbackState, str] = {
    CallbackState.PLANNED: "Запланирован",
    CallbackState.CLAIMED: "Идёт звонок",
    CallbackState.DONE: "Завершён",
    CallbackState.UNREACHABLE: "Недозвон",
    CallbackState.GIVEN_UP: "Отмечен как недозвон",
    CallbackState.CANCELLED: "Отменён",
}

MODE_LABELS: dict[CallbackMode, str] = {
    CallbackMode.AUTO: "Автоматический",
    CallbackMode.OPERATOR: "Оператор",
}

RESULT_LABELS: dict[AttemptResult, str] = {
    AttemptResult.SATISFIED: "Доволен выполнением",
    AttemptResult.NOT_SATISFIED: "Не удовлетворён",
    AttemptResult.BUSY: "Занято",
    AttemptResult.NO_ANSWER: "Нет ответа",
    AttemptResult.FAILED: "Ошибка соединения",
    AttemptResult.NO_INPUT: "Ответил, но не выбрал",
    AttemptResult.HANGUP: "Положил трубку",
    AttemptResult.OPERATOR: "Попросил оператора",
    AttemptResult.TIMED_OUT: "Нет ответа от АТС",
    AttemptResult.LOST: "Звонок прерван (перезапуск)",
    AttemptResult.NOT_SENT: "АТС недоступна",
}

REACHED = frozenset({AttemptResult.SATISFIED, AttemptResult.NOT_SATISFIED})
# Results after which the citizen is called again later (or the callback becomes unreachable).
RETRYABLE = frozenset(
    {
        AttemptResult.BUSY,
        AttemptResult.NO_ANSWER,
        AttemptResult.FAILED,
        AttemptResult.NO_INPUT,
        AttemptResult.HANGUP,
        AttemptResult.TIMED_OUT,
        AttemptResult.LOST,
    }
)
# What an operator may record with one click on the callback list.
OPERATOR_RESULTS = (AttemptResult.SATISFIED, AttemptResult.NOT_SATISFIED, AttemptResult.BUSY, AttemptResult.NO_ANSWER)
# What the satisfaction IVR reports (callcenter.ivr.channel_vars.CALLBACK_OUTCOMES).
IVR_RESULTS = frozenset(
    {
        AttemptResult.SATISFIED,
        AttemptResult.NOT_SATISFIED,
        AttemptResult.OPERATOR,
        AttemptResult.NO_INPUT,
        AttemptResult.HANGUP,
    }
)


# ---------------------------------------------------------------- calling windows


_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


@dataclass(frozen=True, order=True)
class CallWindow:
    """Local hours when a citizen may be called, ``start <= t < end``, in minutes of the day."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"calling window {self.start}-{self.end} must lie within one day")

    @classmethod
    def parse(cls, text: str) -> CallWindow:
        """``09:00-21:00``; ``24:00`` ends at midnight. Raises ValueError on anything else."""
        match = _HOURS.fullmatch(text)
        if not match:
            raise ValueError(f"expected hours like 09:00-21:00, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"hours must be within 00:00-24:00, got {text!r}")
        return cls(h1 * 60 + m1, h2 * 60 + m2)

    @classmethod
    def from_times(cls, start: time, end: time) -> CallWindow:
        """From config's (start, end) pair, where an end of 23:59 means midnight."""
        end_min = end.hour * 60 + end.minute
        return cls(start.hour * 60 + start.minute, MINUTES_PER_DAY if end_min == 23 * 60 + 59 else end_min)

    def contains_minute(self, minute_of_day: int) -> bool:
        return self.start <= minute_of_day < self.end

    def intersect(self, other: CallWindow) -> CallWindow | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return CallWindow(start, end) if start < end else None

    def start_time(self) -> time:
        return time(self.start // 60, self.start % 60)

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def minute_of_day(local: datetime) -> int:
    return local.hour * 60 + local.minute


def parse_days(text: str) -> frozenset[int]:
    """``mon,tue,...`` -> weekday numbers (Monday 0)."""
    days = [d.strip().lower() for d in text.split(",") if d.strip()]
    unknown = [d for d in days if d not in WEEKDAYS]
    if not days or unknown:
        raise ValueError(f"expected days like mon,tue,...,sun, got {text!r}")
    return frozenset(WEEKDAYS.index(d) for d in days)


def parse_category_hours(entries: Iterable[str]) -> dict[str, CallWindow]:
    """``["water_leak=08:00-22:00", ...]`` -> {code: window}."""
    windows: dict[str, CallWindow] = {}
    for entry in entries:
        code, sep, hours = entry.partition("=")
        if not sep or not code.strip():
            raise ValueError(f"expected CODE=HH:MM-HH:MM, got {entry!r}")
        windows[code.strip()] = CallWindow.parse(hours)
    return windows


# ---------------------------------------------------------------- the policy


class Decision(enum.StrEnum):
    """What becomes of a callback after an attempt."""

    DONE = "done"  # reached: close or reopen the tickets
    RETRY = "retry"  # planned again at ``due_at``
    UNREACHABLE = "unreachable"  # attempts used up
    TO_OPERATOR = "to_operator"  # the citizen asked for a person: the operators' list
    RELEASE = "release"  # nothing happened (link down): planned again, not counted


@dataclass(frozen=True)
class Next:
    decision: Decision
    due_at: datetime | None = None


@dataclass(frozen=True)
class CallbackPolicy:
    """Calling hours, delays and retries; built from the settings, given ``now`` on each call."""

    zone: ZoneInfo = ZoneInfo("Europe/Simferopol")
    delay: timedelta = timedelta(minutes=15)
    window: CallWindow = CallWindow(9 * 60, 21 * 60)
    days: frozenset[int] = frozenset(range(7))
    retry_delays: tuple[timedelta, ...] = (timedelta(minutes=15), timedelta(hours=2), timedelta(days=1))
    max_attempts: int = 3
    category_windows: Mapping[str, CallWindow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("at least one calling day is needed")
        if self.max_attempts < 1 or not self.retry_delays:
            raise ValueError("max_attempts must be >= 1 and retry delays given")

    @classmethod
    def from_settings(cls, settings: Any) -> CallbackPolicy:
        """Build from :class:`callcenter.config.Settings` (already validated)."""
        start, end = settings.callback_window
        return cls(
            zone=settings.zone,
            delay=timedelta(seconds=settings.callback_delay_seconds),
            window=CallWindow.from_times(start, end),
            days=parse_days(settings.callback_days),
            retry_delays=tuple(timedelta(minutes=m) for m in settings.callback_retry_minutes),
            max_attempts=settings.callback_max_attempts,
            category_windows=parse_category_hours(settings.callback_category_hours),
        )

    def window_for(self, category: str | None) -> CallWindow:
        return self.category_windows.get(category or "", self.window)

    def merged_window(self, current: CallWindow, added: CallWindow) -> CallWindow:
        """One call covers tickets of several categories: call when all of them allow it."""
        return current.intersect(added) or current

    def local_minute(self, at: datetime) -> int:
        return minute_of_day(at.astimezone(self.zone))

    def is_calling_day(self, at: datetime) -> bool:
        return at.astimezone(self.zone).weekday() in self.days

    def may_call(self, at: datetime, window: CallWindow) -> bool:
        """True when a citizen may be called at ``at`` (allowed day, inside the window)."""
        local = at.astimezone(self.zone)
        return local.weekday() in self.days and window.contains_minute(minute_of_day(local))

    def next_callable(self, at: datetime, window: CallWindow) -> datetime:
        """The earliest moment at or after ``at`` when calling is allowed (UTC)."""
        local = at.astimezone(self.zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, window.start_time(), tzinfo=self.zone)
            if offset > 0 or minute_of_day(local) < window.start:
                return opens.astimezone(UTC)
            if window.contains_minute(minute_of_day(local)):
                return at.astimezone(UTC)
        raise AssertionError("no calling day within a week")  # days is never empty

    def first_due(self, done_at: datetime, window: CallWindow) -> datetime:
        """When to make the first call for a ticket done at ``done_at``."""
        return self.next_callable(done_at + self.delay, window)

    def retry_delay(self, attempts_made: int) -> timedelta:
        """Delay after the ``attempts_made``-th attempt (the last delay repeats)."""
        return self.retry_delays[min(max(attempts_made, 1), len(self.retry_delays)) - 1]

    def after_attempt(self, result: AttemptResult, attempts_made: int, now: datetime, window: CallWindow) -> Next:
        """What to do with a callback after an attempt ended with ``result``."""
        if result in REACHED:
            return Next(Decision.DONE)
        if result is AttemptResult.OPERATOR:
            return Next(Decision.TO_OPERATOR, self.next_callable(now, window))
        if result is AttemptResult.NOT_SENT:
            return Next(Decision.RELEASE)
        if attempts_made >= self.max_attempts:
            return Next(Decision.UNREACHABLE)
        # A lost claim (crash) is not the citizen's doing: call again as soon as allowed.
        wait = timedelta(0) if result is AttemptResult.LOST else self.retry_delay(attempts_made)
        return Next(Decision.RETRY, self.next_callable(now + wait, window))


def new_action_id(callback_id: int, attempt_no: int) -> str:
    """The Originate idempotency key of one attempt (unique, AMI ActionID-safe)."""
    return f"cb{callback_id}a{attempt_no}-{secrets.token_hex(4)}"


def is_overdue(state: CallbackState, due_at: datetime, now: datetime) -> bool:
    return state is CallbackState.PLANNED and now - due_at > OVERDUE_AFTER


# ---------------------------------------------------------------- figures for the board


def median_duration(values: Iterable[timedelta]) -> timedelta | None:
    items = sorted(values)
    if not items:
        return None
    middle = len(items) // 2
    return items[middle] if len(items) % 2 else (items[middle - 1] + items[middle]) / 2


def share(part: int, whole: int) -> float | None:
    """A rate in 0..1, or None when there is nothing to divide."""
    return part / whole if whole else None
