"""Helpers for the telephony tests and the pop benchmark (this module holds no tests).

The full app runs on a real port, its AMI link pointed at the fake Asterisk
(tests/protocol/fake_ami.py), which replays tests/fixtures/asterisk-traces/ami-queue-operator.txt
through a real socket. Staff sign in through the login form and listen on the real /ws.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from callcenter.accounts.users import UserView
from callcenter.app import init_app
from callcenter.config import Settings, load_settings
from callcenter.domain.tickets import Role
from callcenter.services import SERVICES, Services
from callcenter.store.reference_sync import sync_reference
from callcenter.telephony.wiring import TELEPHONY, TelephonySlice
from tests.protocol.fake_ami import FakeAmi, Frame, frame_get, load_trace

QUEUE_TRACE = "ami-queue-operator.txt"
QUEUE_CALL = "1795979524.2"  # the trace's Linkedid
IVR_LEG = "1795979524.3"  # the leg that ran the IVR (Local channel ;2)
TRACE_CALLER = "+79780003330"
OP1 = "Local/op1@operators/n"  # the queue member that rings in the trace
OP2 = "Local/op2@operators/n"
PASSWORD = "пароль-для-тестов-1563"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CALL_KEY_INPUT = re.compile(r'name="call_key" value="([^"]+)"')


def telephony_settings(database_url: str, tmp_path: Path, fake: FakeAmi | None, **extra: Any) -> Settings:
    """Test settings; with ``fake`` the AMI link points at it. No FastAGI port is opened."""
    overrides: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret",
        "agi_enabled": False,
    }
    if fake is not None:
        overrides.update(
            ami_host="127.0.0.1",
            ami_port=fake.port,
            ami_username=fake.username,
            ami_secret=fake.secret,
            ami_ping_interval=30.0,
        )
    overrides.update(extra)
    return load_settings(environ={}, overrides=overrides)


# --- the app on a real port ---------------------------------------------------------


@dataclass
class RunningApp:
    url: str
    app: web.Application
    services: Services

    @property
    def telephony(self) -> TelephonySlice:
        return self.app[TELEPHONY]


@asynccontextmanager
async def running_app(
    settings: Settings, services: Services | None = None, *, empty_first: bool = False
) -> AsyncIterator[RunningApp]:
    """``init_app(settings)`` (every default feature) served on 127.0.0.1 at a free port.

    ``empty_first``: on PostgreSQL (shared by the tests) the tables are emptied before the app
    starts; a TRUNCATE racing the app's start-up jobs deadlocked (seen in CI)."""
    app = init_app(settings, services)
    if empty_first and app[SERVICES].engine.dialect.name == "postgresql":
        from tests.conftest import _truncate_postgres

        await _truncate_postgres(app[SERVICES])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield RunningApp(f"http://127.0.0.1:{port}", app, app[SERVICES])
    finally:
        await runner.cleanup()


async def clean_database(services: Services, *, emptied: bool = False) -> None:
    """On PostgreSQL (shared by the tests) empty the tables (unless ``running_app(empty_first=True)``
    already did) and load the reference data again."""
    if services.engine.dialect.name == "postgresql":
        from tests.conftest import _truncate_postgres

        if not emptied:
            await _truncate_postgres(services)
        await sync_reference(services.sessions, services.reference)


async def make_user(
    services: Services, login: str, role: Role = Role.OPERATOR, device: str | None = None, full_name: str = ""
) -> UserView:
    return await services.users.create(login, PASSWORD, role, full_name=full_name or f"Тест {login}", device=device)


# --- a signed-in browser-like client -------------------------------------------------


class Staff:
    """One staff member's HTTP client (own cookies) and, once opened, their /ws."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http
        self.csrf = ""

    async def login(self, login: str) -> None:
        page = await self.get("/login")
        page_text = await page.text()
        self.csrf = CSRF_INPUT.search(page_text).group(1)  # type: ignore[union-attr]
        resp = await self.http.post(
            self.base + "/login",
            allow_redirects=False,
            data={"login": login, "password": PASSWORD, "csrf_token": self.csrf},
        )
        assert resp.status == 303, await resp.text()

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.http.get(self.base + path, **kw)

    async def page(self, path: str) -> str:
        resp = await self.get(path)
        assert resp.status == 200, (path, resp.status, await resp.text())
        text = await resp.text()
        found = CSRF_INPUT.search(text)
        if found:
            self.csrf = found.group(1)
        return text

    async def post(self, path: str, data: dict[str, str], **kw: Any) -> aiohttp.ClientResponse:
        return await self.http.post(
            self.base + path, data={"csrf_token": self.csrf, **data}, allow_redirects=False, **kw
        )

    @asynccontextmanager
    async def socket(self) -> AsyncIterator[Inbox]:
        async with self.http.ws_connect(self.base.replace("http", "ws", 1) + "/ws") as ws:
            inbox = Inbox()
            reader = asyncio.create_task(inbox.read(ws))
            try:
                yield inbox
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)


@asynccontextmanager
async def signed_in(base: str, login: str) -> AsyncIterator[Staff]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        staff = Staff(base, http)
        await staff.login(login)
        yield staff


@dataclass
class Inbox:
    """Every message one WebSocket received, in order; wait for one by predicate."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.messages.append(json.loads(msg.data))
                    self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    for message in self.messages:
                        if predicate(message):
                            return message
                    await self._changed.wait()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]


