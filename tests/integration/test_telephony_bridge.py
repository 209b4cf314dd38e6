"""The event hub across app instances (PostgreSQL LISTEN/NOTIFY).

Instance A runs the AMI link; an operator's browser holds its WebSocket on instance B.
The pop made on A must reach them on B, large messages must arrive whole, and B must
survive losing its LISTEN connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import asyncpg
import pytest

from callcenter.app import HUB_BRIDGE
from callcenter.store.pg_hub_bridge import APPLICATION_NAME, MAX_PAYLOAD, asyncpg_dsn, encode
from tests.conftest import PG_ENV
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (
    OP1,
    QUEUE_CALL,
    TRACE_CALLER,
    HubWatch,
    RunningApp,
    clean_database,
    index_of,
    make_user,
    queue_events,
    running_app,
    signed_in,
    stamp,
    telephony_settings,
)

needs_postgres = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set: no PostgreSQL")


def test_large_messages_go_in_parts_each_under_the_limit():
    message = {
        "type": "board",
        "queued": [{"caller": "+7978" + str(i).zfill(7), "name": "Абонент №" * 30} for i in range(300)],
    }
    payloads = encode(message, "inst1", 42)
    assert len(payloads) > 5
    assert all(len(p.encode("utf-8")) <= MAX_PAYLOAD for p in payloads)
    assert [json.loads(p)["k"] for p in payloads] == list(range(len(payloads)))
    small = encode({"type": "pop", "caller": "+79780003330"}, "inst1", 43)
    assert len(small) == 1 and json.loads(small[0]) == {"o": "inst1", "m": {"type": "pop", "caller": "+79780003330"}}


def test_no_bridge_without_postgresql():
    assert asyncpg_dsn("sqlite+aiosqlite:///callcenter.db") is None
    assert asyncpg_dsn("postgresql+asyncpg://cc:secret@db:5432/cc") == "postgresql://cc:secret@db:5432/cc"


async def test_the_bridge_runs_exactly_on_postgresql(database_url, tmp_path):
    settings = telephony_settings(database_url, tmp_path, None)
    async with running_app(settings) as app:
        on_postgres = app.services.engine.dialect.name == "postgresql"
        assert (HUB_BRIDGE in app.app) is on_postgres
        if on_postgres:
            assert await app.app[HUB_BRIDGE].wait_connected(10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def pair(postgres_url: str, tmp_path, fake: FakeAmi) -> AsyncIterator[tuple[RunningApp, RunningApp]]:
    """Instance A with the AMI link, instance B without; both on one PostgreSQL database."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(running_app(telephony_settings(postgres_url, tmp_path / "a", fake)))
        b = await stack.enter_async_context(running_app(telephony_settings(postgres_url, tmp_path / "b", None)))
        await clean_database(a.services)
        await a.telephony.live.directory.refresh()
        for app in (a, b):
            assert await app.app[HUB_BRIDGE].wait_connected(10)
        assert await a.telephony.live.link.wait_connected(5)
        await fake.wait_for(lambda: fake.count("QueueStatus") >= 1)
        yield a, b


@needs_postgres
async def test_pop_made_on_one_instance_reaches_the_operator_on_another(pair, fake: FakeAmi):
    a, b = pair
    op1 = await make_user(a.services, "op1", device=OP1)
    await make_user(a.services, "boss", role="supervisor")
    events = stamp(queue_events(), time.time() - 100)
    cut = index_of(events, "AgentCalled") + 1
    async with (
        signed_in(b.url, "op1") as one,
        one.socket() as inbox,
        signed_in(b.url, "boss") as boss,
        boss.socket() as board_inbox,
    ):
        await inbox.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(events[:cut])
        pop = await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("complete"))
        board = await board_inbox.wait_for(lambda m: m["type"] == "board" and m["queued"])
        state = await (await boss.get("/staff/calls/state")).json()  # B serves A's board
        await fake.send_frames(events[cut:])
        await inbox.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ended")
    assert b.services.ami is None and b.telephony.live is None
    assert pop["user_id"] == op1.id and pop["linkedid"] == QUEUE_CALL and pop["caller"] == TRACE_CALLER
    assert board["link"] == "connected" and board["queued"][0]["linkedid"] == QUEUE_CALL
    assert state["board"]["link"] == "connected"
    pops = [m for m in inbox.of_type("pop") if m["state"] == "ringing" and m.get("complete")]
    assert len(pops) == 1  # arrived once: B does not echo it back, A does not bounce it


