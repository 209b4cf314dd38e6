"""The wallboard with several queues: each queue's waiting callers, its own service level
(Asterisk's QueueParams ServiceLevel) and figures, and the totals over all of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import create_autospec
from zoneinfo import ZoneInfo

from callcenter.accounts.users import UserService
from callcenter.domain.queue_stats import QueueCall
from callcenter.events import EventHub
from callcenter.wallboard.board import Wallboard

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)  # 12:30 in Simferopol
OP1 = "Local/op1@operators/n"


def call(queue: str, minutes_ago: float, wait: float, answered: bool) -> QueueCall:
    op = OP1 if answered else None
    return QueueCall(queue, NOW - timedelta(minutes=minutes_ago), wait, answered, not answered, 60.0, op, (OP1,), op)


CALLS = [
    call("hotline", 200, 10, True),
    call("night", 30, 25, True),  # in time for night's 30 s, late for hotline's 20 s
    call("night", 20, 40, False),
]


async def calls_between(start: datetime, end: datetime) -> list[QueueCall]:
    return [c for c in CALLS if start <= c.queued_at < end]


def board_message() -> dict[str, object]:
    """The live board as the telephony feature publishes it (telephony/board_messages.py)."""
    return {
        "type": "board",
        "link": "connected",
        "link_label": "АТС на связи",
        "queued": [
            {"queue": "night", "caller": "+79780001122", "queued_at": (NOW - timedelta(seconds=12)).isoformat()}
        ],
        "operators": [
            {
                "interface": OP1,
                "name": "Operator One",
                "state": "idle",
                "paused": False,
                "available": True,
                "pause_reason": "",
                "state_since": (NOW - timedelta(minutes=5)).isoformat(),
                "last_call_ended_at": None,
                "queues": ["hotline", "night"],
            }
        ],
        "queues": [
            {"name": "hotline", "service_level_seconds": 20, "completed": 1, "abandoned": 0},
            {"name": "night", "service_level_seconds": 30, "completed": 1, "abandoned": 1},
        ],
    }


async def test_each_queue_has_its_waiting_callers_its_own_service_level_and_the_total_adds_them():
    board = Wallboard(
        EventHub(),
        calls_between,
        create_autospec(UserService, instance=True),
        ZoneInfo("Europe/Simferopol"),
        service_level_seconds=20,
        wrapup_seconds=10,
        short_abandon_seconds=5,
        publish=lambda: False,
        clock=lambda: NOW,
    )
    board.board = board_message()
    await board.refresh_figures()
    state = await board.state()
    hotline, night = state["queues"]
    assert (hotline["name"], hotline["waiting"], hotline["oldest_queued_at"]) == ("hotline", 0, None)
    assert (night["name"], night["waiting"], night["service_level_seconds"]) == ("night", 1, 30)
    assert night["oldest_queued_at"] == state["oldest_queued_at"] and state["waiting"] == 1
    assert (hotline["today"]["answered"], hotline["today"]["service_level"]) == (1, 1.0)
    assert hotline["last_hour"]["offered"] == 0  # its call was 200 minutes ago
    assert (night["today"]["answered_in_time"], night["today"]["service_level"]) == (1, 0.5)
    assert night["last_hour"] == night["today"]
    total = state["total"]["today"]
    assert (total["offered"], total["answered"], total["answered_in_time"], total["abandoned"]) == (3, 2, 2, 1)
    [op] = state["operators"]
    assert (op["status"], op["handled_today"], op["missed_today"], op["queues"]) == (
        "free",
        2,
        1,
        ["hotline", "night"],
    )
    assert state["calls"] == [
        {"queue": "night", "caller": "+7 978 ***-**-22", "queued_at": board.board["queued"][0]["queued_at"]}
    ]
    assert [h["hour"] for h in state["hours"]][-1] == "12:00" and sum(h["answered"] for h in state["hours"]) == 2
