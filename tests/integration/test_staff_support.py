"""Helpers shared by the staff web tests (this module holds no tests of its own).

A StaffClient is a real HTTP client with its own cookie jar: it signs in through the
login form like a browser and sends the page's CSRF token with every form it posts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from callcenter.accounts.users import UserView
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.services import Services
from callcenter.tickets.schemas import NewTicket, TicketView

PASSWORD = "верный-пароль-1563"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
OPERATOR_ACTOR = Actor(role=Role.OPERATOR, name="Оператор из теста")
ROLE_DEPARTMENT = {Role.EXECUTOR: "vodokanal"}


async def make_user(
    services: Services, login: str, role: Role, *, department: str | None = None, device: str | None = None
) -> UserView:
    return await services.users.create(
        login,
        PASSWORD,
        role,
        department=department or ROLE_DEPARTMENT.get(role),
        full_name=f"Тест {login}",
        device=device,
    )


def leak(phone: str = "8 978 123-45-67", **kw: Any) -> NewTicket:
    values: dict[str, Any] = dict(
        channel=Channel.WEB,
        phone=phone,
        category="water_leak",
        title="Порыв водопровода",
        description="Во дворе бьёт вода из-под асфальта, затопило подвал",
        address="ул. Ленина, д. 5",
    )
    values.update(kw)
    return NewTicket(**values)


async def new_ticket(services: Services, **kw: Any) -> TicketView:
    return await services.tickets.create(leak(**kw), OPERATOR_ACTOR)


class StaffClient:
    """A browser-like HTTP client of the live server."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http
        self.csrf = ""

    async def login(self, login: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        await self.get("/login")
        return await self.post("/login", {"login": login, "password": password})

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        kw.setdefault("allow_redirects", False)
        resp = await self.http.get(self.base + path, **kw)
        await self._remember_csrf(resp)
        return resp

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> aiohttp.ClientResponse:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        kw.setdefault("allow_redirects", False)
        resp = await self.http.post(self.base + path, data=form, **kw)
        await self._remember_csrf(resp)
        return resp

    async def _remember_csrf(self, resp: aiohttp.ClientResponse) -> None:
        if resp.content_type == "text/html":
            found = CSRF_INPUT.search(await resp.text())
            if found:
                self.csrf = found.group(1)

    async def refresh_csrf(self) -> None:
        resp = await self.get("/staff/", allow_redirects=True)
        resp.release()


@asynccontextmanager
async def staff_client(base: str, login: str | None = None) -> AsyncIterator[StaffClient]:
    """A client with its own cookies; signed in as ``login`` when given."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        client = StaffClient(base, http)
        if login is not None:
            resp = await client.login(login)
            assert resp.status == 303, await resp.text()
            await client.get(resp.headers["Location"])
        yield client


@asynccontextmanager
async def restarted(settings: Any) -> AsyncIterator[str]:
    """Another app process over the same database and data folder (a restart); yields its URL."""
    from aiohttp import web

    from callcenter.app import init_app

    runner = web.AppRunner(init_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def session_cookie(client: StaffClient) -> str:
    """The raw session token the browser holds."""
    for cookie in client.http.cookie_jar:
        if cookie.key == "cc_session":
            return cookie.value
    raise AssertionError("no session cookie")
