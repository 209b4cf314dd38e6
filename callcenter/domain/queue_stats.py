"""Queue metrics: what the wallboard and the queue statistics count, defined once.

Pure logic, no I/O. The input is one :class:`QueueCall` per call that joined a queue (built
from our own ``calls`` rows, see callcenter/telephony/calls_store.py); docs/wallboard.md gives
the same definitions in prose. In short, for the calls that joined a queue in a period:

* **offered**: every call that joined the queue and has left it (answered or not); a
  caller still waiting is counted nowhere until they leave;
* **answered**: an operator picked up (Asterisk's AgentConnect);
* **abandoned**: the caller left the queue without an operator (hung up, or the queue's
  timeout sent them on); **short abandons** are the abandoned calls that waited less than
  ``short_abandon_seconds`` (5 s by default): misdials and "wrong number", left out of the
  service level and the abandoned share, shown apart;
* **wait**: from joining the queue to AgentConnect (answered) or to leaving (abandoned);
  the IVR before the queue is not part of it, the ringing of operators' phones is;
* **service level**: answered within the queue's ``servicelevel`` seconds (the wait
  ``<=`` that many seconds), divided by answered + abandoned - short abandons;
* **abandoned share**: (abandoned - short abandons) / (answered + abandoned - short abandons);
* **ASA** (average speed of answer): the mean wait of the *answered* calls only (an
  abandoned call has no answer; its wait shows in the abandoned calls' mean wait);
* **AHT** (average handle time): the mean talk time (AgentConnect to the end of the call)
  of the answered calls that ended; the queue's fixed wrap-up time is not added.

A share with an empty denominator is None ("no calls"), never 0 % or 100 %.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from statistics import fmean

DEFAULT_SERVICE_LEVEL_SECONDS = 20  # asterisk-config/queues.conf: servicelevel = 20
DEFAULT_SHORT_ABANDON_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class QueueCall:
    """One call that joined a queue, as our call records know it."""

    queue: str
    queued_at: datetime  # UTC
    wait_seconds: float | None  # join -> answer or leave; None while still waiting
    answered: bool
    abandoned: bool
    talk_seconds: float | None = None  # answer -> end, once ended
    operator: str | None = None  # who answered (their name or interface)
    rang: tuple[str, ...] = ()  # every operator whose phone rang for it (interfaces)
    operator_interface: str | None = None


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """The figures of one group of calls (a period, a queue, an operator)."""

    offered: int
    answered: int
    abandoned: int  # including the short abandons
    short_abandoned: int
    answered_in_time: int
    service_level: float | None  # 0..1
    abandoned_share: float | None  # 0..1
    asa_seconds: float | None
    aht_seconds: float | None
    abandoned_wait_seconds: float | None  # mean wait of the abandoned calls (short ones too)
    longest_wait_seconds: float | None  # of the calls that left the queue

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "answered_in_time": self.answered_in_time,
            "service_level": _r(self.service_level, 4),
            "abandoned_share": _r(self.abandoned_share, 4),
            "asa_seconds": _r(self.asa_seconds, 1),
            "aht_seconds": _r(self.aht_seconds, 1),
            "abandoned_wait_seconds": _r(self.abandoned_wait_seconds, 1),
            "longest_wait_seconds": _r(self.longest_wait_seconds, 1),
        }


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def metrics(
    calls: Iterable[QueueCall],
    *,
    service_level_seconds: int | Callable[[str], int] = DEFAULT_SERVICE_LEVEL_SECONDS,
    short_abandon_seconds: float = DEFAULT_SHORT_ABANDON_SECONDS,
) -> QueueMetrics:
    """The figures of ``calls`` (see the module's docstring). ``service_level_seconds`` may be per queue."""
    level = service_level_seconds if callable(service_level_seconds) else (lambda _q: service_level_seconds)
    answered_waits: list[float] = []
    abandoned_waits: list[float] = []
    talks: list[float] = []
    in_time = short = 0
    for call in calls:
        if call.wait_seconds is None:
            continue  # still waiting: counted once it leaves
        if call.answered:
            answered_waits.append(call.wait_seconds)
            if call.wait_seconds <= level(call.queue):
                in_time += 1
            if call.talk_seconds is not None:
                talks.append(call.talk_seconds)
        elif call.abandoned:
            abandoned_waits.append(call.wait_seconds)
            if call.wait_seconds < short_abandon_seconds:
                short += 1
    answered, abandoned = len(answered_waits), len(abandoned_waits)
    counted = answered + abandoned - short
    waits = answered_waits + abandoned_waits
    return QueueMetrics(
        offered=answered + abandoned,
        answered=answered,
        abandoned=abandoned,
        short_abandoned=short,
        answered_in_time=in_time,
        service_level=in_time / counted if counted else None,
        abandoned_share=(abandoned - short) / counted if counted else None,
        asa_seconds=fmean(answered_waits) if answered_waits else None,
        aht_seconds=fmean(talks) if talks else None,
        abandoned_wait_seconds=fmean(abandoned_waits) if abandoned_waits else None,
        longest_wait_seconds=max(waits) if waits else None,
    )


class Grouping(enum.StrEnum):
    """How the statistics page groups the calls."""

    HOUR = "hour"  # local hour of the day the call joined the queue
    DAY = "day"  # local date
    QUEUE = "queue"
    OPERATOR = "operator"  # who answered; unanswered calls have no operator and are left out


def group_key(call: QueueCall, grouping: Grouping, zone: tzinfo) -> Hashable | None:
    if grouping is Grouping.HOUR:
        return call.queued_at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    if grouping is Grouping.DAY:
        return call.queued_at.astimezone(zone).date()
    if grouping is Grouping.QUEUE:
        return call.queue
    return call.operator if call.answered else None


def grouped(
    calls: Sequence[QueueCall],
    grouping: Grouping,
    zone: tzinfo,
    *,
    service_level_seconds: int | Callable[[str], int] = DEFAULT_SERVICE_LEVEL_SECONDS,
    short_abandon_seconds: float = DEFAULT_SHORT_ABANDON_SECONDS,
) -> list[tuple[Hashable, QueueMetrics]]:
    """The figures per group, groups in order (hours and days ascending, names alphabetical)."""
    groups: dict[Hashable, list[QueueCall]] = defaultdict(list)
    for call in calls:
        key = group_key(call, grouping, zone)
        if key is not None:
            groups[key].append(call)
    return [
        (
            key,
            metrics(
                groups[key], service_level_seconds=service_level_seconds, short_abandon_seconds=short_abandon_seconds
            ),
        )
        for key in sorted(groups, key=str)
    ]


def hours_of_day(
    calls: Sequence[QueueCall],
    zone: tzinfo,
    day_start: datetime,
    now: datetime,
    *,
    service_level_seconds: int | Callable[[str], int] = DEFAULT_SERVICE_LEVEL_SECONDS,
    short_abandon_seconds: float = DEFAULT_SHORT_ABANDON_SECONDS,
) -> list[tuple[datetime, QueueMetrics]]:
    """The figures of every local hour from ``day_start`` up to the hour of ``now``, hours
    without calls included (the wallboard's chart has no gaps); keys are local hour starts."""
    by_hour = dict(
        grouped(
            calls,
            Grouping.HOUR,
            zone,
            service_level_seconds=service_level_seconds,
            short_abandon_seconds=short_abandon_seconds,
        )
    )
    empty = metrics([])
    result: list[tuple[datetime, QueueMetrics]] = []
    hour = day_start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    last = now.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    while hour <= last:
        result.append((hour, by_hour.get(hour, empty)))
        hour = (hour.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)  # UTC steps: right across a DST change
    return result


@dataclass(frozen=True, slots=True)
class OperatorDay:
    """An operator's calls in a period: answered, and rung but not answered by them."""

    handled: int
    missed: int


def operator_days(calls: Iterable[QueueCall]) -> dict[str, OperatorDay]:
    """Per operator interface: calls they answered, and calls their phone rang for that they did not take."""
    handled: dict[str, int] = defaultdict(int)
    missed: dict[str, int] = defaultdict(int)
    for call in calls:
        if call.answered and call.operator_interface:
            handled[call.operator_interface] += 1
        for interface in set(call.rang):
            if interface != call.operator_interface:
                missed[interface] += 1
    return {i: OperatorDay(handled.get(i, 0), missed.get(i, 0)) for i in set(handled) | set(missed)}


class OperatorStatus(enum.StrEnum):
    """An operator on the wallboard."""

    FREE = "free"
    RINGING = "ringing"
    TALKING = "talking"
    WRAPUP = "wrapup"  # a queue call ended less than the queue's wrap-up time ago: no new call yet
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"  # the phone is not registered (Asterisk: unavailable/invalid)


STATUS_LABELS = {
    OperatorStatus.FREE: "свободен",
    OperatorStatus.RINGING: "звонит телефон",
    OperatorStatus.TALKING: "разговаривает",
    OperatorStatus.WRAPUP: "после звонка",
    OperatorStatus.PAUSED: "на паузе",
    OperatorStatus.UNAVAILABLE: "телефон недоступен",
}


def operator_status(
    state: str,
    *,
    paused: bool,
    available: bool,
    last_call_ended_at: datetime | None,
    now: datetime,
    wrapup_seconds: float,
) -> tuple[OperatorStatus, datetime | None]:
    """The wallboard status of an operator, and when wrap-up ends (None unless in wrap-up).

    A call on the phone wins over a pause (a paused operator can still be talking); a pause
    wins over wrap-up; wrap-up lasts ``wrapup_seconds`` after the last queue call ended.
    """
    if state == "talking":
        return OperatorStatus.TALKING, None
    if state == "ringing":
        return OperatorStatus.RINGING, None
    if paused:
        return OperatorStatus.PAUSED, None
    if not available:
        return OperatorStatus.UNAVAILABLE, None
    if last_call_ended_at is not None and wrapup_seconds > 0:
        until = last_call_ended_at + timedelta(seconds=wrapup_seconds)
        if now < until:
            return OperatorStatus.WRAPUP, until
    return OperatorStatus.FREE, None
