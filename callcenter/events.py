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
    user_id: Any = None  # the user it serves (EventHub.route_by_user)

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
    """Fan-out of messages with a ``type`` key ("ticket", "pop", "call", "callback", ...).

    Types routed by user (``route_by_user``: a screen pop names its operator in ``user_id``)
    reach only the subscriptions of that user plus those that belong to no user, instead of
    asking every open socket's filter (40 operators: 42 filter calls per pop, issue 19).
    """

    def __init__(self) -> None:
        self._subscriptions: set[HubSubscription] = set()  # all of them
        self._unaddressed: set[HubSubscription] = set()  # not a user's (board caches, tasks)
        self._by_user: dict[Any, set[HubSubscription]] = {}
        self._routed: set[str] = set()
        self._bridges: list[Callable[[Message], None]] = []

    def route_by_user(self, *kinds: str) -> None:
        """Deliver messages of these types by their ``user_id`` (idempotent)."""
        self._routed.update(kinds)

    def subscribe(
        self, accepts: Callable[[Message], bool] | None = None, maxsize: int = 256, *, user_id: Any = None
    ) -> HubSubscription:
        """A queue; ``user_id`` names the user it serves, for the types routed by user."""
        sub = HubSubscription(self, accepts or (lambda _m: True), asyncio.Queue(maxsize=maxsize), user_id=user_id)
        self._subscriptions.add(sub)
        if user_id is None:
            self._unaddressed.add(sub)
        else:
            self._by_user.setdefault(user_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: HubSubscription) -> None:
        self._subscriptions.discard(sub)
        self._unaddressed.discard(sub)
        mine = self._by_user.get(sub.user_id)
        if mine is not None:
            mine.discard(sub)
            if not mine:
                del self._by_user[sub.user_id]

    def add_bridge(self, forward: Callable[[Message], None]) -> None:
        """Also hand every locally published message to ``forward`` (e.g. PostgreSQL NOTIFY)."""
        self._bridges.append(forward)

    def publish(self, message: Message, *, local_only: bool = False) -> None:
        """Deliver to local subscribers now; bridges carry it to other app instances."""
        if message.get("type") in self._routed:
            targets = [*self._unaddressed, *self._by_user.get(message.get("user_id"), ())]
        else:
            targets = list(self._subscriptions)
        for sub in targets:
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
