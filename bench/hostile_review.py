"""The hostile review of issue 18, rerun against a real server process (``security_bench --review``).

Five parts, each printing its own figures (counts, not assertions; tests/security asserts the facts):

1. every route the app serves x 7 identities (anonymous, operator, executor, supervisor, analyst,
   admin, and a session ended by logout): GET each, POST each state-changing route without a CSRF
   token; counts of 5xx answers, staff pages answered to the anonymous or the logged-out session,
   and POSTs accepted without a token;
2. bad inputs (NUL, non-UTF-8, year 1, 1e18, superscript digits, SQL and script text, open-redirect
   paths, 10 KB values ...) in every query parameter the public and staff pages read, in the login
   form and in the portal form: counts tried, 5xx, no answer within 10 s, redirects off the site,
   unescaped script text echoed back;
3. hostile FastAGI connections (closed early, endless or huge lines, binary, half-open) in waves,
   with /healthz timed meanwhile;
4. a mixed load (citizens filing on the portal from many addresses, Open311 and staff readers)
   for ``--load-seconds``, with, on PostgreSQL, every server connection terminated
   (``pg_terminate_backend``) every ``--fault-every`` seconds; counts of answers by class;
5. data lost: every ticket the portal acknowledged (303 to its page) looked up in the database
   afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bench.server import ServerProcess

PASSWORD = "review-password-1563"
MARK = "hostile-review"
ACCEPTED = "POST without a CSRF token accepted (< 300, or a redirect for a signed-in user)"
NOT_ADMIN = "admin page (/staff/admin/...) answered 2xx to another role"
IDENTITIES = ("anonymous", "operator", "executor", "supervisor", "analyst", "admin", "logged_out")
SCRIPT = "<script>alert(1563)</script>"
BAD_VALUES: tuple[str, ...] = (
    "\x00",
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "2026-13-45",
    "1e18",
    "-1",
    "0",
    "99999999999999999999999",
    "²",
    "١٢٣",
    "NaN",
    "inf",
    "' OR '1'='1",
    "1; DROP TABLE tickets;--",
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "/\t/evil.example",
    "//evil.example",
    "https://evil.example/",
    "\\\\evil.example",
    "../../../../etc/passwd",
    "%ff%fe",
    "\u202e\u0000\ufeff",
    "😀" * 50,
    "x" * 10_000,
    " ",
    "[]",
    "{}",
    "null",
)
# Raw query strings that no str can express (invalid percent-encoding, bytes that are no UTF-8).
RAW_VALUES: tuple[str, ...] = ("%ff", "%c0%80", "%", "%00%00")
OPEN311_PARAMS = (
    "service_code",
    "status",
    "start_date",
    "end_date",
    "page",
    "service_request_id",
    "extended_status",
    "jurisdiction_id",
)
STAFF_FILTERS = ("status", "category", "department", "channel", "district", "date_from", "date_to", "q", "phone")
AUDIT_FILTERS = ("login", "ticket", "action", "date_from", "date_to", "before")


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str = "") -> None:
        self.counts[kind] += 1
        if example and len(self.examples.setdefault(kind, [])) < 5:
            self.examples[kind].append(example[:160])

    def show(self, title: str, zeros: tuple[str, ...] = ()) -> None:
        print(title)
        for kind in zeros:
            self.counts.setdefault(kind, 0)
        for kind, count in sorted(self.counts.items()):
            print(f"  {kind}: {count:,}")
            for example in self.examples.get(kind, []):
                print(f"      e.g. {example}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def prepare(database_url: str, work: Path) -> tuple[str, list[tuple[str, str]]]:
    """Schema, reference data, one user per role, one ticket; the app's routes (method, path)."""
    from callcenter.app import build_services, init_app
    from callcenter.config import load_settings
    from callcenter.domain.tickets import Role
    from callcenter.store.migrate import upgrade_async
    from callcenter.store.reference_sync import sync_reference
    from tests.telephony_fixtures import clean_database

    await upgrade_async(database_url)
    settings = load_settings(environ={}, overrides={"database_url": database_url, "data_dir": work / "data"})
    services = build_services(settings)
    await sync_reference(services.sessions, services.reference)
    await clean_database(services)
    department = services.reference.departments[0].code
    for role in ("operator", "supervisor", "analyst", "admin"):
        await services.users.create(f"rv_{role}", PASSWORD, Role(role))
    await services.users.create("rv_executor", PASSWORD, Role.EXECUTOR, department=department)
    await services.users.create("rv_gone", PASSWORD, Role.OPERATOR)
    routes = []
    for route in init_app(settings, services).router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or info.get("prefix")
        if path and route.method != "HEAD" and not path.startswith("/static"):
            routes.append((route.method, str(path)))
    await services.engine.dispose()
    return department, sorted(set(routes))


