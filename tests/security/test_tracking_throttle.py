"""Tracking: a guesser is throttled per address and cannot lock the citizen out of their own ticket."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest

from callcenter.config import Settings
from tests.conftest import LiveServer
from tests.integration.test_portal_public import create


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, trusted_proxies=["127.0.0.1"])  # as behind nginx


async def track(
    http: aiohttp.ClientSession, live_server: LiveServer, number: str, digits: str, address: str
) -> tuple[int, str]:
    async with http.post(
        live_server.url + "/track", data={"number": number, "digits": digits}, headers={"X-Forwarded-For": address}
    ) as resp:
        return resp.status, await resp.text()


async def test_ten_wrong_guesses_elsewhere_do_not_block_the_citizen(live_server: LiveServer) -> None:
    ticket = await create(live_server)  # phone +79781112233
    async with aiohttp.ClientSession() as http:
        for digits in range(10):
            status, _ = await track(http, live_server, ticket.number, f"{digits:04d}", "203.0.113.5")
            assert status == 404
        status, page = await track(http, live_server, ticket.number, "2233", "203.0.113.5")
        assert status == 429 and "слишком много неверных попыток" in page  # the guesser is stopped
        status, page = await track(http, live_server, ticket.number, "2233", "198.51.100.7")
        assert status == 200 and ticket.number in page  # the citizen is not
