"""The sender: claims due outbox rows, hands each to its channel, records the result.

One worker per app instance; several instances share the table safely (see outbox.py). A
graceful stop lets the batch in hand finish, so a restart neither doubles nor drops a message;
a hard stop (a crash) leaves claimed rows to come back when their lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from datetime import timedelta

from callcenter.clock import Clock, utcnow
from callcenter.domain.notifications import NotifyChannel, retry_delay
from callcenter.notifications.channels import ChannelAdapter, DeliveryError
from callcenter.notifications.outbox import Claimed, Outbox
from callcenter.tasks import start_task

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(object()):x}"[:80]


class NotificationWorker:
    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, ChannelAdapter],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=120),
        batch: int = 20,
        retry_minutes: list[int] | None = None,
        max_attempts: int = 6,
        tick_seconds: float = 5.0,
        clock: Clock = utcnow,
    ) -> None:
        self.outbox = outbox
        self.channels = dict(channels)
        self.owner = owner or worker_name()
        self._lease = lease
        self._batch = batch
        self._retry = retry_minutes or [1, 5, 30, 120]
        self._max_attempts = max_attempts
        self._tick_seconds = tick_seconds
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> frozenset[NotifyChannel]:
        return frozenset(NotifyChannel(name) for name in self.channels)

    async def tick(self) -> int:
        """One round: free expired claims, claim a batch, send it; how many were claimed."""
        now = self._clock()
        await self.outbox.release_expired(now)
        claimed = await self.outbox.claim(self.owner, now, self._lease, self._batch, self.enabled)
        if claimed:
            await asyncio.gather(*(self._send(item) for item in claimed))
        return len(claimed)

    async def _send(self, item: Claimed) -> None:
        adapter = self.channels[item.channel.value]
        try:
            provider_id = await adapter.send(item.address, item.subject, item.body, f"n{item.id}")
        except DeliveryError as err:
            self._failed(item, err)
            delay = None if err.permanent else retry_delay(item.attempts, self._retry, self._max_attempts)
            now = self._clock()
            await self.outbox.mark_failed(
                item.id, self.owner, now, err.message, now + delay if delay else None, item.channel.value
            )
            return
        except Exception as err:  # noqa: BLE001 - an adapter bug must not stop the worker; retried later
            logger.exception("notification %s: %s adapter failed", item.id, item.channel.value)
            # Retried on the same schedule and limit as a transient failure, then shown as failed.
            delay = retry_delay(item.attempts, self._retry, self._max_attempts)
            now = self._clock()
            await self.outbox.mark_failed(
                item.id,
                self.owner,
                now,
                f"{type(err).__name__}: {err}",
                now + delay if delay else None,
                item.channel.value,
            )
            return
        if not await self.outbox.mark_sent(item.id, self.owner, self._clock(), provider_id):
            logger.warning("notification %s was sent but its claim had expired", item.id)

    def _failed(self, item: Claimed, err: DeliveryError) -> None:
        logger.warning(
            "notification %s (%s, attempt %d) failed%s: %s",
            item.id,
            item.channel.value,
            item.attempts,
            " for good" if err.permanent else "",
            err.message,
        )

    # ------------------------------------------------------------------ the loop

    def wake(self) -> None:
        """Something was queued: look now rather than at the next tick."""
        self._wake.set()

    def start(self) -> None:
        if self.channels and self._task is None:
            self._task = start_task(self._run(), name="notification-worker", logger=logger)

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the tick, not after: a wake() or close() that comes while a batch is
            # being sent stays set, so the loop looks again (or stops) at once instead of sleeping
            # a whole tick (a stop during a send used to wait for the tick, then close's timeout).
            self._wake.clear()
            try:
                while await self.tick() and not self._stopping:
                    pass
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again next tick
                logger.exception("notification tick failed")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), self._tick_seconds)
            except TimeoutError:
                pass

    async def close(self, timeout: float = 30.0) -> None:
        """Stop after the batch in hand (bounded by ``timeout``), then close the channels."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for adapter in self.channels.values():
            await adapter.close()
