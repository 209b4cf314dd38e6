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
        # What a SIGKILLed leader's session looks like to PostgreSQL: it ends.
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid IN"
            " (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            "  AND (classid::bigint << 32 | objid::bigint) = $2)",
            APPLICATION_NAME,
            key,
        )
        assert killed == 1
        await asyncio.wait_for(holding, 10)  # the old leader notices
        assert not first.leading
        await asyncio.wait_for(waiting, 10)  # and the other one leads
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
