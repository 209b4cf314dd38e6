"""Which app instance talks to Asterisk's AMI: the holder of a PostgreSQL advisory lock.

Several instances on one PostgreSQL must not all track calls: each would write the same
call rows, build the same live board and send every screen pop once per instance (the
LISTEN/NOTIFY bridge carries each instance's pops to all the others). One instance, the
leader, holds ``pg_try_advisory_lock(LOCK_KEY)`` on a connection of its own and runs the
AMI link with everything fed by it (call tracker, call rows, pops, the board, callback
dialling); the others serve pages and sockets and get pops and boards over the bridge,
and keep asking for the lock every ``retry_seconds``.

Failover: PostgreSQL releases a session's advisory locks when the session ends, so a
leader killed with SIGKILL, or cut off from the database, frees the lock as soon as
PostgreSQL notices the connection is gone (at once for a dead process on the same host;
TCP keepalives bound it otherwise), and the next instance to ask takes it. A leader checks
its lock connection every ``check_seconds``. When that session is gone while the process
lives (a database restart, a network cut) it keeps tracking calls (telephony must not
depend on the database) and asks for the lock again at once; only when PostgreSQL answers
that another session holds it does the leader step down (the telephony feature then stops
its AMI link and the process; systemd restarts it and it asks again like any other).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)

LOCK_KEY = 1563_0019_0001  # a bigint no other lock of ours uses
APPLICATION_NAME = "callcenter-ami-leader"  # how the lock connection shows in pg_stat_activity


class PgLeader:
    """``acquire`` waits until this instance holds the lock; ``hold`` returns once it is lost."""

    def __init__(
        self,
        dsn: str,
        *,
        key: int = LOCK_KEY,
        retry_seconds: float = 2.0,
        check_seconds: float = 2.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._key = key
        self._retry = retry_seconds
        self._check = check_seconds
        self._connect_timeout = connect_timeout
        self._conn: Any = None
        self.attempts = 0

    @property
    def leading(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def acquire(self) -> None:
        """Return once this instance holds the lock; ask again every ``retry_seconds`` until then."""
        while not await self._try_once():
            await asyncio.sleep(self._retry)

    async def _try_once(self) -> bool | None:
        """True: the lock is ours now; False: another session holds it; None: no database."""
        self.attempts += 1
        conn = None
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                server_settings={"application_name": APPLICATION_NAME},
            )
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                self._conn = conn
                logger.info("this instance holds the AMI leadership lock")
                return True
            await conn.close()
            return False
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
            logger.warning("AMI leadership lock not asked (%s); trying again", err)
            if conn is not None:
                conn.terminate()
            return None

    async def hold(self) -> None:
        """Return once another session holds the lock (this one is no longer the leader).

        A database that does not answer is not a reason to step down: telephony keeps working
        through a database outage, and no other instance can take the lock meanwhile. Once the
        lock's session is gone the leader asks for the lock again at once and then every
        ``check_seconds / 10``, before any follower (every ``retry_seconds``) is likely to; if
        PostgreSQL answers that another session holds it, this instance has lost.
        """
        while True:
            await asyncio.sleep(self._check)
            if await self._alive():
                continue
            logger.error("the AMI leadership lock's session is gone: asking for the lock again")
            await self.release()
            while True:
                got = await self._try_once()
                if got:
                    break
                if got is False:
                    logger.critical("another instance holds the AMI leadership lock now")
                    return
                await asyncio.sleep(self._check / 10)

    async def _alive(self) -> bool:
        for _ in range(3):  # a loaded loop may answer late once; a dead session never answers
            if self._conn is None or self._conn.is_closed():
                return False
            try:
                async with asyncio.timeout(self._check * 2):
                    await self._conn.fetchval("SELECT 1")
                return True
            except TimeoutError:
                continue
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False
        return False

    async def release(self) -> None:
        """Give the lock up (closing the session releases it)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=self._check)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()