def concrete(path: str, number: str) -> str:
    values = {"number": number, "fmt": "json", "code": "water_leak", "id": number, "tail": "x"}
    while "{" in path:
        head, _, rest = path.partition("{")
        name, _, tail = rest.partition("}")
        path = head + values.get(name.split(":")[0], "1") + tail
    return path


async def sign_in(base: str, login: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await http.get(base + "/login")).text()
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    async with http.post(
        base + "/login", data={"login": login, "password": PASSWORD, "csrf_token": token}, allow_redirects=False
    ) as resp:
        if resp.status != 303 and resp.status != 302:
            raise SystemExit(f"sign-in of {login} failed: HTTP {resp.status}")
    return http


async def logged_out_session(base: str) -> aiohttp.ClientSession:
    """A session whose cookie was valid until its user logged out (the cookie is replayed)."""
    http = await sign_in(base, "rv_gone")
    cookies = {c.key: c.value for c in http.cookie_jar}
    page = await (await http.get(base + "/staff/account")).text()
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0] if "csrf_token" in page else ""
    async with http.post(base + "/logout", data={"csrf_token": token}, allow_redirects=False) as resp:
        await resp.read()
    await http.close()
    replay = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    replay.cookie_jar.update_cookies(cookies, aiohttp.client.URL(base))
    return replay


async def file_ticket(http: aiohttp.ClientSession, base: str, n: int, tally: Tally | None = None) -> str | None:
    """One portal filing from its own address; the ticket's key if the portal acknowledged it."""
    key = f"{MARK}-{os.getpid()}-{n}"
    form = {
        "category": "water_leak",
        "address": f"ул. Ленина, д. {n % 150 + 1}",
        "description": f"Течёт вода из-под асфальта ({key})",
        "name": "Житель",
        "phone": f"+7978{8_000_000 + n:07d}",
        "consent": "on",
    }
    headers = {"X-Forwarded-For": f"10.18.{(n >> 8) & 255}.{n & 255}"}
    try:
        async with http.post(base + "/", data=form, headers=headers, allow_redirects=False) as resp:
            await resp.read()
            if tally is not None:
                tally.add(f"portal filing HTTP {resp.status}")
            return key if resp.status == 303 else None
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        if tally is not None:
            tally.add(f"portal filing {type(err).__name__}")
        return None


async def routes_by_identity(base: str, routes: list[tuple[str, str]], number: str, sessions: dict) -> None:
    tally = Tally()
    timeout = aiohttp.ClientTimeout(total=30)
    for identity, http in sessions.items():
        for method, path in routes:
            if "logout" in path or path.startswith("/ws"):
                continue  # logout would end the session under test; /ws is a WebSocket (tests/security)
            url = base + concrete(path, number)
            if method == "GET":
                async with http.get(url, allow_redirects=False, timeout=timeout) as resp:
                    body = await resp.read()
                tally.add("GET requests")
                if resp.status >= 500:
                    tally.add("5xx", f"{identity} GET {path} -> {resp.status}")
                staff = path.startswith("/staff") and path != "/staff/static"
                if identity in ("anonymous", "logged_out") and staff and resp.status < 300:
                    tally.add("staff page answered 2xx without a live session", f"{identity} GET {path}")
                if path.startswith("/staff/admin") and identity != "admin" and resp.status < 300:
                    tally.add(NOT_ADMIN, f"{identity} GET {path}")
                del body
            elif method in ("POST", "*") and (path.startswith("/staff") or path.startswith("/login")):
                async with http.post(url, data={"x": "1"}, allow_redirects=False, timeout=timeout) as resp:
                    await resp.read()
                tally.add("POSTs without a CSRF token")
                if resp.status >= 500:
                    tally.add("5xx", f"{identity} POST {path} -> {resp.status}")
                elif resp.status < 300 or (resp.status in (302, 303) and identity not in ("anonymous", "logged_out")):
                    tally.add(
                        ACCEPTED,
                        f"{identity} POST {path} -> {resp.status}",
                    )
    get_routes = sum(1 for m, p in routes if m == "GET")
    tally.show(
        f"routes x identities: {len(routes)} routes ({get_routes} GET) x {len(sessions)} identities",
        zeros=("5xx", "staff page answered 2xx without a live session", NOT_ADMIN, ACCEPTED),
    )


