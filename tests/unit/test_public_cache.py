"""The public answers' cache: kept until a ticket changes or the time runs out, one computation at a time."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.events import EventHub
from callcenter.web.public_cache import PublicCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Maker:
    """Counts the computations; each answers with its own count so a kept answer shows."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> tuple[bytes, str]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return f"answer {self.calls}".encode(), "application/json"


async def test_the_second_reader_gets_the_kept_answer_until_a_ticket_changes() -> None:
    hub = EventHub()
    cache, make = PublicCache(hub, clock=Clock()), Maker()
    assert await cache.get("k", make) == (b"answer 1", "application/json")
    assert await cache.get("k", make) == (b"answer 1", "application/json")
    hub.publish({"type": "call", "uniqueid": "1"})  # not a ticket: the answer stays
    assert await cache.get("k", make) == (b"answer 1", "application/json")
    hub.publish({"type": "ticket", "change": "status", "number": "2600001"})
    assert await cache.get("k", make) == (b"answer 2", "application/json")
    assert (make.calls, cache.hits, cache.misses) == (2, 2, 2)
    cache.close()


async def test_the_answer_expires_after_its_time_and_keys_are_kept_apart() -> None:
    clock = Clock()
    cache, make = PublicCache(EventHub(), ttl=10, clock=clock), Maker()
    assert (await cache.get("a", make))[0] == b"answer 1"
    assert (await cache.get("b", make))[0] == b"answer 2"
    clock.now += 9.9
    assert (await cache.get("a", make))[0] == b"answer 1"
    clock.now += 0.2
    assert (await cache.get("a", make))[0] == b"answer 3"
    cache.invalidate()
    assert (await cache.get("b", make))[0] == b"answer 4"


async def test_readers_arriving_during_a_computation_share_it() -> None:
    cache, make = PublicCache(EventHub(), clock=Clock()), Maker()
    make.gate = asyncio.Event()
    readers = [asyncio.create_task(cache.get("k", make)) for _ in range(20)]
    await asyncio.sleep(0)
    make.gate.set()
    answers = await asyncio.gather(*readers)
    assert make.calls == 1 and {a[0] for a in answers} == {b"answer 1"}


async def test_a_change_during_the_computation_is_not_hidden_by_keeping_its_answer() -> None:
    hub = EventHub()
    cache, make = PublicCache(hub, clock=Clock()), Maker()
    make.gate = asyncio.Event()
    reader = asyncio.create_task(cache.get("k", make))
    await asyncio.sleep(0)
    hub.publish({"type": "ticket", "change": "created", "number": "2600002"})  # read may predate it
    make.gate.set()
    assert (await reader)[0] == b"answer 1"
    make.gate = None
    assert (await cache.get("k", make))[0] == b"answer 2"


async def test_a_failed_computation_is_not_kept_and_a_reader_who_leaves_does_not_cancel_it() -> None:
    cache = PublicCache(EventHub(), clock=Clock())
    calls = 0

    async def broken() -> tuple[bytes, str]:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("store down")

    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            await cache.get("k", broken)
    assert calls == 2

    make = Maker()
    make.gate = asyncio.Event()
    leaver = asyncio.create_task(cache.get("k", make))
    stayer = asyncio.create_task(cache.get("k", make))
    await asyncio.sleep(0)
    leaver.cancel()
    make.gate.set()
    assert (await stayer)[0] == b"answer 1"
    assert leaver.cancelled() and make.calls == 1


async def test_the_number_of_kept_answers_is_bounded() -> None:
    cache, make = PublicCache(EventHub(), max_entries=3, clock=Clock()), Maker()
    for key in "abcd":
        await cache.get(key, make)
    assert (await cache.get("d", make))[0] == b"answer 4"  # kept
    assert (await cache.get("a", make))[0] == b"answer 5"  # the oldest was dropped
