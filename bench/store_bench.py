"""Store benchmark: a million tickets with their events, then creation, list and search latencies.

    .venv/bin/python -m bench.store_bench                         # SQLite file under /tmp
    .venv/bin/python -m bench.store_bench --database-url postgresql+asyncpg://postgres@127.0.0.1/cc_bench
    .venv/bin/python -m bench.store_bench --tickets 100000        # a quicker run

Loads only what is missing (re-runs reuse the data), then prints ticket creation p50/p99,
the operator list page (newest 50 with filters) p50/p95, full-text search p50/p95 and the
database size (SQLite: the main file and the write-ahead log, named apart). Targets:
creation p99 < 5 ms; list and search p95 < 50 ms. Beside each figure, the peer: a bare
``SELECT`` of one row by primary key on the same engine, timed in turn with every sample, so
the ratio carries the claim on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import date, timedelta

from sqlalchemy import func, select, text
from tqdm import tqdm

from bench.bulk import bulk_load
from bench.stats import summary_ms
from callcenter.config import load_settings
from callcenter.demo import demo_specs
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.store import models as m
from callcenter.store.db import sqlite_file
from callcenter.store.maintenance import SqliteMaintenance
from callcenter.store.migrate import upgrade_async
from callcenter.store.reference_sync import sync_reference
from callcenter.tickets.schemas import TicketFilter

QUERIES = [
    "порыв трубы",
    "нет света",
    "яма",
    "мусор контейнеры",
    "лифт",
    "отопление батареи холодные",
    "фонари",
    "затопило подвал",
    "Ленина",
    "вода",
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="sqlite+aiosqlite:////tmp/callcenter-bench/store.db")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    from callcenter.app import build_services

    await upgrade_async(args.database_url)
    settings = load_settings(
        environ={}, overrides={"database_url": args.database_url, "data_dir": "/tmp/callcenter-bench/data"}
    )
    services = build_services(settings)
    await sync_reference(services.sessions, services.reference)
    async with services.engine.connect() as conn:
        have = (await conn.execute(select(func.count()).select_from(m.Ticket))).scalar_one()
    if have < args.tickets:
        started = time.perf_counter()
        await bulk_load(services.engine, services.reference, args.tickets - have)
        loaded = args.tickets - have
        print(
            f"loaded {loaded} tickets in {time.perf_counter() - started:.0f} s "
            f"({loaded / (time.perf_counter() - started):.0f} tickets/s)"
        )
    print(f"\n{services.engine.dialect.name}: {max(have, args.tickets):,} tickets")
    # As in the app: SQLite's checkpoints and FTS merges run in the background task.
    path = sqlite_file(args.database_url)
    maintenance = SqliteMaintenance(path) if path is not None else None
    if maintenance is not None:
        maintenance.start()
    await bench_create(services, args.samples)
    await bench_list(services, args.samples)
    await bench_search(services, args.samples)
    if maintenance is not None:
        await maintenance.close()
    for name, size in (await database_size(services.engine, args.database_url)).items():
        print(f"{name:42} {size / 2**20:,.0f} MiB")
    await services.engine.dispose()


class Peer:
    """A bare SELECT of one row by primary key, timed in turn with the samples of a case."""

    def __init__(self, services) -> None:  # type: ignore[no-untyped-def]
        self._engine = services.engine
        self._rng = random.Random(11)
        self.timings: list[float] = []

    async def once(self) -> None:
        async with self._engine.connect() as conn:
            t0 = time.perf_counter()
            await conn.execute(
                text("SELECT id, number FROM tickets WHERE id = :i"), {"i": self._rng.randrange(1, 1000)}
            )
            self.timings.append(time.perf_counter() - t0)

    def report(self, ours: list[float], p: float) -> None:
        from bench.stats import percentile

        print(summary_ms("  peer: bare SELECT of one row", self.timings, p))
        print(f"  ratio ours / peer at p{p:g}: {percentile(ours, p) / percentile(self.timings, p):,.1f}x")


async def bench_create(services, samples: int) -> None:  # type: ignore[no-untyped-def]
    actor = Actor(role=Role.OPERATOR, name="bench")
    specs = list(demo_specs(services.reference, samples + 20, seed=int(time.time())))
    for spec in specs[:20]:  # warm-up
        await services.tickets.create(spec.data, actor)
    timings = []
    peer = Peer(services)
    for spec in tqdm(specs[20:], desc="create", leave=False):
        t0 = time.perf_counter()
        await services.tickets.create(spec.data, actor)
        timings.append(time.perf_counter() - t0)
        await peer.once()
    print(summary_ms("ticket creation (service, one transaction)", timings, 99))
    peer.report(timings, 99)


def _filters(services) -> list[TicketFilter]:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    categories = [c.code for c in services.reference.categories]
    departments = [d.code for d in services.reference.departments]
    today = date.today()
    return [
        TicketFilter(),
        TicketFilter(statuses=(Status.IN_PROGRESS,)),
        TicketFilter(statuses=(Status.NEW, Status.DISPATCHED)),
        TicketFilter(department=rng.choice(departments)),
        TicketFilter(category=rng.choice(categories), statuses=(Status.DONE,)),
        TicketFilter(channel=Channel.WEB),
        TicketFilter(district="Гагаринский"),
        TicketFilter(date_from=today - timedelta(days=30), date_to=today),
    ]


async def bench_list(services, samples: int) -> None:  # type: ignore[no-untyped-def]
    filters = _filters(services)
    timings = []
    peer = Peer(services)
    for i in tqdm(range(samples), desc="list", leave=False):
        f = filters[i % len(filters)]
        t0 = time.perf_counter()
        page = await services.tickets.list(f, limit=50)
        if i % 3 == 2 and page.next_before_id:  # and the next page, as an operator scrolls
            await services.tickets.list(f, before_id=page.next_before_id, limit=50)
        timings.append(time.perf_counter() - t0)
        await peer.once()
    print(summary_ms("operator list page (newest 50, filters)", timings, 95))
    peer.report(timings, 95)


async def bench_search(services, samples: int) -> None:  # type: ignore[no-untyped-def]
    timings = []
    peer = Peer(services)
    for i in tqdm(range(samples), desc="search", leave=False):
        t0 = time.perf_counter()
        await services.tickets.list(TicketFilter(query=QUERIES[i % len(QUERIES)]), limit=50)
        timings.append(time.perf_counter() - t0)
        await peer.once()
    print(summary_ms("full-text search (newest 50 matches)", timings, 95))
    peer.report(timings, 95)


async def database_size(engine, url: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Named sizes: SQLite's main file apart from its write-ahead log (which a checkpoint empties)."""
    path = sqlite_file(url)
    if path is not None:
        wal = f"{path}-wal"
        return {
            "database size (file, without the WAL)": os.path.getsize(path),
            "write-ahead log (-wal file)": os.path.getsize(wal) if os.path.exists(wal) else 0,
        }
    async with engine.connect() as conn:
        return {
            "database size (pg_database_size)": (
                await conn.execute(text("SELECT pg_database_size(current_database())"))
            ).scalar_one()
        }


if __name__ == "__main__":
    asyncio.run(main())
