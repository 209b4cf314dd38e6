"""Bulk-load realistic tickets (with citizens, events and the search index) for benchmarks.

Goes around the service on purpose: a million tickets through one call each would take hours.
The rows are the same kind the service writes (callcenter.demo.bulk_rows), dated relative to
now at the real service's pace: about ``PER_YEAR`` tickets a year, the newest created now, so the
30- and 90-day windows always hold a city's month and quarter (100,000 tickets hold two years,
1,000,000 twenty; `span_note` says so). Ids grow with creation time (date filters are id ranges),
so tickets appended to a loaded store fit between its newest ticket and now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tqdm import tqdm

from callcenter.demo import bulk_rows
from callcenter.reference import ReferenceData
from callcenter.store import models as m
from callcenter.store.db import session_factory
from callcenter.store.reference_sync import sync_reference
from callcenter.store.search import RussianStemmer

BATCH = 5000
PER_YEAR = 50_000  # the real 1563: about 4,000 tickets a month
YEAR = timedelta(days=365.25)


def span_note(count: int) -> str:
    """How much time ``count`` tickets at the real pace cover (printed beside the figures)."""
    months = count / PER_YEAR * 12
    return f"{count:,} tickets ≈ {months:,.0f} months at {PER_YEAR:,} a year; a 30-day window holds ≈{PER_YEAR * 30 / 365:,.0f}"


async def bulk_load(
    engine: AsyncEngine,
    reference: ReferenceData,
    count: int,
    *,
    seed: int = 7,
    per_year: int = PER_YEAR,
    now: datetime | None = None,
    progress: bool = True,
) -> int:
    """Append ``count`` tickets after the existing ones, the newest created ``now``; returns the number loaded."""
    # The tickets name categories and departments: on a store no app has started on yet, the
    # reference tables are still empty (the app fills them at start; so does this).
    await sync_reference(session_factory(engine), reference)
    now = now or datetime.now(UTC)
    year = now.year  # ticket numbers carry the current year, as the counter below does
    async with engine.connect() as conn:
        start_id = ((await conn.execute(select(func.max(m.Ticket.id)))).scalar() or 0) + 1
        newest = (await conn.execute(select(func.max(m.Ticket.created_at)))).scalar()
    step = YEAR / per_year
    start = now - step * count
    if newest is not None:
        newest = newest if isinstance(newest, datetime) else datetime.fromisoformat(str(newest))
        newest = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
        if newest >= start:  # appended: squeeze between the newest stored ticket and now
            start = newest + timedelta(seconds=1)
            step = max(now - start, timedelta(seconds=count)) / count
    stemmer = RussianStemmer()
    phones: dict[str, int] = {}
    bar = tqdm(total=count, desc="bulk tickets", unit="ticket", disable=not progress)
    batch: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for pair in bulk_rows(reference, count, seed, start_id, year, start=start, step=step):
        batch.append(pair)
        if len(batch) == BATCH:
            await _write(engine, batch, phones, stemmer)
            bar.update(len(batch))
            batch = []
    if batch:
        await _write(engine, batch, phones, stemmer)
        bar.update(len(batch))
    bar.close()
    async with engine.begin() as conn:
        last = start_id + count - 1
        await conn.execute(text("DELETE FROM ticket_counters WHERE year = :y"), {"y": year})
        await conn.execute(insert(m.TicketCounter).values(year=year, last_value=last))
        if engine.dialect.name == "postgresql":
            for table in ("tickets", "ticket_events", "citizens"):
                await conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE"))
    return count


async def _citizen_ids(engine: AsyncEngine, batch: list[Any], phones: dict[str, int]) -> None:
    new = sorted({t["phone"] for t, _ in batch if t["phone"] not in phones})
    if not new:
        return
    async with engine.begin() as conn:
        existing = dict(
            (await conn.execute(select(m.Citizen.phone, m.Citizen.id).where(m.Citizen.phone.in_(new)))).all()
        )
        missing = [p for p in new if p not in existing]
        if missing:
            await conn.execute(
                insert(m.Citizen), [{"phone": p, "created_at": batch[0][0]["created_at"]} for p in missing]
            )
            existing.update(
                dict(
                    (
                        await conn.execute(select(m.Citizen.phone, m.Citizen.id).where(m.Citizen.phone.in_(missing)))
                    ).all()
                )
            )
    phones.update(existing)


async def _write(engine: AsyncEngine, batch: list[Any], phones: dict[str, int], stemmer: RussianStemmer) -> None:
    await _citizen_ids(engine, batch, phones)
    tickets = []
    for t, _ in batch:
        row = dict(t)
        row["citizen_id"] = phones[row.pop("phone")]
        tickets.append(row)
    events = [e for _, evs in batch for e in evs]
    async with engine.begin() as conn:
        await conn.execute(insert(m.Ticket), tickets)
        await conn.execute(insert(m.TicketEvent), events)
        if engine.dialect.name == "sqlite":
            await conn.execute(
                text("INSERT INTO tickets_fts(rowid, body) VALUES (:id, :body)"),
                [
                    {
                        "id": t["id"],
                        "body": " ".join(
                            stemmer.stems(" ".join((t["number"], t["title"], t["description"], t["address"])))
                        ),
                    }
                    for t in tickets
                ],
            )
