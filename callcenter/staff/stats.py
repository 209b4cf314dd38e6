"""Aggregates of the supervisors' board, always over a bounded period of creation dates.

Every query starts from ``tickets.created_at`` in a range, so it walks the covering index
``ix_tickets_created_stats`` (migration 0002) and costs the same at 50,000 or 1,000,000
tickets in the table. Medians use window functions, which SQLite and PostgreSQL share;
only the "seconds between two times" and the "local day" expressions differ by dialect.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, extract, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.tickets import Status
from callcenter.staff.targets import TargetBook
from callcenter.store import models as m

T = TypeVar("T")
WAITING = (Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS)
MEDIAN_STAGES = (Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE, Status.CLOSED)
MAX_PERIOD_DAYS = 366
MEDIAN_SAMPLE = 20_000  # tickets; at the real 1563's volume (4,000 a month) nothing is sampled


@dataclass(frozen=True)
class Period:
    """Local calendar days [start, end], as UTC bounds for the queries."""

    start: date
    end: date
    zone: ZoneInfo

    @property
    def utc_from(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=self.zone).astimezone(UTC)

    @property
    def utc_to(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time(), tzinfo=self.zone).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass(frozen=True)
class Breach:
    number: str
    status: Status
    channel: str
    category: str | None
    department: str | None
    since: datetime
    limit: timedelta


@dataclass(frozen=True)
class BreachReport:
    rows: list[Breach]  # the worst first, at most ``limit``
    total: int


@dataclass(frozen=True)
class Median:
    department: str | None
    stage: Status
    seconds: float
    tickets: int  # how many tickets reached the stage (estimated when sampled)
    sampled: bool = False


class BoardStats:
    """Counts, breaches and chart series for a period; the heavier ones cached for a few seconds."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        targets: TargetBook,
        zone: ZoneInfo,
        *,
        cache_seconds: float = 15.0,
    ) -> None:
        self._sessions = sessions
        self._targets = targets
        self._zone = zone
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def period(self, start: date | None, end: date | None, default_days: int = 30) -> Period:
        """The period to show: the given dates, bounded to a year; the last 30 days by default."""
        today = datetime.now(self._zone).date()
        end = min(end or today, today)
        start = start or end - timedelta(days=default_days - 1)
        start = max(min(start, end), end - timedelta(days=MAX_PERIOD_DAYS - 1))
        return Period(start, end, self._zone)

    async def counts(self, period: Period) -> dict[tuple[str, str], int]:
        """(status, channel) -> tickets created in the period."""
        stmt = (
            select(m.Ticket.status, m.Ticket.channel, func.count())
            .where(*_in_period(period))
            .group_by(m.Ticket.status, m.Ticket.channel)
        )
        async with self._sessions() as session:
            return {(s, c): n for s, c, n in (await session.execute(stmt)).all()}

    async def per_day(self, period: Period, column: str) -> dict[tuple[date, str], int]:
        """(local day, channel or category code) -> tickets created that day."""
        return await self._cached(("per_day", period, column), lambda: self._per_day(period, column))

    async def _per_day(self, period: Period, column: str) -> dict[tuple[date, str], int]:
        key = {"channel": m.Ticket.channel, "category": m.Ticket.category_code}[column]
        async with self._sessions() as session:
            day = _local_day(session, self._zone, period)
            rows = (
                await session.execute(select(day, key, func.count()).where(*_in_period(period)).group_by(day, key))
            ).all()
        return {(_as_date(d), k or ""): n for d, k, n in rows}

    async def breaches(self, period: Period, limit: int = 100) -> BreachReport:
        """Waiting tickets past the target of their stage (dispatch, accept, done), worst first."""
        return await self._cached(("breaches", period, limit), lambda: self._breaches(period, limit))

    async def _breaches(self, period: Period, limit: int) -> BreachReport:
        # The target check, the order and the count run in SQL: a busy period has tens of
        # thousands of waiting tickets, and only the worst few are shown.
        async with self._sessions() as session:
            # MATERIALIZED: the last-change subquery runs once per waiting ticket; inlined, both
            # engines ran it three times (the filter, the order and the output each named it).
            waiting = self._waiting(period).cte("waiting").prefix_with("MATERIALIZED")
            deadline = _epoch(session, waiting.c.since) + waiting.c.allowed
            stmt = (
                select(waiting, func.count().over().label("total"))
                .where(deadline < time.time())
                .order_by(deadline)
                .limit(limit)
            )
            rows = (await session.execute(stmt)).all()
        breaches = [
            Breach(
                r.number,
                Status(r.status),
                r.channel,
                r.category_code,
                r.department_code,
                _aware(r.since),
                timedelta(seconds=float(r.allowed)),
            )
            for r in rows
        ]
        return BreachReport(breaches, rows[0].total if rows else 0)

    def _waiting(self, period: Period) -> Select[Any]:
        """Waiting tickets of the period with their last status change and their stage's target (s)."""
        since = (
            select(func.max(m.TicketEvent.at))
            .where(m.TicketEvent.ticket_id == m.Ticket.id, m.TicketEvent.kind.in_(["created", "status"]))
            .correlate(m.Ticket)
            .scalar_subquery()
        )
        defaults = self._targets.targets(None)
        allowed = case(
            (m.Ticket.status == Status.NEW.value, literal(defaults.dispatch.total_seconds())),
            (
                m.Ticket.status == Status.DISPATCHED.value,
                func.coalesce(m.Category.accept_target_minutes, defaults.accept.total_seconds() / 60) * 60,
            ),
            else_=func.coalesce(m.Category.done_target_hours, defaults.done.total_seconds() / 3600) * 3600,
        )
        return (
            select(
                m.Ticket.number,
                m.Ticket.status,
                m.Ticket.channel,
                m.Ticket.category_code,
                m.Ticket.department_code,
                since.label("since"),
                allowed.label("allowed"),
            )
            .outerjoin(m.Category, m.Category.code == m.Ticket.category_code)
            .where(*_in_period(period), m.Ticket.status.in_([s.value for s in WAITING]))
        )

    async def medians(self, period: Period) -> list[Median]:
        """Median time from creation to the first time each stage was reached, per department."""
        return await self._cached(("medians", period), lambda: self._medians(period))

    async def _medians(self, period: Period) -> list[Median]:
        async with self._sessions() as session:
            # The covering index gives the count and the period's id range; the events are then
            # read by their (ticket_id, at) index over that range. Without the range PostgreSQL
            # scanned every status event of the table (88 ms -> 25 ms at 100,000 tickets).
            tickets, low, high = (
                await session.execute(
                    select(func.count(), func.min(m.Ticket.id), func.max(m.Ticket.id)).where(*_in_period(period))
                )
            ).one()
            if not tickets:
                return []
            # Past MEDIAN_SAMPLE tickets, every k-th id stands for the period: ids carry no
            # department or category, so the sample is fair and the medians barely move.
            step = max(1, math.ceil(tickets / MEDIAN_SAMPLE))
            sampled = [m.Ticket.id % step == 0] if step > 1 else []
            # One pass: the first time each ticket reached each stage, grouped by the ticket's
            # key alone (its department and creation time ride along: PostgreSQL knows them from
            # the primary key, SQLite takes them from the group's rows, all equal). The medians
            # are taken here rather than by two window functions over a second sort, which cost
            # more than the scan itself (80 ms -> 25 ms at 4,000 tickets, SQLite).
            firsts = (
                select(
                    m.Ticket.department_code.label("dep"),
                    m.TicketEvent.to_status.label("stage"),
                    _seconds(session, func.min(m.TicketEvent.at), m.Ticket.created_at).label("secs"),
                )
                .join(m.TicketEvent, m.TicketEvent.ticket_id == m.Ticket.id)
                .where(
                    *_in_period(period),
                    *sampled,
                    m.TicketEvent.ticket_id.between(low, high),
                    m.TicketEvent.kind == "status",
                    m.TicketEvent.to_status.in_([s.value for s in MEDIAN_STAGES]),
                )
                .group_by(m.Ticket.id, m.TicketEvent.to_status)
            )
            connection = await session.connection()  # Core rows: the ORM's row building cost 2 µs a row
            if session.bind.dialect.name == "postgresql":
                inner = firsts.subquery()
                rows = (
                    await connection.execute(
                        select(
                            inner.c.dep,
                            inner.c.stage,
                            func.percentile_cont(0.5).within_group(inner.c.secs),
                            func.count(),
                        ).group_by(inner.c.dep, inner.c.stage)
                    )
                ).all()
                medians = [(dep, stage, float(secs), int(n)) for dep, stage, secs, n in rows]
            else:
                groups: dict[tuple[str | None, str], list[float]] = defaultdict(list)
                for dep, stage, secs in (await connection.execute(firsts)).all():
                    groups[(dep, stage)].append(secs)
                medians = [(dep, stage, statistics.median(v), len(v)) for (dep, stage), v in groups.items()]
        return [Median(dep, Status(stage), secs, n * step, sampled=step > 1) for dep, stage, secs, n in medians]

    async def _cached(self, key: tuple[Any, ...], compute: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[no-any-return]
        value = await compute()
        if len(self._cache) > 64:  # periods people pick are few; drop everything rather than track age
            self._cache.clear()
        self._cache[key] = (now + self._cache_seconds, value)
        return value

    def forget(self) -> None:
        self._cache.clear()


def _in_period(period: Period) -> list[ColumnElement[bool]]:
    return [m.Ticket.created_at >= period.utc_from, m.Ticket.created_at < period.utc_to]


def _local_day(session: AsyncSession, zone: ZoneInfo, period: Period) -> ColumnElement[Any]:
    if session.bind.dialect.name == "postgresql":
        return func.date(func.timezone(zone.key, m.Ticket.created_at))
    # SQLite keeps naive UTC text; shift by the zone's offset in the period (Simferopol has no DST).
    offset = int(period.utc_to.astimezone(zone).utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    return func.date(m.Ticket.created_at, f"{offset:+d} minutes")


def _seconds(session: AsyncSession, later: ColumnElement[Any], earlier: ColumnElement[Any]) -> ColumnElement[Any]:
    if session.bind.dialect.name == "postgresql":
        return func.date_part("epoch", later - earlier)  # double precision (extract gives numeric)
    return (func.julianday(later) - func.julianday(earlier)) * literal_column("86400.0")


def _epoch(session: AsyncSession, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """Seconds since 1970 of a stored UTC time."""
    if session.bind.dialect.name == "postgresql":
        return extract("epoch", value)
    return (func.julianday(value) - literal_column("2440587.5")) * literal_column("86400.0")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def series(points: dict[tuple[date, str], int], days: list[date], keys: list[str]) -> dict[str, list[int]]:
    """Per key, one count per day (zeros filled in), in ``days`` order."""
    table: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    index = {d: i for i, d in enumerate(days)}
    for (day, key), n in points.items():
        if day in index and key in keys:
            table[key][index[day]] += n
    return {k: table[k] for k in keys}