class HubWatch:
    """Subscribe to the app's event hub before acting; then wait for a matching message."""

    def __init__(self, services: Services, predicate: Callable[[dict[str, Any]], bool]) -> None:
        self._sub = services.hub.subscribe(accepts=predicate, maxsize=10_000)

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self._sub.get(), timeout)

    def close(self) -> None:
        self._sub.close()

    def __enter__(self) -> HubWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the recorded queue call, stamped and varied ------------------------------------


def queue_events() -> list[Frame]:
    return load_trace(QUEUE_TRACE).events()


def with_header(frame: Frame, key: str, value: str) -> Frame:
    """``frame`` with ``key`` set (after Privilege, where Asterisk puts Timestamp)."""
    kept = [(k, v) for k, v in frame if k != key]
    at = next((i + 1 for i, (k, _) in enumerate(kept) if k == "Privilege"), 1)
    return kept[:at] + [(key, value)] + kept[at:]


def stamp(events: list[Frame], start: float, jumps: dict[str, float] | None = None, step: float = 0.001) -> list[Frame]:
    """Give each event a ``Timestamp`` (manager.conf ``timestampevents = yes``).

    Time advances ``step`` per event, plus ``jumps[name]`` before the first event so named:
    the default makes the caller spend 20 s in the IVR, wait 12 s in the queue, talk 60 s.
    """
    jumps = dict(
        {"QueueCallerJoin": 20.0, "QueueCallerLeave": 12.0, "SoftHangupRequest": 60.0} if jumps is None else jumps
    )
    now = start
    stamped = []
    for frame in events:
        now += jumps.pop(frame_get(frame, "Event") or "", 0.0) + step
        stamped.append(with_header(frame, "Timestamp", f"{now:.6f}"))
    return stamped


def varset_after(events: list[Frame], variable: str, value: str, after: str = "IVR_ROUTE") -> list[Frame]:
    """Insert a VarSet like the IVR makes (a copy of the ``after`` VarSet with another name)."""
    index = next(
        i for i, f in enumerate(events) if frame_get(f, "Event") == "VarSet" and frame_get(f, "Variable") == after
    )
    template = events[index]
    frame = [(k, value if k == "Value" else variable if k == "Variable" else v) for k, v in template]
    return events[: index + 1] + [frame] + events[index + 1 :]


def index_of(events: list[Frame], name: str) -> int:
    return next(i for i, f in enumerate(events) if frame_get(f, "Event") == name)


def clone_call(
    events: list[Frame],
    n: int,
    *,
    operator: str = "op1",
    operator_name: str = "Operator One",
    caller: str | None = None,
) -> list[Frame]:
    """The recorded queue call as call number ``n``: its own uniqueids, channels, bridge,
    caller number, and the operator ``operator`` (``Local/<operator>@operators/n``)."""
    replacements = {
        "1795979524.2": f"18{n:08d}.1",
        "1795979524.3": f"18{n:08d}.2",
        "1795979526.4": f"18{n:08d}.3",
        "1795979526.5": f"18{n:08d}.4",
        "Local/1563@hotline-00000001": f"Local/1563@hotline-{2 * n:08x}",
        "op1@operators-00000002": f"{operator}@operators-{2 * n + 1:08x}",
        "op1@operators": f"{operator}@operators",
        "Operator One": operator_name,
        "02adb913-1b99-4324-b6a5-b93b5936cb48": str(uuid.UUID(int=n + 1)),
        TRACE_CALLER: caller or f"+7978{n % 10_000_000:07d}",
    }
    keys = sorted(replacements, key=len, reverse=True)

    def rewrite(value: str) -> str:
        for key in keys:
            if key in value:
                value = value.replace(key, replacements[key])
        return value

    return [[(k, rewrite(v)) for k, v in frame] for frame in events]


# --- fixtures shared by the telephony test modules (import them by name) -----------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    """A fake Asterisk AMI server on a real socket."""
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake: FakeAmi) -> Settings:
    """The app's settings with AMI pointed at the fake (overrides tests/conftest.py's)."""
    return telephony_settings(database_url, tmp_path, fake)


async def connected(live_server: Any, fake: FakeAmi) -> Any:
    """Wait until the app's AMI link is up and has resynchronised with the fake."""
    from callcenter.telephony.wiring import TELEPHONY

    live = live_server.app[TELEPHONY].live
    await live.directory.refresh()  # live_server emptied the tables under it (PostgreSQL)
    assert await live.link.wait_connected(5)
    await fake.wait_for(lambda: fake.count("QueueStatus") >= 1)
    return live_server
