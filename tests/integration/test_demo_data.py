"""`seed-demo` data a supervisor can judge a board by: rhythm, lifecycle, calls, callbacks, names."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from callcenter.app import Services
from callcenter.demo import FEMALE_FIRST, MALE_FIRST, PATRONYMICS, SURNAMES, seed_demo
from callcenter.domain.tickets import Status
from callcenter.store import models as m

# Tuesday 1 December 2026, 00:00 in Sevastopol: the 7 days before are Tuesday to Monday, whole.
NOW = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
COUNT = 300


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _rows(services: Services, stmt: Any) -> list[Any]:
    async with services.sessions() as session:
        return list((await session.execute(stmt)).all())


async def test_seeded_tickets_have_the_shape_of_a_hotline_week(services: Services) -> None:
    assert await seed_demo(services, count=COUNT, seed=1563, now=NOW) == COUNT
    zone = services.settings.zone
    tickets = await _rows(
        services,
        select(m.Ticket.id, m.Ticket.created_at, m.Ticket.status, m.Ticket.category_code, m.Ticket.duplicate_of_id),
    )
    assert len(tickets) == COUNT
    local = [_aware(t.created_at).astimezone(zone) for t in tickets]
    assert all(NOW - timedelta(days=7) <= _aware(t.created_at) < NOW for t in tickets)
    by_day = Counter(t.date() for t in local)
    by_weekday = Counter(t.weekday() for t in local)
    by_hour = Counter(t.hour for t in local)
    assert len(by_day) == 7 and max(by_day.values()) < COUNT / 4  # spread, not one bar
    assert by_weekday[6] < 0.85 * statistics.mean(by_weekday[d] for d in range(5))  # a quieter Sunday
    night = sum(by_hour[h] for h in range(0, 6))
    peaks = sum(by_hour[h] for h in (10, 11, 17, 18))
    assert night < COUNT * 0.08 and peaks > 3 * night and len(by_hour) >= 18

    statuses = Counter(Status(t.status) for t in tickets)
    assert {Status.CLOSED, Status.DONE, Status.IN_PROGRESS, Status.REJECTED} <= set(statuses), statuses
    assert statuses[Status.CLOSED] > COUNT / 3
    assert any(t.duplicate_of_id for t in tickets)  # rejected as a duplicate
    await _assert_lifecycle_durations(services)
    await _assert_calls_and_callbacks(services)
    await _assert_names_agree(services)


async def _assert_lifecycle_durations(services: Services) -> None:
    events = await _rows(
        services,
        select(m.TicketEvent.ticket_id, m.TicketEvent.at, m.TicketEvent.to_status, m.TicketEvent.data).order_by(
            m.TicketEvent.ticket_id, m.TicketEvent.id
        ),
    )
    first: dict[tuple[int, str], datetime] = {}
    reopened = 0
    for e in events:
        first.setdefault((e.ticket_id, e.to_status or ""), _aware(e.at))
        reopened += bool((e.data or {}).get("reopened"))
    ids = {tid for tid, _ in first}
    dispatch = [
        (first[(t, "dispatched")] - first[(t, "new")]).total_seconds() for t in ids if (t, "dispatched") in first
    ]
    accept = [
        (first[(t, "in_progress")] - first[(t, "dispatched")]).total_seconds()
        for t in ids
        if (t, "in_progress") in first
    ]
    done = [(first[(t, "done")] - first[(t, "in_progress")]).total_seconds() for t in ids if (t, "done") in first]
    assert 15 < statistics.median(dispatch) < 180  # within a minute or so, never all at once
    assert 60 < statistics.median(accept) < 4 * 3600  # minutes to hours
    assert 3600 < statistics.median(done) < 3 * 86400  # hours to days
    assert max(dispatch) > 60 and max(done) > 86400  # some late: the board has breaches
    assert reopened >= 1


async def _assert_calls_and_callbacks(services: Services) -> None:
    calls = await _rows(
        services,
        select(
            m.Call.started_at,
            m.Call.queued_at,
            m.Call.answered_at,
            m.Call.ended_at,
            m.Call.abandoned,
            m.Call.operator_id,
            m.Call.ticket_id,
        ),
    )
    answered = [c for c in calls if c.answered_at is not None]
    abandoned = [c for c in calls if c.abandoned]
    assert answered and abandoned and any(c.ticket_id is None for c in answered)
    assert all(c.operator_id for c in answered)
    waits = [(_aware(c.answered_at) - _aware(c.queued_at)).total_seconds() for c in answered]
    talks = [(_aware(c.ended_at) - _aware(c.answered_at)).total_seconds() for c in answered]
    assert 5 < statistics.median(waits) < 120 and 60 < statistics.median(talks) < 600
    states = Counter(s for (s,) in await _rows(services, select(m.Callback.state)))
    results = Counter(r for (r,) in await _rows(services, select(m.CallbackAttempt.result)))
    assert states["done"] > 0 and states["unreachable"] > 0, states
    assert {"satisfied", "not_satisfied", "busy", "no_answer"} <= set(results), results


async def _assert_names_agree(services: Services) -> None:
    female_surnames = {f for male, f in SURNAMES if male != f}
    male_surnames = {male for male, f in SURNAMES if male != f}
    female_patronymics = {f for _, f in PATRONYMICS.values()}
    male_patronymics = {male for male, _ in PATRONYMICS.values()}
    names = [n for (n,) in await _rows(services, select(m.Citizen.name)) if n]
    assert len(names) > COUNT / 3
    for name in names:
        words = name.split()
        first = next(w for w in words if w in MALE_FIRST or w in FEMALE_FIRST)
        female = first in FEMALE_FIRST
        assert not set(words) & (
            male_surnames | male_patronymics if female else female_surnames | female_patronymics
        ), name
