"""In-process publish/subscribe for live updates (boards, screen pops).

Publishing never waits: each subscriber has a bounded queue, and a subscriber that
falls behind loses its oldest messages (counted) rather than slowing the publisher,
which may be the AMI reader that Asterisk drops after 100 ms of silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Message = dict[str, Any]


@dataclass(eq=False)
class HubSubscription:
    """One consumer's queue. ``accepts`` filters which messages it gets (e.g. one operator's pops)."""

    hub: EventHub
    accepts: Callable[[Message], bool]
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    dropped: int = 0

    def offer(self, message: Message) -> None:
        if not self.accepts(message):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    async def get(self) -> Message:
        return await self.queue.get()

    def close(self) -> None:
        self.hub.unsubscribe(self)

    def __enter__(self) -> HubSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    """Fan-out of messages with a ``type`` key ("ticket", "pop", "call", "callback", ...)."""

    def __init__(self) -> None:
        self._subscriptions: set[HubSubscription] = set()
        self._bridges: list[Callable[[Message], None]] = []

    def subscribe(self, accepts: Callable[[Message], bool] | None = None, maxsize: int = 256) -> HubSubscription:
        sub = HubSubscription(self, accepts or (lambda _m: True), asyncio.Queue(maxsize=maxsize))
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: HubSubscription) -> None:
        self._subscriptions.discard(sub)

    def add_bridge(self, forward: Callable[[Message], None]) -> None:
        """Also hand every locally published message to ``forward`` (e.g. PostgreSQL NOTIFY)."""
        self._bridges.append(forward)

    def publish(self, message: Message, *, local_only: bool = False) -> None:
        """Deliver to local subscribers now; bridges carry it to other app instances."""
        for sub in list(self._subscriptions):
            sub.offer(message)
        if not local_only:
            for forward in self._bridges:
                try:
                    forward(message)
                except Exception:  # noqa: BLE001 - a broken bridge must not stop local delivery
                    logger.exception("event bridge failed for %s", message.get("type"))

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)
