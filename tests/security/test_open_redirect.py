"""Open redirect: ``next=`` on /login and ``back=`` on ticket moves leave only for a path on this site.

The review's attack: ``/\\t/evil.example`` passed the prefix check, aiohttp dropped the tab and
answered ``Location: //evil.example`` (a protocol-relative URL to another site).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from callcenter.domain.tickets import Role
from tests.conftest import LiveServer
from tests.integration.test_staff_support import PASSWORD, make_user, new_ticket, staff_client

ATTACKS = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/ /evil.example",
    "/\x0b/evil.example",
    "/\x00/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\t\t//evil.example",
    " //evil.example",
    "/\u3000/evil.example",
    "/\x7f/evil.example",
]


def leaves_the_site(location: str) -> bool:
    return location.startswith("//") or "evil.example" in location or ":" in location.split("/")[0]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_login_next_never_leaves_the_site(live_server: LiveServer, attack: str) -> None:
    await make_user(live_server.services, "vera", Role.EXECUTOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        resp = await client.post("/login", {"login": "vera", "password": PASSWORD, "next": attack})
        assert resp.status == 303
        assert resp.headers["Location"] == "/staff/queue"
        # Signed in, GET /login?next= redirects at once: the same rule.
        again = await client.get("/login?next=" + quote(attack, safe=""), allow_redirects=False)
        assert again.status == 302 and not leaves_the_site(again.headers["Location"])


async def test_a_local_next_still_works(live_server: LiveServer) -> None:
    await make_user(live_server.services, "vera", Role.EXECUTOR)
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        resp = await client.post("/login", {"login": "vera", "password": PASSWORD, "next": "/staff/queue?page=2"})
        assert resp.headers["Location"] == "/staff/queue?page=2"


@pytest.mark.parametrize("attack", ["/\t/evil.example", "/\n/evil.example", "//evil.example"])
async def test_ticket_move_back_never_leaves_the_site(live_server: LiveServer, attack: str) -> None:
    await make_user(live_server.services, "olga", Role.OPERATOR)
    ticket = await new_ticket(live_server.services)
    async with staff_client(live_server.url, "olga") as client:
        await client.refresh_csrf()
        resp = await client.post(
            f"/staff/tickets/{ticket.number}/move", {"to": "rejected", "note": "Не наше", "back": attack}
        )
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == f"/staff/tickets/{ticket.number}?done=moved"
