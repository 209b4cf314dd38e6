"""/ws stops streaming when its session ends: logout closes that session's sockets at once."""

from __future__ import annotations

import aiohttp

from callcenter.domain.tickets import Role
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, new_ticket, staff_client

TIMEOUT = 15
CLOSE_REVOKED = 4001


async def test_logout_closes_the_sessions_sockets_and_only_them(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    url = live_server.url.replace("http", "ws") + "/ws"
    async with staff_client(live_server.url, "anna") as desk, staff_client(live_server.url, "anna") as phone:
        async with desk.http.ws_connect(url) as desk_ws, phone.http.ws_connect(url) as phone_ws:
            for ws in (desk_ws, phone_ws):
                assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "hello"
            await desk.refresh_csrf()
            assert (await desk.post("/logout")).status == 303
            closing = await desk_ws.receive(timeout=TIMEOUT)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert desk_ws.close_code == CLOSE_REVOKED
            # The other device's session is untouched and still streams.
            ticket = await new_ticket(live_server.services)
            while (message := await phone_ws.receive_json(timeout=TIMEOUT))["type"] != "ticket":
                pass
            assert message["number"] == ticket.number
