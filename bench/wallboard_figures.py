"""How long the wallboard's figures take to compute (they are computed on the event loop).

    .venv/bin/python bench/wallboard_figures.py [CALLS]

Builds CALLS queue calls (default 20,000: about ten busy days of the 1563 hotline in one
statistics page) and times ``metrics`` over all of them and ``grouped`` by hour, day, queue and
operator. Prints figures; asserts nothing.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.domain.queue_stats import Grouping, QueueCall, grouped, metrics


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


if __name__ == "__main__":
    main()