def bad_input_urls(number: str) -> list[tuple[str, str]]:
    """(identity, path-with-query) for every bad value in every parameter the pages read."""
    targets: list[tuple[str, str, str]] = []  # identity, path, parameter
    targets += [("anonymous", "/open311/v2/requests.json", p) for p in OPEN311_PARAMS]
    targets += [("anonymous", "/open311/v2/requests.xml", p) for p in ("page", "start_date", "status")]
    targets += [("anonymous", "/login", "next")]
    targets += [("anonymous", "/track", p) for p in ("number",)]
    targets += [("admin", "/staff/", p) for p in STAFF_FILTERS]
    targets += [("admin", "/staff/export.csv", p) for p in STAFF_FILTERS]
    targets += [("admin", "/staff/admin/audit", p) for p in AUDIT_FILTERS]
    targets += [("admin", "/staff/archive", p) for p in ("date_from", "date_to", "q")]
    targets += [("admin", f"/staff/tickets/{number}", "back")]
    urls = []
    for identity, path, param in targets:
        for value in BAD_VALUES:
            urls.append((identity, f"{path}?{param}={quote(value, safe='')}"))
        for raw in RAW_VALUES:
            urls.append((identity, f"{path}?{param}={raw}"))
    for value in BAD_VALUES:  # in the path itself
        urls.append(("anonymous", f"/open311/v2/requests/{quote(value, safe='')}.json"))
        urls.append(("admin", f"/staff/tickets/{quote(value, safe='')}"))
    return urls


async def bad_inputs(base: str, number: str, sessions: dict, gate: asyncio.Semaphore) -> None:
    tally = Tally()
    timeout = aiohttp.ClientTimeout(total=10)

    async def one(identity: str, target: str) -> None:
        async with gate:
            try:
                async with sessions[identity].get(
                    aiohttp.client.URL(base + target, encoded=True), allow_redirects=False, timeout=timeout
                ) as resp:
                    body = await resp.read()
            except TimeoutError:
                tally.add("no answer within 10 s", target)
                return
            except aiohttp.ClientError as err:
                tally.add(f"connection error {type(err).__name__}", target)
                return
        tally.add("tried")
        tally.add(f"HTTP {resp.status // 100}xx")
        if resp.status >= 500:
            tally.add("5xx", f"{target[:100]} -> {resp.status}")
        location = resp.headers.get("Location", "")
        if location.startswith("//") or "evil.example" in location or location.startswith("http"):
            tally.add("redirect off the site", f"{target[:80]} -> {location[:60]}")
        markup = resp.headers.get("Content-Type", "").split(";")[0] in ("text/html", "text/xml", "application/xml")
        if markup and (SCRIPT.encode() in body or b"<img src=x" in body):
            tally.add("script text echoed unescaped in HTML/XML", target[:100])

    await asyncio.gather(*(one(identity, target) for identity, target in bad_input_urls(number)))
    # Forms: the login form and the portal form with bad values in every field (as bytes too).
    form_tally = await bad_forms(base, gate)
    tally.counts.update(form_tally.counts)
    for kind, examples in form_tally.examples.items():
        tally.examples.setdefault(kind, []).extend(examples)
    tally.show(
        "bad inputs (query parameters, paths, the login and portal forms)",
        zeros=("5xx", "no answer within 10 s", "redirect off the site", "script text echoed unescaped in HTML/XML"),
    )


