"""Staff web benchmark: board pages at a million tickets, and live WebSocket clients per process.

    .venv/bin/python -m bench.board_bench                        # SQLite under /tmp, 1,000,000 tickets
    .venv/bin/python -m bench.board_bench --tickets 100000       # a quicker run
    .venv/bin/python -m bench.board_bench --database-url postgresql+asyncpg://postgres@127.0.0.1/cc_staff_bench
    .venv/bin/python -m bench.board_bench --skip-pages           # only the WebSocket ramp

The app runs in its own process with only the staff web mounted (as deployed, one process);
the client runs in this process, so the two cores of the test machine are split between them.
1. The store is filled to ``--tickets`` (bench/bulk.py; reused by later runs), then the
   operators' board `/staff/` and its filters, deep keyset pages, search, a live row fragment,
   the supervisors' board (caches missed on purpose: every sample asks for another period)
   and its counts are timed over HTTP, signed in: p50/p95/p99. Target: board p95 < 100 ms.
2. WebSocket clients are added in steps; at each step the server publishes ticket messages
   carrying their send time and every client notes when each arrives. The step's delivery
   p95 is printed; the ramp stops at the first step above 100 ms (or at ``--max-clients``).
   The clients' own processing is included, so the figures are an upper bound for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select
from tqdm import tqdm

from bench.bulk import bulk_load
from bench.server import ServerProcess
from bench.stats import percentile, summary_ms
from callcenter.config import load_settings
from callcenter.store import models as m
from callcenter.store.migrate import upgrade_async

WORKDIR = Path("/tmp/callcenter-board-bench")
PASSWORD = "bench-password-1563"
QUERIES = ["порыв трубы", "нет света", "яма", "мусор контейнеры", "лифт", "затопило подвал", "Ленина", "вода"]
DELIVERY_TARGET_MS = 100.0
STEPS = [100, 250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000]


def Server(database_url: str) -> ServerProcess:  # noqa: N802 - reads as the class it returns
    """The app with only the staff web mounted, in its own process (``--serve``)."""
    return ServerProcess(
        ["-m", "bench.board_bench", "--serve"],
        {
            "CALLCENTER_DATABASE_URL": database_url,
            "CALLCENTER_DATA_DIR": str(WORKDIR / "data"),
            "CALLCENTER_SECRET_KEY": "bench",
            "CALLCENTER_LOG_LEVEL": "WARNING",
        },
        WORKDIR,
    )


def serve_staff_only() -> None:
    """The server process: the staff web, plus a bench-only route that publishes timed messages."""
    from callcenter.app import init_app
    from callcenter.services import SERVICES
    from callcenter.staff.feature import FEATURE as staff

    settings = load_settings()
    app = init_app(settings, features=(staff,))

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        hub = request.app[SERVICES].hub
        for seq in range(int(body["count"])):
            hub.publish(
                {
                    "type": "ticket",
                    "change": "status",
                    "number": f"26{seq:05d}",
                    "status": "in_progress",
                    "previous": "dispatched",
                    "channel": "web",
                    "department": "vodokanal",
                    "category": "water_leak",
                    "is_draft": False,
                    "version": 3,
                    "seq": seq,
                    "step": body["step"],
                    "sent": time.time(),
                }
            )
            await asyncio.sleep(float(body["interval"]))
        return web.json_response({"subscribers": hub.subscriber_count})

    app.router.add_post("/bench/publish", publish)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


async def ensure_world(database_url: str, count: int) -> tuple[Any, int]:
    """Migrate, load the tickets that are missing, and make the two staff users."""
    from callcenter.app import build_services
    from callcenter.store.reference_sync import sync_reference

    await upgrade_async(database_url)
    services = build_services(
        load_settings(environ={}, overrides={"database_url": database_url, "data_dir": WORKDIR / "data"})
    )
    await sync_reference(services.sessions, services.reference)
    async with services.engine.connect() as conn:
        have = (await conn.execute(select(func.count()).select_from(m.Ticket))).scalar_one()
    if have < count:
        started = time.perf_counter()
        await bulk_load(services.engine, services.reference, count - have, seed=int(time.time()) % 10_000)
        rate = (count - have) / (time.perf_counter() - started)
        print(f"loaded {count - have:,} tickets in {time.perf_counter() - started:.0f} s ({rate:,.0f} tickets/s)")
    for login, role in (("bench-operator", "operator"), ("bench-supervisor", "supervisor")):
        if await services.users.by_login(login) is None:
            await services.users.create(login, PASSWORD, role)
    return services, max(have, count)


async def signed_in(base: str, login: str) -> aiohttp.ClientSession:
    """A client session with the staff cookie (through the real login form), no cap on connections."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0))
    async with http.get(base + "/login") as resp:
        page = await resp.text()
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    async with http.post(
        base + "/login", data={"login": login, "password": PASSWORD, "csrf_token": token}, allow_redirects=False
    ) as resp:
        if resp.status != 303:
            raise RuntimeError(f"login of {login} failed: HTTP {resp.status}")
    return http


