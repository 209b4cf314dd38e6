"""Queue metrics as docs/wallboard.md defines them (callcenter/domain/queue_stats.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.domain.queue_stats import (
    Grouping,
    OperatorStatus,
    QueueCall,
    grouped,
    hours_of_day,
    metrics,
    operator_days,
    operator_status,
)

T0 = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)  # 10:30 in Simferopol
ZONE = ZoneInfo("Europe/Simferopol")


def answered(wait: float, talk: float | None = 60.0, queue: str = "hotline", op: str = "op1", at: datetime = T0):
    return QueueCall(queue, at, wait, True, False, talk, op, (op,), op)


def abandoned(wait: float, queue: str = "hotline", at: datetime = T0, rang: tuple[str, ...] = ()):
    return QueueCall(queue, at, wait, False, True, None, None, rang, None)


def test_service_level_counts_answered_within_the_level_against_answered_and_real_abandons():
    calls = [answered(5), answered(20), answered(21), abandoned(30), abandoned(2), abandoned(4.9)]
    m = metrics(calls, service_level_seconds=20, short_abandon_seconds=5)
    assert (m.offered, m.answered, m.abandoned, m.short_abandoned, m.answered_in_time) == (6, 3, 3, 2, 2)
    assert m.service_level == pytest.approx(2 / 4)  # 20 s exactly is in time; short abandons left out
    assert m.abandoned_share == pytest.approx(1 / 4)
    assert m.asa_seconds == pytest.approx((5 + 20 + 21) / 3)  # abandoned waits never enter the ASA
    assert m.abandoned_wait_seconds == pytest.approx((30 + 2 + 4.9) / 3)
    assert m.aht_seconds == pytest.approx(60) and m.longest_wait_seconds == 30


def test_still_waiting_counts_nowhere_and_no_calls_gives_no_share_rather_than_zero():
    m = metrics([QueueCall("hotline", T0, None, False, False)])
    assert m.offered == 0 and m.service_level is None and m.abandoned_share is None and m.asa_seconds is None
    only_short = metrics([abandoned(1)])
    assert only_short.service_level is None and only_short.short_abandoned == 1


def test_service_level_per_queue_and_talk_time_only_of_ended_calls():
    calls = [answered(25, queue="hotline"), answered(25, queue="night", talk=None)]
    m = metrics(calls, service_level_seconds=lambda q: 30 if q == "night" else 20)
    assert m.answered_in_time == 1 and m.aht_seconds == 60


def test_grouping_by_local_hour_queue_and_operator():
    calls = [answered(5, at=T0), answered(30, at=T0 + timedelta(minutes=40), op="op2"), abandoned(9, queue="night")]
    hours = grouped(calls, Grouping.HOUR, ZONE)
    assert [(k.hour, f.offered) for k, f in hours] == [(10, 2), (11, 1)]
    queues = grouped(calls, Grouping.QUEUE, ZONE)
    assert [(k, f.answered, f.abandoned) for k, f in queues] == [("hotline", 2, 0), ("night", 0, 1)]
    ops = grouped(calls, Grouping.OPERATOR, ZONE)
    assert [(k, f.answered) for k, f in ops] == [("op1", 1), ("op2", 1)]  # unanswered have no operator
    [(day, f)] = grouped(calls, Grouping.DAY, ZONE)
    assert day.isoformat() == "2026-12-06" and f.offered == 3


def test_hours_of_day_has_every_local_hour_up_to_now_empty_ones_included():
    midnight = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)  # 00:00 in Simferopol
    calls = [answered(5, at=T0), answered(30, at=T0 + timedelta(minutes=40)), abandoned(9), abandoned(2)]
    hours = hours_of_day(calls, ZONE, midnight, T0 + timedelta(hours=2), short_abandon_seconds=5)
    assert [k.hour for k, _ in hours] == list(range(13))  # 00:00 .. 12:00 local, now is 12:30
    by_hour = {k.hour: f for k, f in hours}
    assert (by_hour[10].answered, by_hour[10].abandoned, by_hour[10].short_abandoned) == (1, 2, 1)
    assert (by_hour[11].answered, by_hour[11].answered_in_time) == (1, 0)
    assert by_hour[12].offered == 0 and by_hour[12].service_level is None and by_hour[0].offered == 0


def test_operator_day_counts_rings_not_taken_as_missed():
    calls = [
        QueueCall("hotline", T0, 3, True, False, 10, "op1", ("op2", "op1", "op2"), "op1"),
        abandoned(40, rang=("op1",)),
    ]
    days = operator_days(calls)
    assert (days["op1"].handled, days["op1"].missed) == (1, 1)
    assert (days["op2"].handled, days["op2"].missed) == (0, 1)  # rang twice for one call: one miss


def test_operator_status_talking_beats_pause_pause_beats_wrapup_wrapup_ends():
    now = T0
    ended = now - timedelta(seconds=4)
    kw = {"available": True, "now": now, "wrapup_seconds": 10}
    assert operator_status("talking", paused=True, last_call_ended_at=None, **kw)[0] is OperatorStatus.TALKING
    assert operator_status("idle", paused=True, last_call_ended_at=ended, **kw)[0] is OperatorStatus.PAUSED
    status, until = operator_status("idle", paused=False, last_call_ended_at=ended, **kw)
    assert status is OperatorStatus.WRAPUP and until == ended + timedelta(seconds=10)
    late = now - timedelta(seconds=11)
    assert operator_status("idle", paused=False, last_call_ended_at=late, **kw)[0] is OperatorStatus.FREE
    assert (
        operator_status("idle", paused=False, last_call_ended_at=None, available=False, now=now, wrapup_seconds=10)[0]
        is OperatorStatus.UNAVAILABLE
    )
