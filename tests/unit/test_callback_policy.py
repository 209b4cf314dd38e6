"""Callback planning policy: calling windows, nights, weekends, the time zone, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.config import ConfigError, load_settings
from callcenter.domain.callbacks import (
    AttemptResult,
    CallbackPolicy,
    CallbackState,
    CallWindow,
    Decision,
    is_overdue,
    median_duration,
    new_action_id,
    parse_category_hours,
    parse_days,
    share,
)
from callcenter.telephony.originate import check_request_id

SIMFEROPOL = ZoneInfo("Europe/Simferopol")
DAY = CallWindow.parse("09:00-21:00")


def local(y: int, mo: int, d: int, h: int, mi: int = 0, zone: ZoneInfo = SIMFEROPOL) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone)


def policy(**kwargs) -> CallbackPolicy:
    base = dict(
        zone=SIMFEROPOL, delay=timedelta(minutes=15), window=DAY, days=parse_days("mon,tue,wed,thu,fri,sat,sun")
    )
    base.update(kwargs)
    return CallbackPolicy(**base)


def test_first_call_goes_after_the_delay_inside_the_window() -> None:
    due = policy().first_due(local(2026, 12, 2, 12, 0), DAY)
    assert due == local(2026, 12, 2, 12, 15)
    assert due.tzinfo is UTC


def test_done_late_evening_is_called_next_morning_not_at_night() -> None:
    due = policy().first_due(local(2026, 12, 2, 20, 50), DAY)
    assert due == local(2026, 12, 3, 9, 0)


def test_window_end_is_exclusive_and_start_inclusive() -> None:
    p = policy()
    assert p.first_due(local(2026, 12, 2, 8, 45), DAY) == local(2026, 12, 2, 9, 0)
    assert p.first_due(local(2026, 12, 2, 20, 45), DAY) == local(2026, 12, 3, 9, 0)
    assert p.first_due(local(2026, 12, 2, 20, 44), DAY) == local(2026, 12, 2, 20, 59)


def test_done_after_midnight_utc_counts_in_local_time() -> None:
    # 22:30 UTC on Tuesday is 01:30 on Wednesday in Simferopol (UTC+3): call at 09:00 Wednesday.
    done = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)
    assert policy().first_due(done, DAY) == local(2026, 12, 2, 9, 0)
    # 05:50 UTC is 08:50 local: the delay brings it to 09:05 local the same day.
    assert policy().first_due(datetime(2026, 12, 2, 5, 50, tzinfo=UTC), DAY) == local(2026, 12, 2, 9, 5)


def test_weekend_is_skipped_when_only_working_days_are_allowed() -> None:
    weekdays = policy(days=parse_days("mon,tue,wed,thu,fri"))
    friday_evening = local(2026, 12, 4, 20, 55)  # 4 Dec 2026 is a Friday
    assert friday_evening.weekday() == 4
    assert weekdays.first_due(friday_evening, DAY) == local(2026, 12, 7, 9, 0)  # Monday
    saturday_noon = local(2026, 12, 5, 12, 0)
    assert weekdays.first_due(saturday_noon, DAY) == local(2026, 12, 7, 9, 0)
    assert not weekdays.may_call(saturday_noon, DAY)
    assert weekdays.may_call(local(2026, 12, 7, 9, 0), DAY)


def test_the_zone_of_the_service_decides_not_utc() -> None:
    done = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)  # 22:00 in Simferopol, 19:00 in UTC
    assert policy().first_due(done, DAY) == local(2026, 12, 3, 9, 0)
    assert policy(zone=ZoneInfo("UTC")).first_due(done, DAY) == datetime(2026, 12, 2, 19, 15, tzinfo=UTC)


def test_daylight_saving_change_keeps_local_opening_hour() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    p = policy(zone=berlin)
    # Sunday 29 March 2026 clocks go forward: 09:00 local is 07:00 UTC that day (08:00 UTC the day before).
    due = p.first_due(local(2026, 3, 28, 22, 0, berlin), DAY)
    assert due == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert p.first_due(local(2026, 3, 27, 22, 0, berlin), DAY) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)


def test_retries_follow_the_schedule_then_unreachable() -> None:
    p = policy(retry_delays=(timedelta(minutes=15), timedelta(minutes=120), timedelta(minutes=1440)), max_attempts=3)
    now = local(2026, 12, 2, 12, 0)
    first = p.after_attempt(AttemptResult.BUSY, 1, now, DAY)
    assert (first.decision, first.due_at) == (Decision.RETRY, local(2026, 12, 2, 12, 15))
    second = p.after_attempt(AttemptResult.NO_ANSWER, 2, now, DAY)
    assert (second.decision, second.due_at) == (Decision.RETRY, local(2026, 12, 2, 14, 0))
    assert p.after_attempt(AttemptResult.NO_ANSWER, 3, now, DAY).decision is Decision.UNREACHABLE


def test_retry_that_would_fall_at_night_moves_to_the_morning() -> None:
    p = policy(retry_delays=(timedelta(minutes=15), timedelta(minutes=120)), max_attempts=5)
    assert p.after_attempt(AttemptResult.BUSY, 1, local(2026, 12, 2, 20, 50), DAY).due_at == local(2026, 12, 3, 9, 0)
    assert p.after_attempt(AttemptResult.BUSY, 2, local(2026, 12, 2, 19, 30), DAY).due_at == local(2026, 12, 3, 9, 0)
    # Past the list, the last delay repeats.
    assert p.after_attempt(AttemptResult.BUSY, 4, local(2026, 12, 2, 10, 0), DAY).due_at == local(2026, 12, 2, 12, 0)


def test_other_results() -> None:
    p = policy()
    now = local(2026, 12, 2, 12, 0)
    assert p.after_attempt(AttemptResult.SATISFIED, 1, now, DAY).decision is Decision.DONE
    assert p.after_attempt(AttemptResult.NOT_SATISFIED, 3, now, DAY).decision is Decision.DONE
    assert p.after_attempt(AttemptResult.NOT_SENT, 3, now, DAY).decision is Decision.RELEASE
    to_operator = p.after_attempt(AttemptResult.OPERATOR, 1, now, DAY)
    assert (to_operator.decision, to_operator.due_at) == (Decision.TO_OPERATOR, now)
    lost = p.after_attempt(AttemptResult.LOST, 1, now, DAY)
    assert (lost.decision, lost.due_at) == (Decision.RETRY, now)  # a crash is not the citizen's doing
    assert p.after_attempt(AttemptResult.LOST, 3, now, DAY).decision is Decision.UNREACHABLE


def test_call_windows_parse_merge_and_reject_bad_text() -> None:
    assert str(CallWindow.parse("8:30 - 24:00")) == "08:30-24:00"
    assert CallWindow.parse("10:00-18:00").intersect(CallWindow.parse("09:00-12:00")) == CallWindow.parse("10:00-12:00")
    assert CallWindow.parse("10:00-12:00").intersect(CallWindow.parse("13:00-18:00")) is None
    assert policy().merged_window(DAY, CallWindow.parse("22:00-23:00")) == DAY  # no overlap: keep calling hours
    for bad in ("21:00-09:00", "9-21", "25:00-26:00", "09:00-24:30", ""):
        with pytest.raises(ValueError):
            CallWindow.parse(bad)
    with pytest.raises(ValueError):
        parse_days("mon,funday")


def test_category_hours_override_and_settings() -> None:
    settings = load_settings(
        environ={
            "CALLCENTER_CALLBACK_HOURS": "10:00-20:00",
            "CALLCENTER_CALLBACK_DAYS": "mon,tue",
            "CALLCENTER_CALLBACK_DELAY_SECONDS": "600",
            "CALLCENTER_CALLBACK_RETRY_MINUTES": "5,60",
            "CALLCENTER_CALLBACK_CATEGORY_HOURS": "water_leak=08:00-22:00",
        }
    )
    p = CallbackPolicy.from_settings(settings)
    assert p.window == CallWindow.parse("10:00-20:00")
    assert p.window_for("water_leak") == CallWindow.parse("08:00-22:00")
    assert p.window_for("garbage") == p.window
    assert p.days == frozenset({0, 1})
    assert p.delay == timedelta(minutes=10)
    assert p.retry_delays == (timedelta(minutes=5), timedelta(hours=1))
    assert parse_category_hours(["a=09:00-10:00", " b = 11:00-12:00"]) == {
        "a": CallWindow.parse("09:00-10:00"),
        "b": CallWindow.parse("11:00-12:00"),
    }
    with pytest.raises(ConfigError, match="CALLCENTER_CALLBACK_CATEGORY_HOURS"):
        load_settings(environ={"CALLCENTER_CALLBACK_CATEGORY_HOURS": "water_leak=22:00-08:00"})
    with pytest.raises(ConfigError, match="CALLCENTER_CALLBACK_CATEGORY_HOURS"):
        load_settings(environ={"CALLCENTER_CALLBACK_CATEGORY_HOURS": "08:00-22:00"})


def test_midnight_end_from_config_means_end_of_day() -> None:
    p = CallbackPolicy.from_settings(load_settings(environ={"CALLCENTER_CALLBACK_HOURS": "09:00-24:00"}))
    assert p.window == CallWindow(9 * 60, 24 * 60)
    assert p.may_call(local(2026, 12, 2, 23, 59), p.window)


def test_action_ids_are_unique_and_valid_ami_keys() -> None:
    keys = {new_action_id(123456789, 3) for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert check_request_id(key) == key
        assert key.startswith("cb123456789a3-")


def test_figures() -> None:
    assert median_duration([]) is None
    assert median_duration([timedelta(hours=3), timedelta(hours=1), timedelta(hours=2)]) == timedelta(hours=2)
    assert median_duration([timedelta(hours=1), timedelta(hours=2)]) == timedelta(minutes=90)
    assert share(1, 4) == 0.25 and share(0, 0) is None
    now = local(2026, 12, 2, 12, 0)
    assert is_overdue(CallbackState.PLANNED, now - timedelta(hours=2), now)
    assert not is_overdue(CallbackState.PLANNED, now - timedelta(minutes=30), now)
    assert not is_overdue(CallbackState.DONE, now - timedelta(hours=2), now)


def test_ivr_outcomes_match_the_callback_script() -> None:
    from callcenter.domain.callbacks import IVR_RESULTS
    from callcenter.ivr import channel_vars as cv

    assert {r.value for r in IVR_RESULTS} == set(cv.CALLBACK_OUTCOMES)