async def timed(name: str, samples: int, call: Callable[[int], Awaitable[int]]) -> float:
    for i in range(3):  # warm-up: statement caches, the reference names
        await call(i)
    timings = []
    for i in tqdm(range(samples), desc=name, leave=False):
        t0 = time.perf_counter()
        await call(i)
        timings.append(time.perf_counter() - t0)
    print(summary_ms(name, timings, 95, 99))
    return percentile(timings, 95) * 1000


async def fetch(http: aiohttp.ClientSession, url: str, expect: tuple[int, ...] = (200,)) -> int:
    async with http.get(url, allow_redirects=False) as resp:
        body = await resp.read()
        if resp.status not in expect:
            raise RuntimeError(f"{url}: HTTP {resp.status}: {body[:300]!r}")
    return len(body)


async def bench_pages(base: str, services: Any, samples: int) -> None:
    rng = random.Random(5)
    reference = services.reference
    async with services.engine.connect() as conn:
        top = (await conn.execute(select(func.max(m.Ticket.id)))).scalar_one()
        numbers = (
            (
                await conn.execute(
                    select(m.Ticket.number).where(m.Ticket.id > top - 20000).order_by(m.Ticket.id.desc()).limit(2000)
                )
            )
            .scalars()
            .all()
        )
    categories = [c.code for c in reference.categories]
    departments = [d.code for d in reference.departments]
    districts = ["Гагаринский", "Ленинский", "Нахимовский", "Балаклавский"]
    operator = await signed_in(base, "bench-operator")
    supervisor = await signed_in(base, "bench-supervisor")
    board = base + "/staff/"
    try:
        cases: list[tuple[str, Callable[[int], Awaitable[int]]]] = [
            ("board: newest 50 (default)", lambda i: fetch(operator, board)),
            ("board: status=open", lambda i: fetch(operator, board + "?status=open")),
            ("board: one category", lambda i: fetch(operator, board + "?category=" + rng.choice(categories))),
            (
                "board: department + in progress",
                lambda i: fetch(operator, board + f"?department={rng.choice(departments)}&status=in_progress"),
            ),
            (
                "board: channel + district",
                lambda i: fetch(operator, board + f"?channel=web&district={rng.choice(districts)}"),
            ),
            ("board: one week, 3 months ago", lambda i: fetch(operator, board + _week(rng))),
            (
                "board: deep page (before=random id)",
                lambda i: fetch(operator, board + f"?before={rng.randrange(1000, top)}"),
            ),
            ("board: Russian full-text search", lambda i: fetch(operator, board + "?q=" + rng.choice(QUERIES))),
            ("board: search + status=open", lambda i: fetch(operator, board + "?status=open&q=" + rng.choice(QUERIES))),
            (
                "live row fragment",
                lambda i: fetch(
                    operator, base + f"/staff/tickets/{rng.choice(numbers)}/row?view=board&status=open", (200, 204)
                ),
            ),
            ("ticket page", lambda i: fetch(operator, base + f"/staff/tickets/{rng.choice(numbers)}")),
            (
                "supervisors' board, 30 days (uncached)",
                lambda i: fetch(supervisor, base + f"/staff/board?{_period(i, 30)}"),
            ),
            ("supervisors' counts, 30 days", lambda i: fetch(supervisor, base + "/staff/board/counts")),
        ]
        for name, call in cases:
            await timed(name, samples, call)
        await bench_export(supervisor, base)
    finally:
        await operator.close()
        await supervisor.close()


def _week(rng: random.Random) -> str:
    from datetime import date

    end = date.today() - timedelta(days=90 + rng.randrange(0, 7))
    return f"?date_from={(end - timedelta(days=6)).isoformat()}&date_to={end.isoformat()}"