async def bad_forms(base: str, gate: asyncio.Semaphore) -> Tally:
    tally = Tally()
    fields = ("category", "address", "description", "name", "phone", "email", "flat")
    n = 0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for field_name in fields:
            for value in (*BAD_VALUES, "\udcff"):
                n += 1
                form = aiohttp.FormData()
                good = {"category": "water_leak", "address": "ул. Ленина, 1", "description": "Яма", "consent": "on"}
                for name, text in {**good, field_name: value}.items():
                    form.add_field(name, text.encode("utf-8", "surrogateescape"))
                async with (
                    gate,
                    http.post(
                        base + "/", data=form, headers={"X-Forwarded-For": f"10.17.0.{n % 250}"}, allow_redirects=False
                    ) as resp,
                ):
                    body = await resp.read()
                tally.add("tried")
                tally.add(f"HTTP {resp.status // 100}xx")
                if resp.status >= 500:
                    tally.add("5xx", f"portal {field_name}={value[:30]!r} -> {resp.status}")
                if SCRIPT.encode() in body:
                    tally.add("script text echoed unescaped in HTML/XML", f"portal {field_name}")
        for value in BAD_VALUES:
            page = await (await http.get(base + "/login")).text()
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            for name in ("login", "password"):
                data = {"login": "rv_nobody", "password": "wrong-password-1", "csrf_token": token, name: value}
                headers = {"X-Forwarded-For": f"10.16.{len(value) % 250}.{hash(value) % 250}"}
                async with http.post(base + "/login", data=data, headers=headers, allow_redirects=False) as resp:
                    body = await resp.read()
                tally.add("tried")
                tally.add(f"HTTP {resp.status // 100}xx")
                if resp.status >= 500:
                    tally.add("5xx", f"login {name}={value[:30]!r} -> {resp.status}")
    return tally


HOSTILE_AGI: dict[str, bytes] = {
    "closed at once": b"",
    "closed mid-header": b"agi_network: yes\nagi_request: agi://127.0.0.1/ivr\nagi_chan",
    "no blank line, then closed": b"agi_network: yes\nagi_request: agi://127.0.0.1/ivr\n",
    "endless header lines": b"agi_x: y\n" * 5_000,
    "one 64 KB line": b"agi_request: " + b"A" * 65_536 + b"\n\n",
    "binary": bytes(range(256)) * 64,
    "unknown script": b"agi_network: yes\nagi_request: agi://127.0.0.1/../../etc/passwd\n\n",
    "CR only": b"agi_network: yes\ragi_request: agi://127.0.0.1/ivr\r\r",
}


async def hostile_agi(port: int, waves: int, http: aiohttp.ClientSession, base: str) -> None:
    tally = Tally()

    async def one(kind: str, payload: bytes) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, TimeoutError) as err:
            tally.add(f"connect failed {type(err).__name__}")
            return
        tally.add("connections")
        try:
            writer.write(payload)
            with contextlib.suppress(OSError):
                await writer.drain()
            if kind == "half-open (sends nothing, waits)":
                await asyncio.sleep(2)
            else:
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(reader.read(65_536), 2)  # whatever the server answers first
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    kinds = {**HOSTILE_AGI, "half-open (sends nothing, waits)": b""}
    done = asyncio.Event()

    async def probe() -> float:
        slowest = 0.0
        while not done.is_set():
            started = time.perf_counter()
            async with http.get(base + "/healthz") as resp:
                await resp.read()
            slowest = max(slowest, time.perf_counter() - started)
        return slowest

    probing = asyncio.create_task(probe())
    for _ in range(waves):
        await asyncio.gather(*(one(kind, payload) for kind, payload in kinds.items() for _ in range(6)))
    done.set()
    slowest = await probing
    async with http.get(base + "/healthz") as resp:
        alive = resp.status
    tally.show(
        f"hostile FastAGI: {waves} waves of {len(kinds)} kinds x 6; slowest /healthz meanwhile "
        f"{slowest * 1000:.0f} ms; /healthz after: {alive}"
    )


async def terminate_backends(database_url: str) -> int:
    import asyncpg

    from callcenter.store.pg_hub_bridge import asyncpg_dsn

    dsn = asyncpg_dsn(database_url)
    assert dsn is not None
    name = dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    return sum(1 for row in rows if row[0])


