"""How long the wallboard's figures take to compute (they are computed on the event loop).

    .venv/bin/python bench/wallboard_figures.py [CALLS]

Builds CALLS queue calls (default 20,000: about ten busy days of the 1563 hotline in one
statistics page) and times ``metrics`` over all of them and ``grouped`` by hour, day, queue and
operator; then the wallboard itself (``Wallboard.refresh_figures`` + ``Wallboard.state``: today
and the last hour per queue and in total, operators' day, the hourly chart) over one busy day
(2,160 calls in two queues, 40 operators on the live board). Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.domain.queue_stats import Grouping, QueueCall, grouped, metrics
from callcenter.events import EventHub
from callcenter.wallboard.board import Wallboard


def calls(n: int) -> list[QueueCall]:
    rng = random.Random(1563)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    result = []
    for i in range(n):
        answered = rng.random() < 0.85
        wait = rng.expovariate(1 / 15)
        op = f"Local/op{rng.randint(1, 6)}@operators/n"
        result.append(
            QueueCall(
                queue=rng.choice(("hotline", "night")),
                queued_at=start + timedelta(seconds=i * 40),
                wait_seconds=wait,
                answered=answered,
                abandoned=not answered,
                talk_seconds=rng.uniform(30, 400) if answered else None,
                operator=op if answered else None,
                rang=(op,),
                operator_interface=op if answered else None,
            )
        )
    return result


def timed(label: str, fn, repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<28} {best * 1000:8.2f} ms (best of {repeat})")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    data = calls(n)
    zone = ZoneInfo("Europe/Simferopol")
    print(f"{n} queue calls")
    timed("metrics (all)", lambda: metrics(data))
    day = data[: 24 * 90]  # one day at a call every 40 s
    timed(f"metrics (one day, {len(day)})", lambda: metrics(day))
    for grouping in Grouping:
        timed(f"grouped by {grouping.value}", lambda g=grouping: grouped(data, g, zone))
    last_day = calls(24 * 90)  # starts at midnight UTC: one busy day at a call every 40 s
    # local midnight in Simferopol (UTC+3): the day's calls all fall in "today"
    shifted = [replace(c, queued_at=c.queued_at - timedelta(hours=3)) for c in last_day]
    asyncio.run(wallboard_state(shifted))


def live_board(now: datetime, operators: int) -> dict[str, object]:
    """A live board as telephony/board_messages.py publishes it: operators, queues, waiting calls."""
    ops = [
        {
            "interface": f"Local/op{i}@operators/n",
            "name": f"Operator {i}",
            "state": ("idle", "ringing", "talking")[i % 3],
            "paused": i % 7 == 0,
            "pause_reason": "Обед" if i % 7 == 0 else "",
            "available": True,
            "state_since": (now - timedelta(seconds=30 * i)).isoformat(),
            "last_call_ended_at": (now - timedelta(seconds=5 * i)).isoformat(),
            "queues": ["hotline", "night"],
        }
        for i in range(1, operators + 1)
    ]
    queued = [
        {"queue": ("hotline", "night")[i % 2], "caller": f"+7978000{i:04d}", "queued_at": now.isoformat()}
        for i in range(10)
    ]
    queues = [{"name": q, "service_level_seconds": 20} for q in ("hotline", "night")]
    return {"type": "board", "link": "connected", "operators": ops, "queued": queued, "queues": queues}


async def wallboard_state(day: list[QueueCall], repeat: int = 5) -> None:
    now = day[-1].queued_at + timedelta(minutes=1)

    async def queue_calls(start: datetime, end: datetime) -> list[QueueCall]:
        return day  # the database's part is not timed: only what runs on the event loop

    board = Wallboard(
        EventHub(),
        queue_calls,
        None,  # type: ignore[arg-type]  # users: only for pause messages, never sent here
        ZoneInfo("Europe/Simferopol"),
        service_level_seconds=20,
        wrapup_seconds=10,
        short_abandon_seconds=5,
        publish=lambda: False,
        clock=lambda: now,
    )
    board.board = live_board(now, 40)
    for label, step in (("refresh_figures (one day)", board.refresh_figures), ("state (40 operators)", board.state)):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            await step()
            best = min(best, time.perf_counter() - t0)
        print(f"{label:<28} {best * 1000:8.2f} ms (best of {repeat})")


if __name__ == "__main__":
    main()