def _period(i: int, days: int) -> str:
    from datetime import date

    # Another period every sample: the 15-second cache of the heavy aggregates never hits.
    end = date.today() - timedelta(days=i % 200)
    return f"date_from={(end - timedelta(days=days - 1)).isoformat()}&date_to={end.isoformat()}"


async def bench_export(http: aiohttp.ClientSession, base: str) -> None:
    t0 = time.perf_counter()
    rows = 0
    async with http.get(base + "/staff/export.csv") as resp:
        async for _line in resp.content:
            rows += 1
    elapsed = time.perf_counter() - t0
    print(
        f"{'CSV export, last 30 days (streamed)':42} {rows - 1:,} rows in {elapsed:.1f} s "
        f"({(rows - 1) / elapsed:,.0f} rows/s)"
    )


@dataclass
class Step:
    clients: int
    expected: int
    delays: list[float] = field(default_factory=list)
    received: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def arrived(self, delay: float) -> None:
        self.delays.append(delay)
        self.received += 1
        if self.received >= self.expected:
            self.complete.set()


async def bench_websockets(base: str, max_clients: int, messages: int, interval: float) -> None:
    http = await signed_in(base, "bench-operator")
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    readers: list[asyncio.Task[None]] = []
    current: dict[str, Step] = {}
    print(
        f"\nlive WebSocket clients, {messages} messages per step {interval * 1000:.0f} ms apart "
        f"(target: delivery p95 < {DELIVERY_TARGET_MS:.0f} ms)"
    )
    print(f"{'clients':>8} {'delivered':>10} {'lost':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    try:
        for size in [s for s in STEPS if s <= max_clients]:
            await _open(base, http, size - len(sockets), sockets, readers, current)
            expected = messages * size
            step = Step(size, expected)
            current["step"] = step
            async with http.post(
                base + "/bench/publish", json={"count": messages, "interval": interval, "step": size}
            ) as resp:
                await resp.read()
            try:
                await asyncio.wait_for(step.complete.wait(), timeout=10)
            except TimeoutError:
                pass  # reported below as lost
            ms = [d * 1000 for d in step.delays]
            p95 = percentile(ms, 95)
            print(
                f"{size:8d} {step.received:10d} {expected - step.received:6d} {percentile(ms, 50):8.1f} "
                f"{p95:8.1f} {percentile(ms, 99):8.1f} {max(ms, default=float('nan')):8.1f}"
            )
            if p95 > DELIVERY_TARGET_MS or step.received < expected:
                print(f"stopped: at {size} clients delivery p95 is {p95:.0f} ms or messages were lost")
                break
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await http.close()


async def _open(
    base: str, http: aiohttp.ClientSession, count: int, sockets: list[Any], readers: list[Any], current: dict[str, Step]
) -> None:
    url = base.replace("http", "ws", 1) + "/ws"
    bar = tqdm(total=count, desc="opening sockets", leave=False)

    async def one() -> None:
        ws = await http.ws_connect(url, heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_receive=None))
        hello = await ws.receive_json(timeout=30)
        assert hello["type"] == "hello"
        sockets.append(ws)
        readers.append(asyncio.create_task(_read(ws, current)))
        bar.update(1)

    for start in range(0, count, 100):
        await asyncio.gather(*(one() for _ in range(min(100, count - start))))
    bar.close()


async def _read(ws: aiohttp.ClientWebSocketResponse, current: dict[str, Step]) -> None:
    async for msg in ws:
        if msg.type is not aiohttp.WSMsgType.TEXT:
            continue
        arrived = time.time()
        data = msg.json()
        step = current.get("step")
        if step is not None and data.get("step") == step.clients:
            step.arrived(arrived - data["sent"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=f"sqlite+aiosqlite:///{WORKDIR}/store.db")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--max-clients", type=int, default=8000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between published messages")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()

    WORKDIR.mkdir(parents=True, exist_ok=True)
    services, total = await ensure_world(args.database_url, 0 if args.skip_pages else args.tickets)
    try:
        async with Server(args.database_url) as server:
            print(
                f"\n{services.engine.dialect.name}: {total:,} tickets; server process at {server.base}, "
                "client in this process"
            )
            if not args.skip_pages:
                await bench_pages(server.base, services, args.samples)
            await bench_websockets(server.base, args.max_clients, args.messages, args.interval)
    finally:
        await services.engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve_staff_only()
    else:
        asyncio.run(main())
