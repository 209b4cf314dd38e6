"""The web app on a real socket: /healthz, error pages, static files."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.conftest import LiveServer


async def test_healthz_reports_db_ami_and_version(live_server: LiveServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(live_server.url + "/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["status"] == "ok" and body["db"] == "ok" and body["ami"] == "disabled"
    assert body["version"]


async def test_healthz_says_when_the_database_is_gone(live_server: LiveServer, tmp_path: Path) -> None:
    original_url = live_server.services.engine.url
    # Point /healthz at a server that is not there: the check must answer, not hang or crash. (The
    # app's own engine is left alone: disposing it under the running app orphaned the connections
    # its background jobs had checked out, and the garbage collector closed them with a warning,
    # Connection.__del__, in whichever later test it ran.)
    from callcenter.store.db import create_engine

    dead = (
        "postgresql+asyncpg://nobody@127.0.0.1:9/none"
        if original_url.get_backend_name() == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path}"
    )  # a folder is no database file
    original = live_server.services.engine
    live_server.services.engine = create_engine(dead)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(live_server.url + "/healthz") as resp:
                assert resp.status == 503
                assert (await resp.json())["db"] == "unavailable"
    finally:
        # The app's cleanup disposes services.engine: the dead one now, its own engine after this.
        await live_server.services.engine.dispose()
        live_server.services.engine = original


async def test_unknown_page_is_a_russian_404(live_server: LiveServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(live_server.url + "/no-such-page") as resp:
            assert resp.status == 404
            assert "Страница не найдена" in await resp.text()
        async with http.get(live_server.url + "/static/css/app.css") as resp:
            assert resp.status == 200 and "--green" in await resp.text()
