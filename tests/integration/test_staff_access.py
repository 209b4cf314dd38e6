"""Every staff route, walked as every role and as nobody: who may see and do what (table-driven)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from callcenter.domain.tickets import Role, Status
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, make_user, new_ticket, staff_client

OP, EX, SU, AN, AD = Role.OPERATOR, Role.EXECUTOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN
ALL = (OP, EX, SU, AN, AD)
CITY = (OP, SU, AN, AD)
EDITORS = (OP, SU, AD)
ACTORS = (OP, EX, SU, AD)
SUPERVISION = (SU, AN, AD)


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the route as registered (canonical form)
    path: Callable[[dict[str, str]], str]
    allowed: dict[Role, int]  # role -> expected status; every other role gets 403
    data: dict[str, str] = field(default_factory=dict)
    multipart: bool = False  # the route reads multipart/form-data (a photo upload) and checks CSRF in it


def ok(roles: tuple[Role, ...], status: int = 200, **special: int) -> dict[Role, int]:
    expected = {role: status for role in roles}
    expected.update({Role(name): code for name, code in special.items()})
    return expected


CASES = [
    Case("GET", "/staff", lambda c: "/staff", ok(ALL, 302)),
    Case("GET", "/staff/", lambda c: "/staff/", ok(ALL, 200, executor=302)),
    Case("GET", "/staff/tickets/new", lambda c: "/staff/tickets/new", ok(EDITORS)),
    Case("POST", "/staff/tickets/new", lambda c: "/staff/tickets/new", ok(EDITORS, 422)),
    Case("GET", "/staff/tickets/{number}", lambda c: f"/staff/tickets/{c['number']}", ok(ALL)),
    Case("GET", "/staff/tickets/{number}/row", lambda c: f"/staff/tickets/{c['number']}/row?view=board", ok(CITY)),
    Case(
        "GET", "/staff/tickets/{number}/row", lambda c: f"/staff/tickets/{c['number']}/row?view=queue", ok((EX, SU, AD))
    ),
    Case("GET", "/staff/tickets/{number}/edit", lambda c: f"/staff/tickets/{c['number']}/edit", ok(EDITORS)),
    Case(
        "POST",
        "/staff/tickets/{number}/edit",
        lambda c: f"/staff/tickets/{c['number']}/edit",
        ok(EDITORS, 422),
        {"description": ""},
    ),
    Case(
        "POST",
        "/staff/tickets/{number}/move",
        lambda c: f"/staff/tickets/{c['number']}/move",
        ok(ACTORS, 422),
        {"to": "no-such-status"},
    ),
    Case(
        "POST",
        "/staff/tickets/{number}/done",
        lambda c: f"/staff/tickets/{c['number']}/done",
        ok(ACTORS, 409),  # a dispatched ticket cannot be done: the roles that may act get the refusal
        {"note": ""},
        multipart=True,
    ),
    Case(
        "POST",
        "/staff/tickets/{number}/public-summary",
        lambda c: f"/staff/tickets/{c['number']}/public-summary",
        ok(EDITORS, 409),  # a stale version: refused, nothing published, by every role that may publish
        {"public_summary": "", "version": "999999"},
    ),
    Case(
        "POST",
        "/staff/tickets/{number}/note",
        lambda c: f"/staff/tickets/{c['number']}/note",
        ok(ACTORS, 422),
        {"note": ""},
    ),
    Case("GET", "/staff/attachments/{attachment_id}", lambda c: f"/staff/attachments/{c['attachment']}", ok(ALL)),
    Case("GET", "/staff/queue", lambda c: "/staff/queue?department=vodokanal", ok((EX, SU, AD))),
    Case("GET", "/staff/archive", lambda c: "/staff/archive", ok(CITY)),
    Case("GET", "/staff/board", lambda c: "/staff/board", ok(SUPERVISION)),
    Case("GET", "/staff/board/counts", lambda c: "/staff/board/counts", ok(SUPERVISION)),
    Case("GET", "/staff/export.csv", lambda c: "/staff/export.csv", ok(SUPERVISION)),
    Case("GET", "/staff/admin/users", lambda c: "/staff/admin/users", ok((AD,))),
    Case("GET", "/staff/admin/users/new", lambda c: "/staff/admin/users/new", ok((AD,))),
    Case("POST", "/staff/admin/users/new", lambda c: "/staff/admin/users/new", ok((AD,), 422)),
    Case("GET", "/staff/admin/users/{user_id}", lambda c: f"/staff/admin/users/{c['user']}", ok((AD,))),
    Case(
        "POST",
        "/staff/admin/users/{user_id}",
        lambda c: f"/staff/admin/users/{c['user']}",
        ok((AD,), 422),
        {"role": "king"},
    ),
    Case(
        "POST",
        "/staff/admin/users/{user_id}/revoke",
        lambda c: f"/staff/admin/users/{c['user']}/revoke",
        ok((AD,), 303),
    ),
    Case("GET", "/staff/admin/departments", lambda c: "/staff/admin/departments", ok((AD,))),
    Case("GET", "/staff/admin/audit", lambda c: "/staff/admin/audit", ok((AD,))),
    Case(
        "POST",
        "/staff/admin/users/{user_id}/sessions/{session_id}/revoke",
        lambda c: f"/staff/admin/users/{c['user']}/sessions/999999/revoke",
        ok((AD,), 404),
    ),
    Case(
        "POST",
        "/staff/admin/users/{user_id}/totp-reset",
        lambda c: f"/staff/admin/users/{c['user']}/totp-reset",
        ok((AD,), 303),
    ),
    Case("GET", "/staff/account", lambda c: "/staff/account", ok(ALL)),
    Case("POST", "/staff/account/password", lambda c: "/staff/account/password", ok(ALL, 422)),
    Case(
        "POST",
        "/staff/account/sessions/{session_id}/revoke",
        lambda c: "/staff/account/sessions/999999/revoke",
        ok(ALL, 404),
    ),
    Case("POST", "/staff/account/totp", lambda c: "/staff/account/totp", ok(ALL)),
    Case("POST", "/staff/account/totp/confirm", lambda c: "/staff/account/totp/confirm", ok(ALL, 422)),
    Case(
        "POST",
        "/staff/admin/departments/{code}",
        lambda c: "/staff/admin/departments/no_such_department",
        ok((AD,), 404),
        {"active": "1"},
    ),
]
# Routes outside the table, tested on their own below and in test_staff_auth/test_staff_live.
SEPARATE = {("GET", "/login"), ("POST", "/login"), ("POST", "/login/code"), ("POST", "/logout"), ("GET", "/ws")}


async def _world(live_server: LiveServer) -> dict[str, str]:
    services = live_server.services
    for role in ALL:
        await make_user(services, role.value, role)
    victim = await make_user(services, "victim", Role.OPERATOR)
    ticket = await new_ticket(services)
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
    photo = Path(services.settings.data_dir) / "photos" / "p1.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    attachment = await services.tickets.add_attachment(
        ticket.number,
        kind="photo",
        path="photos/p1.jpg",
        mime="image/jpeg",
        size=13,
        sha256=None,
        public=True,
        actor=OPERATOR_ACTOR,
    )
    return {"number": ticket.number, "attachment": str(attachment), "user": str(victim.id)}


async def test_every_route_as_every_role_and_as_nobody(live_server: LiveServer) -> None:
    world = await _world(live_server)
    wrong: list[str] = []
    for role in [None, *ALL]:
        async with staff_client(live_server.url, role.value if role else None) as client:
            if role is None:
                await client.get("/login")  # a pre-login CSRF cookie, like any browser has
            for case in CASES:
                path = case.path(world)
                if case.method == "GET":
                    resp = await client.get(path)
                elif case.multipart:
                    form = aiohttp.FormData({"csrf_token": client.csrf, **case.data}, default_to_multipart=True)
                    resp = await client.http.post(client.base + path, data=form, allow_redirects=False)
                else:
                    resp = await client.post(path, case.data)
                expected = _expected(case, role)
                if resp.status != expected:
                    wrong.append(
                        f"{role.value if role else 'anonymous'} {case.method} {path}: "
                        f"{resp.status}, expected {expected}"
                    )
                if role is None and case.method == "GET":
                    assert resp.headers["Location"].startswith("/login?next="), path
                resp.release()
    assert not wrong, "\n".join(wrong)


def _expected(case: Case, role: Role | None) -> int:
    if role is None:
        return 302 if case.method == "GET" else 401
    return case.allowed.get(role, 403)


def test_the_table_covers_every_staff_route_and_every_staff_route_checks_roles(live_server: LiveServer) -> None:
    covered = {(c.method, c.route) for c in CASES} | SEPARATE
    mine = set()
    for route in live_server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or not (path.startswith("/staff") or (route.method, path) in SEPARATE):
            continue
        handler = route.handler
        if path.startswith("/staff") or path == "/ws":
            # Every staff route, this slice's or another's (e.g. the callbacks board), checks roles.
            assert getattr(handler, "staff_roles", None), f"{route.method} {path} has no require_roles"
        if handler.__module__.startswith(("callcenter.staff", "callcenter.web")):  # the staff pages and the web layer
            mine.add((route.method, path))
    assert mine <= covered, f"routes missing from the access table: {sorted(mine - covered)}"
    assert {(c.method, c.route) for c in CASES} <= mine


@pytest.mark.parametrize("role", [None, *ALL], ids=lambda r: r.value if r else "anonymous")
async def test_the_websocket_takes_staff_only(live_server: LiveServer, role: Role | None) -> None:
    if role is not None:
        await make_user(live_server.services, role.value, role)
    async with staff_client(live_server.url, role.value if role else None) as client:
        try:
            async with client.http.ws_connect(live_server.url.replace("http", "ws") + "/ws") as ws:
                hello = await ws.receive_json(timeout=5)
                assert role is not None and hello["type"] == "hello"
        except aiohttp.WSServerHandshakeError as err:
            assert role is None and err.status == 401


async def test_an_executor_reaches_nothing_of_another_department(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    other = await new_ticket(services, category="road_pothole", description="Яма на дороге")
    await services.tickets.move(other.number, Status.DISPATCHED, OPERATOR_ACTOR)
    photo = Path(services.settings.data_dir) / "photos" / "p2.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"\xff\xd8\xff\xe0")
    attachment = await services.tickets.add_attachment(
        other.number,
        kind="photo",
        path="photos/p2.jpg",
        mime="image/jpeg",
        size=4,
        sha256=None,
        public=True,
        actor=OPERATOR_ACTOR,
    )
    async with staff_client(live_server.url, "vera") as vera:
        for path in (
            f"/staff/tickets/{other.number}",
            f"/staff/tickets/{other.number}/row?view=queue",
            f"/staff/attachments/{attachment}",
        ):
            assert (await vera.get(path)).status == 403, path
        move = await vera.post(f"/staff/tickets/{other.number}/move", {"to": "in_progress"})
        note = await vera.post(f"/staff/tickets/{other.number}/note", {"note": "не моё"})
        assert move.status == 403 and note.status == 403
        queue = await (await vera.get("/staff/queue?department=" + other.department)).text()
        assert other.number not in queue
    assert (await services.tickets.get(other.number)).status is Status.DISPATCHED


def test_require_roles_marks_the_handler() -> None:
    from callcenter.web.auth import require_roles

    @require_roles(Role.SUPERVISOR)
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    assert handler.staff_roles == frozenset({Role.SUPERVISOR})  # type: ignore[attr-defined]
