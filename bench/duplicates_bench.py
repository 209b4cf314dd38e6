"""The ticket page's "duplicates of this ticket" lookup: the full index of migration 0002 against
the partial one of migration 0013, toggled on the same loaded store, a bare one-row SELECT beside.

    .venv/bin/python -m bench.duplicates_bench --database-url sqlite+aiosqlite:////tmp/store.db

It drops and creates the two indexes (ANALYZE after each) and leaves the partial one, as
migration 0013 does. Three rounds, each state in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.stats import percentile

FULL = [
    "DROP INDEX IF EXISTS ix_tickets_duplicates",
    "CREATE INDEX IF NOT EXISTS ix_tickets_duplicate_of ON tickets (duplicate_of_id)",
]
PARTIAL = [
    "DROP INDEX IF EXISTS ix_tickets_duplicate_of",
    "CREATE INDEX IF NOT EXISTS ix_tickets_duplicates ON tickets (duplicate_of_id) WHERE duplicate_of_id IS NOT NULL",
]


async def state(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
        await conn.execute(text("ANALYZE tickets"))


async def measure(engine: AsyncEngine, top: int, samples: int) -> tuple[list[float], list[float]]:
    rng = random.Random(3)
    ours, peer = [], []
    async with engine.connect() as conn:
        for _ in range(samples):
            i = rng.randrange(max(1, top - 20_000), top + 1)
            t0 = time.perf_counter()
            await conn.execute(text("SELECT number FROM tickets WHERE duplicate_of_id = :i"), {"i": i})
            ours.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await conn.execute(text("SELECT number FROM tickets WHERE id = :i"), {"i": i})
            peer.append((time.perf_counter() - t0) * 1000)
    return ours, peer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    engine = create_async_engine(args.database_url)
    async with engine.connect() as conn:
        top = (await conn.execute(text("SELECT max(id) FROM tickets"))).scalar_one()
        dups = (await conn.execute(text("SELECT count(*) FROM tickets WHERE duplicate_of_id IS NOT NULL"))).scalar()
    print(f"{engine.dialect.name}: {top:,} tickets, {dups} of them duplicates")
    try:
        for run in range(1, 4):
            for label, statements in (("full index (0002)", FULL), ("partial index (0013)", PARTIAL)):
                await state(engine, statements)
                ours, peer = await measure(engine, top, args.samples)
                print(
                    f"  round {run} {label:21} p50 {statistics.median(ours):8.3f} ms  p95 {percentile(ours, 95):8.3f} ms"
                    f" | peer: bare one-row SELECT p50 {statistics.median(peer):.3f} ms  p95 {percentile(peer, 95):.3f} ms"
                    f" | ratio p50 {statistics.median(ours) / statistics.median(peer):,.1f}x"
                )
    finally:
        await state(engine, PARTIAL)
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
