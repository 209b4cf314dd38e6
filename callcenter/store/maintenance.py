"""SQLite housekeeping off the request path: WAL checkpoints and FTS5 segment merges.

By default SQLite checkpoints the WAL, and FTS5 merges its index segments, inside whichever
write happens to cross a threshold: at a million tickets that one ticket creation then takes
20-70 ms instead of 3. The app turns both off on its connections (see store/db.py and
migration 0007) and this task does the same work in small steps every few seconds, on its own
short-lived connection in a worker thread. FTS5's crisis merge still bounds the segments if this
task is not running (a CLI command), and SQLite checkpoints when the last connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

MERGE_PAGES = 200  # bounded work per step, so the write lock is held only briefly


def maintain_once(path: Path) -> None:
    """One bounded FTS merge step and one passive checkpoint (blocking; run in a thread)."""
    with contextlib.closing(sqlite3.connect(path, timeout=5, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout=5000")
        with contextlib.suppress(sqlite3.OperationalError):  # no FTS table before migrations
            conn.execute("INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('merge', ?)", (MERGE_PAGES,))
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


class SqliteMaintenance:
    """Runs :func:`maintain_once` every ``interval`` seconds while the app runs."""

    def __init__(self, path: Path, interval: float = 2.0) -> None:
        self._path = path
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-maintenance")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(maintain_once, self._path)
            except sqlite3.Error as err:  # busy or locked: the next round tries again
                logger.warning("SQLite maintenance step failed: %s", err)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # leave a small WAL behind for the next start
        await asyncio.to_thread(maintain_once, self._path)