@needs_postgres
async def test_large_message_arrives_whole_and_own_echo_is_dropped(pair):
    a, b = pair
    big = {
        "type": "board",
        "link": "connected",
        "marker": "большое сообщение",
        "queued": [{"linkedid": f"17000000{i}.1", "caller_display": "+7 978 000-00-00 " * 20} for i in range(120)],
    }
    with (
        HubWatch(b.services, lambda m: m.get("marker") == "большое сообщение") as on_b,
        HubWatch(a.services, lambda m: m.get("marker") == "большое сообщение") as on_a,
    ):
        a.services.hub.publish(big)
        received = await on_b.next()
        assert received == big
        assert await on_a.next() == big  # the local delivery
        b.services.hub.publish({"type": "board", "marker": "большое сообщение", "from": "b"})
        # PostgreSQL delivers notifications in commit order: A's own parts came back to A
        # before B's message did. Had A republished its echo, a second copy would be next.
        assert (await on_a.next())["from"] == "b"
    assert len(json.dumps(big, ensure_ascii=False).encode("utf-8")) > MAX_PAYLOAD
    assert a.app[HUB_BRIDGE].stats.echoes >= 2  # the parts of the large message, dropped


@needs_postgres
async def test_listener_comes_back_after_its_connection_is_killed(pair, postgres_url: str):
    a, b = pair
    bridge = b.app[HUB_BRIDGE]
    dsn = asyncpg_dsn(postgres_url)
    admin = await asyncpg.connect(dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
    finally:
        await admin.close()
    assert killed >= 2  # both instances' listeners
    with HubWatch(b.services, lambda m: m.get("marker") == "after the loss") as on_b:
        # Publish until B is listening again (NOTIFY is not durable: earlier ones are lost).
        for _attempt in range(60):
            a.services.hub.publish({"type": "board", "marker": "after the loss"})
            try:
                await on_b.next(timeout=0.5)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("instance B never listened again")
    assert bridge.stats.connects >= 2 and bridge.connected


@needs_postgres
async def test_only_the_leader_publishes_the_wallboard_a_follower_relays_a_pause(
    postgres_url: str, tmp_path, fake: FakeAmi
):
    """Both instances configured with AMI, as deploy/several-instances.md says: one leads. The
    supervisors get one wallboard per change (not one per instance), and a pause asked on the
    follower is sent to Asterisk by the leader (telephony/relay.py)."""
    from callcenter.wallboard.wiring import WALLBOARD

    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(running_app(telephony_settings(postgres_url, tmp_path / "a", fake)))
        await clean_database(a.services)
        assert a.services.ami is not None and await a.services.ami.wait_connected(10)
        b = await stack.enter_async_context(running_app(telephony_settings(postgres_url, tmp_path / "b", fake)))
        for app in (a, b):
            assert await app.app[HUB_BRIDGE].wait_connected(10)
        assert b.services.ami is not None and not b.services.ami.running  # a follower: no AMI session
        await make_user(a.services, "op1", device=OP1)
        events = stamp(queue_events(), time.time() - 100)
        await fake.send_frames(events[: index_of(events, "AgentCalled") + 1])
        async with asyncio.timeout(10):
            while a.app[WALLBOARD].board.published == 0:
                await asyncio.sleep(0.05)  # the leader's coalesced publish (<= 1 a second)
        await asyncio.sleep(1.5)  # a follower that publishes would have done so by now
        assert b.app[WALLBOARD].board.published == 0

        answer = await b.services.ami_actions.send_action(  # type: ignore[union-attr]
            {"Action": "QueuePause", "Interface": OP1, "Paused": "true", "Reason": "Обед"}, timeout=5
        )
        assert answer.ok
        assert fake.count("QueuePause") == 1
