"""Public answers that are the same for every reader (the public map's points, Open311's lists),
kept as encoded bytes until a ticket changes or ``ttl`` seconds pass.

A "ticket" message on the event hub (from this instance, or another one through the hub bridge)
makes every kept answer stale at once; the ``ttl`` is the backstop for writes that announce
nothing (a retention job, an archive). At most one computation per key runs at a time: readers
arriving during it wait for its answer instead of each asking the database (a page that many
citizens open after an outage is announced is a burst of the same request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from callcenter.events import EventHub, Message

Made = tuple[bytes, str]  # the body and its content type


@dataclass(frozen=True)
class _Entry:
    body: bytes
    content_type: str
    made_at: float
    generation: int


class PublicCache:
    """Encoded public answers by key; ``stats()`` says how often it answered without the store."""

    def __init__(
        self,
        hub: EventHub,
        *,
        ttl: float = 10.0,
        max_entries: int = 128,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._generation = 0
        self._entries: dict[Hashable, _Entry] = {}
        self._pending: dict[Hashable, asyncio.Task[Made]] = {}
        self.hits = 0
        self.misses = 0
        # The filter is the hook: it notes the change and queues nothing.
        self._subscription = hub.subscribe(accepts=self._notice, maxsize=1)

    def _notice(self, message: Message) -> bool:
        if message.get("type") == "ticket":
            self._generation += 1
        return False

    def invalidate(self) -> None:
        """Make every kept answer stale (a write this process knows the hub does not announce)."""
        self._generation += 1

    async def get(self, key: Hashable, make: Callable[[], Awaitable[Made]]) -> Made:
        """The kept answer for ``key``, or ``make()``'s (kept when no ticket changed meanwhile).

        ``make`` raising is not kept: each reader gets the error of the computation it waited for."""
        entry = self._entries.get(key)
        if entry is not None and entry.generation == self._generation and self._clock() - entry.made_at < self._ttl:
            self.hits += 1
            return entry.body, entry.content_type
        self.misses += 1
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._make(key, make, self._generation, self._clock()))
            task.add_done_callback(_retrieve)
            self._pending[key] = task
        # shield: a reader who leaves does not cancel the answer the others wait for.
        return await asyncio.shield(task)

    async def _make(self, key: Hashable, make: Callable[[], Awaitable[Made]], generation: int, started: float) -> Made:
        try:
            body, content_type = await make()
        finally:
            self._pending.pop(key, None)
        if generation == self._generation:  # no ticket changed while it was read
            self._entries.pop(key, None)
            self._entries[key] = _Entry(body, content_type, started, generation)
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest kept
        return body, content_type

    def close(self) -> None:
        self._subscription.close()
        self._entries.clear()


def _retrieve(task: asyncio.Task[Made]) -> None:
    """Mark an error as seen when every reader left before it (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()