async def mixed_load(
    base: str, database_url: str, seconds: float, fault_every: float, sessions: dict
) -> tuple[set[str], Tally]:
    tally = Tally()
    acknowledged: set[str] = set()
    stop = asyncio.Event()
    counter = iter(range(10**9))
    latencies: list[float] = []

    async def citizen() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            while not stop.is_set():
                started = time.perf_counter()
                key = await file_ticket(http, base, next(counter), tally)
                latencies.append(time.perf_counter() - started)
                if key:
                    acknowledged.add(key)

    async def reader(http: aiohttp.ClientSession, path: str, label: str) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            n = next(counter)  # many readers' addresses, as behind nginx (one address is rate-limited)
            headers = {"X-Forwarded-For": f"10.15.{(n >> 8) & 255}.{n & 255}"}
            try:
                async with http.get(
                    base + path, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=30)
                ) as r:
                    await r.read()
                tally.add(f"{label} HTTP {r.status}")
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                tally.add(f"{label} {type(err).__name__}")
            latencies.append(time.perf_counter() - started)

    async def faults() -> None:
        if not database_url.startswith("postgresql") or fault_every <= 0:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), fault_every)
            if not stop.is_set():
                tally.add("PostgreSQL faults (every server connection terminated)")
                tally.counts["PostgreSQL server connections terminated"] += await terminate_backends(database_url)

    started = time.monotonic()
    workers = [asyncio.create_task(citizen()) for _ in range(4)]
    workers += [
        asyncio.create_task(reader(sessions["anonymous"], "/open311/v2/requests.json", "Open311 GET")),
        asyncio.create_task(reader(sessions["operator"], "/staff/", "staff list GET")),
        asyncio.create_task(reader(sessions["analyst"], "/staff/board", "board GET")),
        asyncio.create_task(reader(sessions["anonymous"], "/healthz", "healthz GET")),
    ]
    workers.append(asyncio.create_task(faults()))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*workers)
    took = time.monotonic() - started
    latencies.sort()
    total = len(latencies)
    p50 = latencies[total // 2] * 1000 if total else float("nan")
    p99 = latencies[min(total - 1, total * 99 // 100)] * 1000 if total else float("nan")
    tally.show(
        f"mixed load: {took:.1f} s, {total:,} requests ({total / took:.0f}/s), 4 citizens + 4 readers; "
        f"latency p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1] * 1000 if total else 0:.0f} ms"
    )
    return acknowledged, tally


async def stored_keys(database_url: str) -> set[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT description FROM tickets WHERE description LIKE :m"), {"m": f"%{MARK}%"}
            )
            found = set()
            for (description,) in rows:
                key = description.rsplit("(", 1)[-1].rstrip(")")
                found.add(key)
            return found
    finally:
        await engine.dispose()


async def ticket_number(database_url: str, key: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT number FROM tickets WHERE description LIKE :k")
            return str((await conn.execute(query, {"k": f"%{key}%"})).scalar_one())
    finally:
        await engine.dispose()


async def review(database_url: str, work: Path, load_seconds: float, fault_every: float, agi_waves: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    from callcenter.store.db import sqlite_file

    old = sqlite_file(database_url)
    if old is not None and old.exists():  # a fresh SQLite file (clean_database keeps the users)
        old.unlink()
    department, routes = await prepare(database_url, work)
    agi_port = free_port()
    env = {
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_DATA_DIR": str(work / "data"),
        "CALLCENTER_AGI_PORT": str(agi_port),
        "CALLCENTER_SECRET_KEY": "review",
        "CALLCENTER_LOG_LEVEL": "WARNING",
        "CALLCENTER_TRUSTED_PROXIES": "127.0.0.1",
    }
    print(f"database: {database_url.split('://')[0]}; {len(routes)} routes; executor of {department}")
    async with ServerProcess(["-m", "callcenter.cli", "serve"], env, work) as server:
        base = server.base
        async with aiohttp.ClientSession() as http:
            number_key = await file_ticket(http, base, 10**6)
        assert number_key is not None
        sessions: dict[str, aiohttp.ClientSession] = {"anonymous": aiohttp.ClientSession()}
        for role in ("operator", "executor", "supervisor", "analyst", "admin"):
            sessions[role] = await sign_in(base, f"rv_{role}")
        sessions["logged_out"] = await logged_out_session(base)
        try:
            number = await ticket_number(database_url, number_key)
            await routes_by_identity(base, routes, number, sessions)
            await bad_inputs(base, number, sessions, asyncio.Semaphore(8))
            await hostile_agi(agi_port, agi_waves, sessions["anonymous"], base)
            acknowledged, _ = await mixed_load(base, database_url, load_seconds, fault_every, sessions)
            async with sessions["anonymous"].get(base + "/healthz") as resp:
                after = resp.status
        finally:
            for http in sessions.values():
                await http.close()
    stored = await stored_keys(database_url)
    lost = acknowledged - stored
    stored.discard(number_key)  # the ticket the routes were crawled with
    print(
        f"data lost: {len(lost)} of {len(acknowledged):,} tickets the portal acknowledged during the load are "
        f"missing from the database ({len(stored - acknowledged)} stored without an acknowledgement); "
        f"/healthz after the load: {after}"
    )
    for key in sorted(lost)[:5]:
        print(f"  lost: {key}")


def run(database_url: str, work: Path, load_seconds: float, fault_every: float, agi_waves: int) -> Any:
    return asyncio.run(review(database_url, work, load_seconds, fault_every, agi_waves))
