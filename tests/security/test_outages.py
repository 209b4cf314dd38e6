"""A database outage and a client that goes away: told apart, and answered in the caller's format."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from callcenter.store.db import create_engine
from tests.conftest import LiveServer
from tests.security.rawhttp import NO_ANSWER_BOUND


async def test_open311_answers_an_outage_in_the_georeport_format(live_server: LiveServer, tmp_path: Path) -> None:
    """Partners parse GeoReport errors: during an outage they got the staff error body instead."""
    sessions = live_server.services.sessions
    original = sessions.kw["bind"]
    dead = create_engine(
        "postgresql+asyncpg://nobody@127.0.0.1:9/none"
        if original.url.get_backend_name() == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path}"  # a folder is no database file
    )
    sessions.configure(bind=dead)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(live_server.url + "/open311/v2/requests/2026000001.json") as resp:
                assert resp.status == 503
                body = json.loads(await resp.read())
            async with http.get(live_server.url + "/open311/v2/requests/2026000001.xml") as resp:
                assert resp.status == 503
                xml = await resp.text()
    finally:
        sessions.configure(bind=original)
        await dead.dispose()
    assert isinstance(body, list) and body[0]["code"] == 503 and body[0]["description"]
    assert "<errors>" in xml and "<code>503</code>" in xml


async def test_a_client_that_goes_away_mid_body_is_no_database_outage(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A browser that closes while its form is read used to be logged as «database unavailable»."""
    caplog.set_level(logging.INFO, logger="callcenter")
    parts = urlsplit(live_server.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 100000\r\n\r\nlogin=olga&password="
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()

    async def logged() -> None:
        while not any("client went away" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)  # waiting for the server's log line (an event), bounded below

    await asyncio.wait_for(logged(), NO_ANSWER_BOUND)
    gone = [r for r in caplog.records if "client went away" in r.getMessage()]
    assert gone[0].levelno == logging.INFO and "/login" in gone[0].getMessage()
    assert not [r for r in caplog.records if "database unavailable" in r.getMessage()]
    async with aiohttp.ClientSession() as http, http.get(live_server.url + "/healthz") as resp:
        assert resp.status == 200
