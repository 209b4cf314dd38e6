"""Users change their own password: the current one is required, the rules hold, other sessions end.

The review's finding: users could not change their own password. Now they can from «Мой профиль»;
every other session of theirs ends at once, and those sessions' /ws sockets close (4001).
"""

from __future__ import annotations

import aiohttp

from callcenter.accounts.audit import AuditQuery
from callcenter.domain.tickets import Role
from callcenter.web.context import WEB
from tests.conftest import LiveServer
from tests.integration.test_staff_support import PASSWORD, make_user, new_ticket, staff_client

TIMEOUT = 15
CLOSE_REVOKED = 4001
NEW_PASSWORD = "  новый пароль смены 2026 "  # spaces kept: taken exactly as typed, like sign-in


async def _closed_as_revoked(ws: aiohttp.ClientWebSocketResponse) -> None:
    """The server closes with 4001 (the client's own close reply may race the transport's end)."""
    closing = await ws.receive(timeout=TIMEOUT)
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == CLOSE_REVOKED, closing


async def _change(client, current: str, new: str, again: str | None = None) -> aiohttp.ClientResponse:  # type: ignore[no-untyped-def]
    await client.get("/staff/account")
    return await client.post(
        "/staff/account/password", {"current": current, "password": new, "password2": new if again is None else again}
    )


async def test_bad_changes_are_refused_in_russian_and_change_nothing(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as anna:
        wrong = await _change(anna, "не-тот-пароль-1563", NEW_PASSWORD)
        assert wrong.status == 422 and "Текущий пароль введён неверно" in await wrong.text()
        short = await _change(anna, PASSWORD, "корот-11")
        assert short.status == 422 and "не короче 12" in await short.text()
        common = await _change(anna, PASSWORD, "qwerty123456")
        assert common.status == 422 and "слишком простой" in await common.text()
        mismatch = await _change(anna, PASSWORD, NEW_PASSWORD, NEW_PASSWORD.strip())
        assert mismatch.status == 422 and "Пароли не совпадают" in await mismatch.text()
        empty = await _change(anna, "", NEW_PASSWORD)
        assert empty.status == 422 and "Введите текущий пароль" in await empty.text()
    assert await live_server.services.users.authenticate("anna", PASSWORD) is not None


async def test_a_change_ends_other_sessions_and_closes_their_sockets(live_server: LiveServer) -> None:
    anna = await make_user(live_server.services, "anna", Role.OPERATOR)
    url = live_server.url.replace("http", "ws") + "/ws"
    async with staff_client(live_server.url, "anna") as desk, staff_client(live_server.url, "anna") as phone:
        async with desk.http.ws_connect(url) as desk_ws, phone.http.ws_connect(url) as phone_ws:
            for ws in (desk_ws, phone_ws):
                assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "hello"
            changed = await _change(desk, PASSWORD, NEW_PASSWORD)
            assert changed.status == 303, await changed.text()
            await _closed_as_revoked(phone_ws)
            # The desk that changed it keeps its session and its socket.
            ticket = await new_ticket(live_server.services)
            while (message := await desk_ws.receive_json(timeout=TIMEOUT))["type"] != "ticket":
                pass
            assert message["number"] == ticket.number
        assert (await desk.get("/staff/")).status == 200
        assert (await phone.get("/staff/")).status == 302  # back to the login form
    async with staff_client(live_server.url) as other:
        await other.get("/login")
        assert (await other.post("/login", {"login": "anna", "password": PASSWORD})).status == 401
        assert (await other.post("/login", {"login": "anna", "password": NEW_PASSWORD})).status == 303
    events = await live_server.app[WEB].audit.search(AuditQuery(action="password_changed"))
    assert [(e.user_id, e.details["other_sessions_ended"]) for e in events] == [(anna.id, 1)]


async def test_the_session_list_revokes_one_session_and_its_socket(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    url = live_server.url.replace("http", "ws") + "/ws"
    async with staff_client(live_server.url, "anna") as desk, staff_client(live_server.url, "anna") as phone:
        async with phone.http.ws_connect(url) as phone_ws:
            assert (await phone_ws.receive_json(timeout=TIMEOUT))["type"] == "hello"
            page = await (await desk.get("/staff/account")).text()
            assert "этот сеанс" in page and page.count("/revoke") == 1
            listed = await live_server.app[WEB].sessions.list_for_user(
                (await live_server.services.users.by_login("anna")).id
            )  # type: ignore[union-attr]
            other = next(s for s in listed if f"/staff/account/sessions/{s.id}/revoke" in page)
            assert (await desk.post(f"/staff/account/sessions/{other.id}/revoke")).status == 303
            await _closed_as_revoked(phone_ws)
        assert (await phone.get("/staff/")).status == 302
        assert (await desk.get("/staff/")).status == 200
