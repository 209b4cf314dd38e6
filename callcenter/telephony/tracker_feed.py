"""The tracker glue: feeds a CallTracker from the AMI link in its own task (see telephony/wiring.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.domain.calls import Notification
from callcenter.tasks import supervise
from callcenter.telephony.ami_link import (
    AmiLink,
    ChannelsSnapshot,
    LinkState,
    LinkSubscription,
    QueueSnapshot,
    ResyncStarted,
    StreamGap,
)

logger = logging.getLogger(__name__)

BATCH = 256  # stream items applied between two hand-ons at most


class TrackerFeed:
    """Feeds a CallTracker from the link in its own task; hands notifications on.

    ``publish`` (e.g. the WebSocket notifier) may be slow: it delays only this consumer,
    whose queue overflows into a StreamGap, after which the feed asks for a resync.
    """

    def __init__(
        self,
        link: AmiLink,
        tracker: Any,
        publish: Callable[[list[Notification]], Awaitable[None]] | None = None,
        *,
        maxsize: int = 10_000,
    ) -> None:
        self._link = link
        self._tracker = tracker
        self._publish = publish
        self._subscription = link.subscribe(events=tracker.EVENTS, maxsize=maxsize, name="tracker")
        self._task: asyncio.Task[None] | None = None
        self._resyncs: set[asyncio.Task[Any]] = set()

    @property
    def subscription(self) -> LinkSubscription:
        return self._subscription

    async def start(self) -> None:
        """Start consuming (call before or after the link's start)."""
        self._task = asyncio.create_task(self._run(), name="ami-tracker-feed")
        supervise(self._task, logger)

    async def close(self) -> None:
        self._link.unsubscribe(self._subscription)
        tasks = [t for t in (self._task, *self._resyncs) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        # Everything already queued is applied before anything is handed on, and the whole
        # batch is handed on at once: a burst of 200 AgentCalled in one TCP write makes 200
        # pops in one loop turn instead of one pop per turn behind every other task's work
        # (issue 19: burst first-frame p99 85-129 ms). At most BATCH items between two yields.
        # Counted since the last hand-on (not since the start), so a burst that fits in BATCH
        # is never cut in two with other tasks' work between its halves.
        pending: list[Notification] = []
        handled = 0
        async for item in self._subscription:
            handled += 1
            try:
                pending.extend(self._apply(item))
            except Exception:  # a tracker bug on one event must not stop the feed
                logger.exception("call tracker failed on %.200r", item)
            if len(self._subscription) and handled < BATCH:
                continue  # more is queued: take it first
            if pending and self._publish is not None:
                notes, pending = pending, []
                try:
                    await self._publish(notes)
                except Exception:  # the notifier's failure is logged, not fatal
                    logger.exception("publishing %d call notification(s) failed", len(notes))
            else:
                pending.clear()
            if handled >= BATCH:
                await asyncio.sleep(0)  # a full queue never suspends the loop by itself
            handled = 0

    def _apply(self, item: Any) -> list[Notification]:
        if isinstance(item, dict):
            return self._tracker.feed(item)
        if isinstance(item, ResyncStarted):
            self._tracker.begin_resync()
            return []
        if isinstance(item, ChannelsSnapshot):
            return self._tracker.reconcile_channels(item.channels)
        if isinstance(item, QueueSnapshot):
            return self._tracker.reconcile_queues(item.members, item.entries, item.params)
        if isinstance(item, StreamGap):
            logger.warning("call tracker missed %d AMI item(s): resynchronising", item.dropped)
            self._request_resync()
        return []

    def _request_resync(self) -> None:
        if self._link.state is not LinkState.CONNECTED:
            return  # the next login resyncs anyway
        task = asyncio.create_task(self._link.resync(), name="ami-gap-resync")
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)
        supervise(task, logger)
