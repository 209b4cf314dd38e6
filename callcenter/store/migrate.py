"""Alembic driven from code: `callcenter db upgrade`, the first `serve`, and the tests."""

from __future__ import annotations

import asyncio
import logging

from alembic import command
from alembic.config import Config

logger = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "callcenter.store:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database to ``revision``. Blocking: call it before the loop or in a thread."""
    logger.info("migrating database to %s", revision)
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    # env.py runs its own event loop, so it must live in another thread.
    await asyncio.to_thread(upgrade, database_url, revision)

