"""Alembic driven from code: `callcenter db upgrade`, the first `serve`, and the tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config

from callcenter.store.db import sqlite_file

logger = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "callcenter.store:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database to ``revision``. Blocking: call it before the loop or in a thread."""
    logger.info("migrating database to %s", revision)
    path = sqlite_file(database_url)
    before = _sqlite_revision(path) if path is not None else None
    command.upgrade(alembic_config(database_url), revision)
    if path is not None and before is not None and _sqlite_revision(path) != before:
        # New indexes have no statistics yet, and SQLite's planner may then prefer one that
        # cannot serve ORDER BY (seen at a million tickets: 3 ms -> 57 ms). PostgreSQL's
        # autovacuum analyses by itself.
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("ANALYZE")


def _sqlite_revision(path: Path) -> str | None:
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(path)) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return None
    return row[0] if row else None


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    # env.py runs its own event loop, so it must live in another thread.
    await asyncio.to_thread(upgrade, database_url, revision)
