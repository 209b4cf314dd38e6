"""The AMI leader among instances: one holder of the advisory lock, failover when it dies (issue 19)."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from callcenter.store.pg_hub_bridge import asyncpg_dsn
from callcenter.store.pg_leader import APPLICATION_NAME, PgLeader

pytestmark = pytest.mark.skipif(
    not os.environ.get("CALLCENTER_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="advisory locks are PostgreSQL's (CALLCENTER_TEST_DATABASE_URL)",
)


def dsn() -> str:
    found = asyncpg_dsn(os.environ["CALLCENTER_TEST_DATABASE_URL"])
    assert found is not None
    return found


async def kill_holder(admin: asyncpg.Connection, key: int) -> int:
    return int(
        await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid IN"
            " (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            "  AND (classid::bigint << 32 | objid::bigint) = $2)",
            APPLICATION_NAME,
            key,
        )
    )


async def test_a_leader_whose_session_dies_with_nobody_waiting_keeps_leading() -> None:
    """A database restart is no reason to give up AMI: the leader asks again and holds on."""
    key = 1563_0019_8000 + os.getpid() % 1000
    leader = PgLeader(dsn(), key=key, retry_seconds=0.05, check_seconds=0.05)
    await asyncio.wait_for(leader.acquire(), 10)
    holding = asyncio.create_task(leader.hold())
    admin = await asyncpg.connect(dsn())
    try:
        assert await kill_holder(admin, key) == 1
        for _ in range(100):
            await asyncio.sleep(0.05)
            if leader.attempts >= 2 and leader.leading:
                break
        assert leader.attempts >= 2 and leader.leading and not holding.done()
        assert await kill_holder(admin, key) == 1  # the lock is held again, by a new session of it
    finally:
        holding.cancel()
        await asyncio.gather(holding, return_exceptions=True)
        await leader.release()
        await admin.close()


async def test_one_leader_and_the_next_takes_over_when_its_session_dies() -> None:
    key = 1563_0019_9000 + os.getpid() % 1000  # not the service's key: tests may run beside an app
    first = PgLeader(dsn(), key=key, retry_seconds=0.05, check_seconds=0.05)
    second = PgLeader(dsn(), key=key, retry_seconds=0.05, check_seconds=0.05)
    await asyncio.wait_for(first.acquire(), 10)
    waiting = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.5)
    assert first.leading and not waiting.done() and second.attempts >= 3  # asked again and again, refused
    holding = asyncio.create_task(first.hold())
    admin = await asyncpg.connect(dsn())
    try:
        # What a SIGKILLed leader's session looks like to PostgreSQL: it ends. Here the old
        # leader's process lives on, so it asks again at once; whoever wins, one leads.
        assert await kill_holder(admin, key) == 1
        await asyncio.wait([holding, waiting], timeout=2, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(0.3)
        assert waiting.done() != (not holding.done())  # the follower leads iff the old leader stepped down
        assert first.leading != second.leading
        if first.leading:  # the old leader won the race: the follower still waits
            waiting.cancel()
            holding.cancel()
            await asyncio.gather(waiting, holding, return_exceptions=True)
            await first.release()
            await asyncio.wait_for(second.acquire(), 10)
        assert second.leading
        again = PgLeader(dsn(), key=key, retry_seconds=0.05)
        third = asyncio.create_task(again.acquire())
        await asyncio.sleep(0.3)
        assert not third.done()  # still one leader
        third.cancel()
        await asyncio.gather(third, return_exceptions=True)
    finally:
        await second.release()
        await admin.close()
