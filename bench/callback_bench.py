"""Callback dispatch benchmark: N due callbacks, several dispatchers racing on PostgreSQL.

Creates its own database on the given server, migrates it, seeds N citizens, tickets and due
automated callbacks, then runs D dispatchers, each in its own process with its own engine (as
separate app instances would), until every callback has been dialled. The dialer is a counting fake at
the port that answers at once ("answered" by default: the claim then stays until the IVR
would report; ``--result busy`` writes a retry for every call), so the run measures claims,
attempt rows and result writes, not telephony. Prints claims per second,
claim-transaction latency and the number of callbacks dialled twice (must be 0).

    .venv/bin/python bench/callback_bench.py postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/callback_bench.py URL --callbacks 20000 --dispatchers 3 --batch 100

The database (cc_callback_bench_<random>) is dropped at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.callbacks.dialer import DialOutcome, DialResult  # noqa: E402
from callcenter.callbacks.dispatcher import CallbackDispatcher  # noqa: E402
from callcenter.callbacks.service import CallbackService  # noqa: E402
from callcenter.callbacks.store import CallbackStore  # noqa: E402
from callcenter.domain.callbacks import CallbackMode, CallbackPolicy, CallWindow  # noqa: E402
from callcenter.store import models as m  # noqa: E402
from callcenter.store.db import create_engine, session_factory  # noqa: E402
from callcenter.store.migrate import upgrade  # noqa: E402
from callcenter.tickets.service import TicketService  # noqa: E402

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a fixed clock: "busy" retries fall after the run


class CountingDialer:
    """Counts originates per callback; answers at once with ``result``."""

    available = True

    def __init__(self, result: DialResult) -> None:
        self.counts: Counter[int] = Counter()
        self.result = result

    async def originate_callback(
        self, *, phone: str, callback_id: int, ticket_numbers: Sequence[str], action_id: str
    ) -> DialOutcome:
        self.counts[callback_id] += 1
        return DialOutcome(self.result, "bench", f"cc-{action_id}")

    async def click_to_call(self, **kwargs: object) -> DialOutcome:
        return DialOutcome(DialResult.NOT_SENT, "bench")


def admin_dsn(url: str) -> tuple[str, str]:
    """(asyncpg DSN of the server's maintenance database, SQLAlchemy URL of a fresh bench database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("callback_bench: give a postgresql+asyncpg:// URL")
    name = f"cc_callback_bench_{secrets.token_hex(4)}"
    admin = parsed.set(drivername="postgresql", database=parsed.database or "postgres")
    bench = parsed.set(database=name)
    return admin.render_as_string(hide_password=False), bench.render_as_string(hide_password=False)


async def seed(url: str, n: int, chunk: int = 5000) -> None:
    """N citizens, each with one done ticket and one due automated callback."""
    engine = create_engine(url)
    rng = random.Random(1563)
    try:
        with tqdm(total=n, desc="seeding", unit="callback") as bar:
            for start in range(0, n, chunk):
                ids = range(start + 1, min(n, start + chunk) + 1)
                async with engine.begin() as conn:
                    await conn.execute(
                        insert(m.Citizen), [{"id": i, "phone": f"+7978{i:07d}", "created_at": NOW} for i in ids]
                    )
                    await conn.execute(insert(m.Ticket), [_ticket(i) for i in ids])
                    await conn.execute(insert(m.Callback), [_callback(i, rng) for i in ids])
                    await conn.execute(
                        insert(m.CallbackTicket),
                        [{"callback_id": i, "ticket_id": i, "done_at": NOW - timedelta(hours=1)} for i in ids],
                    )
                bar.update(len(ids))
            async with engine.begin() as conn:
                for table in ("citizens", "tickets", "callbacks"):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


def _ticket(i: int) -> dict[str, object]:
    return {
        "id": i,
        "number": f"26{i:07d}",
        "channel": "phone",
        "status": "done",
        "is_draft": False,
        "title": "Течь",
        "description": "",
        "address": "",
        "created_at": NOW,
        "updated_at": NOW,
        "version": 4,
        "extra": {},
    }


def _callback(i: int, rng: random.Random) -> dict[str, object]:
    return {
        "id": i,
        "citizen_id": i,
        "phone": f"+7978{i:07d}",
        "state": "planned",
        "mode": "auto",
        "priority": rng.choice((1, 2, 3, 3, 3)),
        "due_at": NOW - timedelta(minutes=rng.randint(0, 600)),
        "attempts": 0,
        "created_at": NOW,
        "window_start": 0,
        "window_end": 1440,
    }


class TimedStore(CallbackStore):
    """The real store, timing each claim transaction."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.claim_seconds: list[float] = []
        self.claimed = 0

    async def claim_auto(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        calls = await super().claim_auto(*args, **kwargs)  # type: ignore[arg-type]
        if calls:
            self.claim_seconds.append(time.perf_counter() - started)
            self.claimed += len(calls)
        return calls


@dataclass
class WorkerReport:
    name: str
    claimed: int
    claim_seconds: list[float]
    counts: Counter[int]


def dispatcher_process(url: str, name: str, total: int, batch: int, result: str) -> WorkerReport:
    """One app instance: its own process, engine and dispatcher, ticking until nothing is due."""
    return asyncio.run(run_dispatcher(url, name, total, batch, DialResult(result)))


async def run_dispatcher(url: str, name: str, total: int, batch: int, result: DialResult) -> WorkerReport:
    engine = create_engine(url)
    sessions = session_factory(engine)
    store = TimedStore(sessions, CallbackPolicy(window=CallWindow(0, 24 * 60)))
    service = CallbackService(
        store,
        TicketService(sessions),
        default_mode=CallbackMode.AUTO,
        lease=timedelta(minutes=5),
        data_dir=Path("."),
        clock=lambda: NOW,
    )
    dialer = CountingDialer(result)
    dispatcher = CallbackDispatcher(service, dialer, max_concurrent=total, owner=name, batch=batch)
    try:
        while (await dispatcher.tick()).started:
            await dispatcher.wait_idle(120)
        await dispatcher.wait_idle(120)
    finally:
        await engine.dispose()
    return WorkerReport(name, store.claimed, store.claim_seconds, dialer.counts)


async def watch_progress(url: str, n: int, done: asyncio.Event, label: str) -> None:
    """Progress from the database: attempts written so far (the workers are other processes)."""
    engine = create_engine(url)
    try:
        with tqdm(total=n, desc=label, unit="call") as bar:
            while not done.is_set():
                async with engine.connect() as conn:
                    count = (await conn.exec_driver_sql("SELECT count(*) FROM callback_attempts")).scalar_one()
                bar.update(count - bar.n)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.5)
            async with engine.connect() as conn:
                bar.update((await conn.exec_driver_sql("SELECT count(*) FROM callback_attempts")).scalar_one() - bar.n)
    finally:
        await engine.dispose()


async def bench(url: str, n: int, dispatchers: int, batch: int, result: DialResult) -> None:
    admin, bench_url = admin_dsn(url)
    name = make_url(bench_url).database
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"database {name}: migrating")
        await asyncio.to_thread(upgrade, bench_url)
        started = time.perf_counter()
        await seed(bench_url, n)
        print(f"seeded {n} due callbacks in {time.perf_counter() - started:.1f} s")
        await measure(bench_url, n, dispatchers, batch, result)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        print(f"database {name} dropped")


async def measure(url: str, n: int, dispatchers: int, batch: int, result: DialResult) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    with ProcessPoolExecutor(max_workers=dispatchers, mp_context=multiprocessing.get_context("spawn")) as pool:
        watcher = asyncio.create_task(watch_progress(url, n, done, f"{dispatchers} dispatchers"))
        started = time.perf_counter()
        try:
            reports = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, dispatcher_process, url, f"bench-{k}", n, batch, result.value)
                    for k in range(dispatchers)
                )
            )
        finally:
            elapsed = time.perf_counter() - started
            done.set()
            await watcher
    counts: Counter[int] = Counter()
    for report in reports:
        counts.update(report.counts)
    print_figures(reports, counts, n, batch, result, elapsed)


def print_figures(
    reports: list[WorkerReport], counts: Counter[int], n: int, batch: int, result: DialResult, elapsed: float
) -> None:
    claims = [s * 1000 for r in reports for s in r.claim_seconds]
    claimed = sum(r.claimed for r in reports)
    in_claims = sum(sum(r.claim_seconds) for r in reports)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    missing = n - len(counts)
    print(
        f"\ncallbacks: {n}, dispatchers: {len(reports)} (one process each), claim batch: {batch}, "
        f"dial result: {result.value}"
    )
    print(f"elapsed: {elapsed:.1f} s; end to end (claim, attempt row, dial, result): {claimed / elapsed:,.0f} calls/s")
    print(
        f"claims per second inside claim transactions: {claimed / in_claims:,.0f} "
        f"({in_claims / elapsed / len(reports):.0%} of the dispatchers' time)"
    )
    print("claimed per dispatcher: " + ", ".join(f"{r.name} {r.claimed}" for r in reports))
    print(
        f"claim transaction ({len(claims)} batches of up to {batch}): median {statistics.median(claims):.1f} ms, "
        f"p99 {_p99(claims):.1f} ms"
    )
    print(f"originates: {sum(counts.values())}; duplicates (dialled twice): {duplicates}; never dialled: {missing}")
    if duplicates or missing:
        raise SystemExit("FAILED: every callback must be dialled exactly once")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--callbacks", type=int, default=100_000)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200, help="claims per tick and dispatcher")
    parser.add_argument(
        "--result",
        choices=("busy", "answered"),
        default="busy",
        help="what the fake dialer answers: busy (a retry is written for every call: the path "
        "most calls take) or answered (the claim stays until the IVR would report)",
    )
    args = parser.parse_args()
    asyncio.run(bench(args.url, args.callbacks, args.dispatchers, args.batch, DialResult(args.result)))


if __name__ == "__main__":
    main()
