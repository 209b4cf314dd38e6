"""Shared fixtures: real databases (SQLite always; PostgreSQL when CALLCENTER_TEST_DATABASE_URL is set).

With the variable set, the PostgreSQL run must succeed: an unreachable server makes the
tests error out, never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp import web_app as aiohttp_web_app
from sqlalchemy import text

from callcenter.app import build_services
from callcenter.config import Settings, load_settings
from callcenter.services import Services
from callcenter.store.migrate import upgrade
from callcenter.store.reference_sync import sync_reference


@pytest.fixture(autouse=True)
def _release_finished_apps() -> Iterator[None]:
    """Let each test's application go when the test ends.

    aiohttp caches every (handler, applications) middleware chain in a module-level
    ``lru_cache(maxsize=1024)`` (``aiohttp.web_app._cached_build_middleware``). In production
    there is one application, so the cache is bounded by its routes; in this suite every test
    builds its own, and the cache kept up to 1,024 of them alive, each with its services
    (about 40 MB: the gazetteer's morphology, the reference data): one pytest process grew to
    10-11 GB over the suite. Clearing it after each test keeps the suite at a few hundred MB.
    """
    yield
    cached = getattr(aiohttp_web_app, "_cached_build_middleware", None)
    if cached is not None:
        cached.cache_clear()


# Fixtures every suite may ask for without importing them (the SMTP server: mail_server).
pytest_plugins = ["tests.notify_support"]

PG_ENV = "CALLCENTER_TEST_DATABASE_URL"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(PG_ENV) else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ[PG_ENV]
    upgrade(url)  # raises (and so fails every PostgreSQL test) if the server is unreachable
    yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": "test-secret",
            "agi_port": 0,  # a free port: several suites may run at once
            "audiosocket_port": 0,
        },
    )


async def _truncate_postgres(services: Services) -> None:
    async with services.engine.begin() as conn:
        tables = (
            (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The real services over a clean, migrated database with reference data loaded."""
    built = build_services(settings)
    if built.engine.dialect.name == "postgresql":
        await _truncate_postgres(built)
    await sync_reference(built.sessions, built.reference)
    try:
        yield built
    finally:
        await built.engine.dispose()


@dataclass
class LiveServer:
    """The real app on a real port (aiohttp AppRunner), for HTTP, WebSocket and browser tests."""

    url: str
    app: web.Application
    services: Services


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    from callcenter.app import init_app
    from callcenter.services import SERVICES

    app = init_app(settings)
    services = app[SERVICES]
    # Empty the shared PostgreSQL database before the app starts: its background jobs (callback
    # dispatcher, escalation ticks) read the previous test's rows at start-up, and a TRUNCATE
    # racing them deadlocked (tickets/citizens/ticket_events). Start-up then loads the reference.
    if services.engine.dialect.name == "postgresql":
        await _truncate_postgres(services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if services.engine.dialect.name == "postgresql":
        await sync_reference(services.sessions, services.reference)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, services)
    finally:
        await runner.cleanup()
