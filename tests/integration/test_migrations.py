"""Migrations from an empty database, down and up again, and that the models match them."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from callcenter.store.db import create_engine
from callcenter.store.migrate import alembic_config, upgrade_async
from callcenter.store.models import Base


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    return database_url


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def test_upgrade_from_empty_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    url = empty_database_url
    if url.startswith("postgresql"):
        await _reset_postgres(url)
    try:
        await upgrade_async(url)
        await _assert_models_match(url)
        import asyncio

        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        await upgrade_async(url)
        await _assert_models_match(url)
    finally:
        if url.startswith("postgresql"):
            # leave the shared test database migrated for the other tests
            await upgrade_async(url)


def _import_every_module() -> None:
    """Feature slices keep their own models on the shared Base: load them all before comparing."""
    import importlib
    import pkgutil

    import callcenter

    for module in pkgutil.walk_packages(callcenter.__path__, "callcenter."):
        if module.name.endswith(("__main__", ".env")) or ".migrations" in module.name:
            continue
        importlib.import_module(module.name)


async def _assert_models_match(url: str) -> None:
    _import_every_module()
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    finally:
        await engine.dispose()
    # Index expressions for full-text search exist only in migrations (dialect-specific).
    relevant = [
        d
        for d in diff
        if not (
            isinstance(d, tuple)
            and d[0] == "remove_index"
            and d[1].name in ("ix_tickets_search_vector", "ix_tickets_address_lower")
        )
        and not (isinstance(d, tuple) and d[0] == "remove_column" and d[3].name == "search_vector")
        and not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name.startswith("tickets_fts"))
    ]
    assert relevant == [], relevant


def test_every_package_folder_is_installed() -> None:
    """pyproject lists packages explicitly (web/ and ivr/ are mapped): a forgotten one breaks installs."""
    root = Path(__file__).resolve().parents[2]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {str(p.parent.relative_to(root)).replace(os.sep, ".") for p in (root / "callcenter").rglob("__init__.py")}
    assert found - listed == set()


def test_sqlite_statistics_are_refreshed_after_an_upgrade(tmp_path: Path) -> None:
    """New indexes without statistics mislead SQLite's planner; an upgrade runs ANALYZE."""
    import sqlite3

    from callcenter.store.migrate import upgrade

    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0001")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] == 0
    upgrade(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] == 1
