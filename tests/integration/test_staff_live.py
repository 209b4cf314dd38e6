"""The /ws WebSocket on a real socket: who receives what, and a slow browser never blocks the hub."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from callcenter.domain.tickets import Role, Status
from tests.conftest import LiveServer
from tests.integration.test_staff_support import (
    OPERATOR_ACTOR,
    make_user,
    new_ticket,
    session_cookie,
    staff_client,
)

TIMEOUT = 10


@asynccontextmanager
async def live_socket(live_server: LiveServer, login: str) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A signed-in user's /ws, past its "hello" (so it is subscribed)."""
    async with staff_client(live_server.url, login) as client:
        async with client.http.ws_connect(live_server.url.replace("http", "ws") + "/ws") as ws:
            assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "hello"
            yield ws


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return await ws.receive_json(timeout=TIMEOUT)


async def test_new_tickets_and_status_changes_reach_operators(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    async with live_socket(live_server, "anna") as ws:
        ticket = await new_ticket(services)
        created = await next_message(ws)
        assert (created["type"], created["change"], created["number"]) == ("ticket", "created", ticket.number)
        await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
        moved = await next_message(ws)
        assert (moved["change"], moved["status"], moved["previous"]) == ("status", "dispatched", "new")


async def test_executors_hear_only_their_department(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    async with live_socket(live_server, "vera") as ws:
        pothole = await new_ticket(services, category="road_pothole", description="Яма")
        leak = await new_ticket(services)
        first = await next_message(ws)
        assert first["number"] == leak.number and first["department"] == "vodokanal"
        assert pothole.department != "vodokanal"


async def test_screen_pops_go_only_to_the_named_operator(live_server: LiveServer) -> None:
    services = live_server.services
    anna = await make_user(services, "anna", Role.OPERATOR, device="PJSIP/op1")
    boris = await make_user(services, "boris", Role.OPERATOR, device="PJSIP/op2")
    async with live_socket(live_server, "anna") as ws_anna, live_socket(live_server, "boris") as ws_boris:
        services.hub.publish({"type": "pop", "user_id": anna.id, "caller": "+79781234567", "linkedid": "L1"})
        services.hub.publish({"type": "pop", "user_id": boris.id, "caller": "+79787654321", "linkedid": "L2"})
        assert (await next_message(ws_anna))["linkedid"] == "L1"
        assert (await next_message(ws_boris))["linkedid"] == "L2"


async def test_calls_callbacks_and_board_updates_go_to_supervisors_only(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    await make_user(services, "sveta", Role.SUPERVISOR)
    async with live_socket(live_server, "anna") as ws_op, live_socket(live_server, "sveta") as ws_sup:
        for kind in ("call", "callback", "board"):
            services.hub.publish({"type": kind, "id": kind})
        services.hub.publish({"type": "ticket", "number": "marker", "department": None})
        assert [(await next_message(ws_sup))["type"] for _ in range(4)] == ["call", "callback", "board", "ticket"]
        assert (await next_message(ws_op))["number"] == "marker"


async def test_revoking_sessions_closes_open_sockets(live_server: LiveServer) -> None:
    services = live_server.services
    user = await make_user(services, "anna", Role.OPERATOR)
    async with live_socket(live_server, "anna") as ws:
        services.hub.publish({"type": "session", "change": "revoked", "user_id": user.id})
        closing = await ws.receive(timeout=TIMEOUT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4001


async def test_another_sites_page_cannot_open_the_socket(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        try:
            await client.http.ws_connect(
                live_server.url.replace("http", "ws") + "/ws", headers={"Origin": "https://evil.example"}
            )
        except aiohttp.WSServerHandshakeError as err:
            assert err.status == 403
        else:
            raise AssertionError("a foreign Origin was let in")


async def _stalled_socket(live_server: LiveServer, token: str) -> socket.socket:
    """A WebSocket that completes its handshake and then never reads (a frozen browser tab)."""
    host, port = live_server.url.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        raw,
        (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCookie: cc_session={token}\r\n\r\n"
        ).encode(),
    )
    head = await asyncio.wait_for(loop.sock_recv(raw, 1024), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


async def test_a_stalled_browser_neither_blocks_the_hub_nor_other_browsers(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    await make_user(services, "slow", Role.OPERATOR)
    async with staff_client(live_server.url, "slow") as slow_client:
        stalled = await _stalled_socket(live_server, session_cookie(slow_client))
        try:
            async with live_socket(live_server, "anna") as ws:
                payload = "ж" * 20_000  # 40 KB a message: the stalled socket's buffers fill at once
                for n in range(200):
                    services.hub.publish({"type": "ticket", "number": str(n), "department": None, "pad": payload})
                received = [json.loads((await ws.receive(timeout=TIMEOUT)).data)["number"] for _ in range(200)]
                assert received == [str(n) for n in range(200)]
                # A burst larger than any queue: the hub still never waits, each queue keeps the newest.
                for n in range(600):
                    services.hub.publish({"type": "ticket", "number": str(1000 + n), "department": None})
                seen = [int((await next_message(ws))["number"])]
                while seen[-1] != 1599:
                    seen.append(int((await next_message(ws))["number"]))
                assert seen == sorted(seen) and len(seen) <= 256
        finally:
            stalled.close()
