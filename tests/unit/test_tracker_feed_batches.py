"""TrackerFeed hands a queued burst on whole (issue 19): no cut where a running count says so."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.telephony.ami_link import LinkState, LinkSubscription
from callcenter.telephony.tracker_feed import BATCH, TrackerFeed


class QueueOnlyLink:
    """The part of AmiLink the feed uses: one subscription the test fills by hand."""

    state = LinkState.CONNECTED

    def subscribe(self, events: Any, maxsize: int, name: str) -> LinkSubscription:
        self.subscription = LinkSubscription(name, None, maxsize)
        return self.subscription

    def unsubscribe(self, sub: LinkSubscription) -> None:
        sub.close()


class EchoTracker:
    """Every event is one notification: the batches handed on show how the feed cut the stream."""

    EVENTS = frozenset({"Test"})

    def feed(self, event: dict[str, str]) -> list[Any]:
        return [event["n"]]


async def test_a_burst_that_fits_in_a_batch_is_handed_on_in_one_piece():
    link = QueueOnlyLink()
    handed: list[list[Any]] = []
    got = asyncio.Event()

    async def publish(notes: list[Any]) -> None:
        handed.append(notes)
        got.set()

    feed = TrackerFeed(link, EchoTracker(), publish)  # type: ignore[arg-type]
    await feed.start()
    try:
        for n in range(3):  # some traffic first: a count since the start would cut the burst at BATCH
            got.clear()
            link.subscription.offer({"Event": "Test", "n": str(n)})
            await got.wait()
        got.clear()
        burst = [str(n) for n in range(3, BATCH + 1)]  # BATCH - 2 items queued in one go
        for n in burst:
            link.subscription.offer({"Event": "Test", "n": n})
        await got.wait()
        assert handed[3:] == [burst]
        assert handed[:3] == [["0"], ["1"], ["2"]]
    finally:
        await feed.close()


async def test_a_backlog_longer_than_a_batch_is_cut_into_batches():
    link = QueueOnlyLink()
    handed: list[list[Any]] = []
    done = asyncio.Event()
    total = BATCH * 2 + 5

    async def publish(notes: list[Any]) -> None:
        handed.append(notes)
        if sum(map(len, handed)) == total:
            done.set()

    feed = TrackerFeed(link, EchoTracker(), publish)  # type: ignore[arg-type]
    await feed.start()
    try:
        for n in range(total):
            link.subscription.offer({"Event": "Test", "n": str(n)})
        await done.wait()
        assert [len(batch) for batch in handed] == [BATCH, BATCH, 5]
    finally:
        await feed.close()
