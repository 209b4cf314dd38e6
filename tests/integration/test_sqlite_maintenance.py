"""SQLite housekeeping runs outside ticket writes and really checkpoints and merges."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.app import build_services
from callcenter.config import load_settings
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.services import Services
from callcenter.store.db import sqlite_file
from callcenter.store.maintenance import maintain_once
from callcenter.store.reference_sync import sync_reference
from callcenter.tickets.schemas import NewTicket, TicketFilter


@pytest.fixture
async def sqlite_services(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Services]:
    """SQLite only: on PostgreSQL its own checkpointer and autovacuum do this job."""
    shutil.copy(sqlite_template, tmp_path / "m.db")
    built = build_services(
        load_settings(
            environ={},
            overrides={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", "data_dir": tmp_path / "data"},
        )
    )
    await sync_reference(built.sessions, built.reference)
    yield built
    await built.engine.dispose()


async def test_checkpoint_and_merge_keep_search_working(sqlite_services: Services) -> None:
    services = sqlite_services
    path = sqlite_file(services.settings.database_url)
    assert path is not None
    actor = Actor(role=Role.OPERATOR, name="op")
    for i in range(30):
        await services.tickets.create(
            NewTicket(
                channel=Channel.WEB,
                phone=f"+7978222{i:04d}",
                category="garbage",
                title="Мусор",
                description=f"Контейнеры переполнены {i}",
            ),
            actor,
        )
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0  # writes did not checkpoint by themselves
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT v FROM tickets_fts_config WHERE k = 'automerge'").fetchone() == (0,)
    maintain_once(path)
    with sqlite3.connect(path) as conn:
        busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == done  # everything was already in the database file
    found = await services.tickets.list(TicketFilter(query="контейнер"), limit=50)
    assert len(found.rows) == 30
