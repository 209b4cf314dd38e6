"""Portal and Open311 benchmark: submit throughput on one process, Open311 latency at a million tickets.

    .venv/bin/python -m bench.portal_bench                          # SQLite under /tmp, 1,000,000 tickets
    .venv/bin/python -m bench.portal_bench --tickets 100000         # a quicker run
    .venv/bin/python -m bench.portal_bench --database-url postgresql+asyncpg://postgres@127.0.0.1/cc_portal_bench

Everything goes over HTTP to the app running in its own process (one process, as deployed
without a balancer), with only the portal and Open311 mounted (``--full-app``: `callcenter
serve` with every feature); the client runs in this process.
1. The store is filled to ``--tickets`` (bulk-loaded once at the real pace, reused by later
   runs; bench/bulk.py).
2. Portal submissions on that loaded store (multipart POST /, then the 303): requests per
   second and p50/p95/p99, without and with a photo (Pillow checks and re-encodes it). Each
   request carries its own X-Forwarded-For from a trusted proxy, as behind nginx, so the
   per-address limit does not stop the benchmark. (Before issue 19 they ran on an empty store.)
3. Open311 `GET requests.json` (the spec's default: last 90 days, first 1000) and its filters,
   the XML form, the public map's GeoJSON and the duplicate search: p50/p95/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image
from sqlalchemy import func, select
from tqdm import tqdm

from bench.bulk import bulk_load, span_note
from bench.server import ServerProcess
from bench.stats import summary_ms
from callcenter.config import load_settings
from callcenter.store import models as m
from callcenter.store.migrate import upgrade_async

WORKDIR = Path("/tmp/callcenter-portal-bench")
CATEGORIES = ["water_leak", "no_water", "road_pothole", "street_lighting", "garbage", "elevator"]


def photo_bytes() -> bytes:
    """A 12-megapixel-like phone photo, shrunk: 2000x1500 with some texture, as JPEG."""
    rng = random.Random(7)
    image = Image.new("RGB", (2000, 1500), (90, 120, 150))
    for _ in range(300):
        x, y = rng.randrange(0, 1950), rng.randrange(0, 1450)
        image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 50, y + 50))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def submission(i: int, photo: bytes | None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    fields = {
        "category": CATEGORIES[i % len(CATEGORIES)],
        "address": f"ул. Ленина, д. {i % 150 + 1}",
        "description": f"Проблема номер {i}: течёт вода из-под асфальта",
        "name": "Тест",
        "phone": f"+7978{i % 10_000_000:07d}",
        "consent": "on",
    }
    for key, value in fields.items():
        data.add_field(key, value)
    if photo is not None:
        data.add_field("photos", io.BytesIO(photo), filename="photo.jpg", content_type="image/jpeg")
    return data


def Server(database_url: str, *, full_app: bool = False) -> ServerProcess:  # noqa: N802
    """`callcenter serve` (or only the portal and Open311) in its own process, as in production."""
    command = ["-m", "callcenter.cli", "serve"] if full_app else ["-m", "bench.portal_bench", "--serve"]
    return ServerProcess(
        command,
        {
            "CALLCENTER_DATABASE_URL": database_url,
            "CALLCENTER_DATA_DIR": str(WORKDIR / "data"),
            "CALLCENTER_AGI_PORT": "0",
            "CALLCENTER_TRUSTED_PROXIES": "127.0.0.1",
            "CALLCENTER_SECRET_KEY": "bench",
            "CALLCENTER_LOG_LEVEL": "WARNING",
            # The bulk data's closed tickets would all be due for the archive job, whose
            # catch-up (2,000 moves per run) is not what this benchmark measures.
            "CALLCENTER_ARCHIVE_AFTER_DAYS": "36500",
        },
        WORKDIR,
    )


async def bench_submit(base: str, count: int, concurrency: int, photo: bytes | None, label: str) -> None:
    timings: list[float] = []
    counter = iter(range(count))
    bar = tqdm(total=count, desc=label, leave=False)

    async def worker(http: aiohttp.ClientSession, offset: int) -> None:
        for i in counter:
            headers = {"X-Forwarded-For": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"}
            t0 = time.perf_counter()
            async with http.post(
                base + "/", data=submission(i + offset, photo), headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                if resp.status != 303:
                    raise RuntimeError(f"submission {i}: HTTP {resp.status}")
            timings.append(time.perf_counter() - t0)
            bar.update(1)

    offset = random.randrange(1_000_000)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http, offset) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    bar.close()
    print(f"{label:42} {count / elapsed:8.1f} req/s   (concurrency {concurrency}, {count} requests)")
    print(summary_ms("  latency", timings, 95, 99))


async def timed(name: str, samples: int, call: Callable[[int], Awaitable[int]]) -> None:
    for i in range(10):  # warm-up: page cache, prepared statements
        await call(i)
    timings, sizes = [], []
    for i in tqdm(range(samples), desc=name, leave=False):
        t0 = time.perf_counter()
        sizes.append(await call(i))
        timings.append(time.perf_counter() - t0)
    print(summary_ms(name, timings, 95, 99) + f"   rows/answer {statistics.median(sizes):.0f}")


async def get_count(http: aiohttp.ClientSession, url: str, params: dict[str, str], *, xml: bool = False) -> int:
    # Many clients behind the trusted proxy, as in production: one address would meet the
    # per-address read limit (300 a minute) long before the samples are done.
    forwarded = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    async with http.get(url, params=params, headers={"X-Forwarded-For": forwarded}) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url} {params}: HTTP {resp.status}: {body[:300]!r}")
    if xml:
        return body.count(b"<request>")
    data = json.loads(body)
    return len(
        data["features"]
        if isinstance(data, dict) and "features" in data
        else data["duplicates"]
        if isinstance(data, dict)
        else data
    )


async def bench_open311(base: str, services: Any, samples: int) -> None:
    rng = random.Random(11)
    async with services.engine.connect() as conn:
        sample = (
            await conn.execute(
                select(m.Ticket.number, m.Ticket.category_code, m.Ticket.lat, m.Ticket.lon)
                .order_by(func.random())
                .limit(2000)
            )
        ).all()
    numbers = [row[0] for row in sample]

    def near_a_ticket(i: int) -> dict[str, str]:
        # 30 m from a real ticket, so the search has something to find.
        _, category, lat, lon = rng.choice(sample)
        return {"category": category, "lat": f"{lat + 0.0002:.5f}", "lon": f"{lon + 0.0002:.5f}"}

    api = base + "/open311/v2"
    now = datetime.now(UTC)
    fresh = itertools.count()  # a new key per request: a cache miss

    def window(i: int) -> dict[str, str]:
        end = now - timedelta(days=rng.randrange(0, 250))
        return {"start_date": (end - timedelta(days=30)).isoformat(), "end_date": end.isoformat()}

    async with aiohttp.ClientSession() as http:
        cases: list[tuple[str, Callable[[int], Awaitable[int]]]] = [
            # Public lists are kept until a ticket changes (web/public_cache.py): the first case is what
            # most readers get; "miss" asks a new key each time (page_size 1000, 999, ...), as after a change.
            ("open311 requests.json (default: 90 d, 1000)", lambda i: get_count(http, api + "/requests.json", {})),
            (
                "open311 requests.json, cache miss",
                lambda i: get_count(http, api + "/requests.json", {"page_size": str(1000 - next(fresh))}),
            ),
            ("open311 requests.xml (default)", lambda i: get_count(http, api + "/requests.xml", {}, xml=True)),
            (
                "open311 requests.json status=open",
                lambda i: get_count(http, api + "/requests.json", {"status": "open"}),
            ),
            (
                "open311 requests.json service_code=one",
                lambda i: get_count(http, api + "/requests.json", {"service_code": rng.choice(CATEGORIES)}),
            ),
            ("open311 requests.json 30-day window", lambda i: get_count(http, api + "/requests.json", window(i))),
            (
                "open311 requests.json 20 ids",
                lambda i: get_count(
                    http, api + "/requests.json", {"service_request_id": ",".join(rng.sample(numbers, 20))}
                ),
            ),
            (
                "open311 requests/{id}.json",
                lambda i: get_count(http, api + f"/requests/{rng.choice(numbers)}.json", {}),
            ),
            (
                "map points (whole city, limit 2000)",
                lambda i: get_count(http, base + "/api/map/points", {"limit": "2000"}),
            ),
            (
                "map points (whole city), cache miss",
                lambda i: get_count(http, base + "/api/map/points", {"limit": str(2000 - next(fresh))}),
            ),
            (
                "map points (one category, 2 km box)",
                lambda i: get_count(
                    http, base + "/api/map/points", {"category": rng.choice(CATEGORIES), "bbox": _box(rng, 0.012)}
                ),
            ),
            (
                "duplicates (near a ticket, 100 m)",
                lambda i: get_count(http, base + "/api/duplicates", near_a_ticket(i)),
            ),
        ]
        for name, call in cases:
            await timed(name, samples, call)


def _box(rng: random.Random, half: float) -> str:
    lat, lon = 44.61 + rng.uniform(-0.02, 0.02), 33.52 + rng.uniform(-0.03, 0.03)
    return f"{lon - half * 1.4:.4f},{lat - half:.4f},{lon + half * 1.4:.4f},{lat + half:.4f}"


async def ensure_tickets(services: Any, count: int) -> int:
    async with services.engine.connect() as conn:
        have = (await conn.execute(select(func.count()).select_from(m.Ticket))).scalar_one()
    if have < count:
        started = time.perf_counter()
        await bulk_load(services.engine, services.reference, count - have, seed=int(time.time()) % 10_000)
        rate = (count - have) / (time.perf_counter() - started)
        print(f"loaded {count - have:,} tickets in {time.perf_counter() - started:.0f} s ({rate:,.0f} tickets/s)")
    return max(have, count)


async def bench_submissions(args: argparse.Namespace) -> None:
    async with Server(args.database_url, full_app=args.full_app) as server:
        print(f"\n{args.database_url.split(':')[0]}: server process at {server.base}, client in this process")
        await bench_submit(server.base, args.submissions, args.concurrency, None, "portal submit (no photo)")
        await bench_submit(
            server.base, args.photo_submissions, args.concurrency, photo_bytes(), "portal submit (one 2000x1500 photo)"
        )


def serve_portal_only() -> None:
    """The server process of the default run: the app with only the portal and Open311 mounted.

    The other features' background jobs (callback planning, the archive job) would start
    catching up on the bulk-loaded tickets and measure themselves instead; ``--full-app``
    runs `callcenter serve` with everything for comparison.
    """
    from callcenter.app import init_app
    from callcenter.open311.feature import FEATURE as open311
    from callcenter.portal.feature import FEATURE as portal

    settings = load_settings()
    web.run_app(
        init_app(settings, features=(portal, open311)),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=f"sqlite+aiosqlite:///{WORKDIR}/store.db")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--photo-submissions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--full-app", action="store_true", help="serve every feature (`callcenter serve`)")
    parser.add_argument("--no-submit", action="store_true", help="skip the submission part")
    args = parser.parse_args()

    WORKDIR.mkdir(parents=True, exist_ok=True)
    await upgrade_async(args.database_url)
    from callcenter.app import build_services

    services = build_services(
        load_settings(environ={}, overrides={"database_url": args.database_url, "data_dir": WORKDIR / "data"})
    )
    try:
        total = await ensure_tickets(services, args.tickets)
        print(f"\n{services.engine.dialect.name}: {total:,} tickets ({span_note(total)})")
        if not args.no_submit:
            await bench_submissions(args)  # on the loaded store, as the real one is
        async with Server(args.database_url, full_app=args.full_app) as server:  # sees the new statistics
            await bench_open311(server.base, services, args.samples)
    finally:
        await services.engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve_portal_only()
    else:
        asyncio.run(main())
