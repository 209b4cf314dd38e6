"""Open311 POST: the 256 KB limit holds however the body is framed (a 20 MB chunked POST made a ticket)."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import func, select

from callcenter.open311.cli import Open311KeyCommand
from callcenter.store import models as m
from tests.conftest import LiveServer
from tests.security.rawhttp import exchange

URL = "/open311/v2/requests.json"


@pytest.fixture
async def api_key(live_server: LiveServer, capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser(prog="callcenter")
    command = Open311KeyCommand()
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([command.name, "add", "Городской помощник"])
    assert await command.run(args, live_server.services.settings) == 0
    return capsys.readouterr().out.strip()


async def ticket_count(live_server: LiveServer) -> int:
    async with live_server.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(m.Ticket))).scalar_one()


def fields(api_key: str, description: str) -> bytes:
    return "&".join(
        f"{k}={quote(v)}"
        for k, v in {
            "api_key": api_key,
            "service_code": "water_leak",
            "lat": "44.6085",
            "long": "33.5265",
            "description": description,
        }.items()
    ).encode()


async def test_a_chunked_post_over_256_kb_is_refused_and_makes_no_ticket(live_server: LiveServer, api_key: str) -> None:
    async def chunked() -> AsyncIterator[bytes]:
        body = fields(api_key, "Течь " + "в" * 3_000_000)  # about 6 MB once percent-encoded
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            live_server.url + URL, data=chunked(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        ) as resp,
    ):
        assert resp.status == 413
        assert "256 КБ" in json.loads(await resp.read())[0]["description"]
    assert await ticket_count(live_server) == 0


async def test_the_refusal_comes_after_256_kb_not_after_the_whole_body(live_server: LiveServer, api_key: str) -> None:
    def framed(chunk: bytes) -> bytes:
        return f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

    answer = await exchange(
        live_server.url,
        (
            f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked"
        ),
        [framed(fields(api_key, "a") + b"&pad="), framed(b"x" * 65536) * 6],
    )  # 400 KB, never ending
    assert answer.status == 413


async def test_a_small_chunked_post_still_makes_a_ticket(live_server: LiveServer, api_key: str) -> None:
    async def chunked() -> AsyncIterator[bytes]:
        yield fields(api_key, "Течь воды из люка у дома 5")

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            live_server.url + URL, data=chunked(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
    assert await ticket_count(live_server) == 1
