"""Finding tickets that may describe the same problem, and the reports linked to an original.

A candidate is an open ticket of the same category within 100 m (haversine, after a
latitude/longitude box prefilter that the ``ix_tickets_category_lat_lon`` index answers)
or at the same street and house. Only public fields leave this module: number, category,
status, date, distance. An operator links a real duplicate with
``TicketService.move(number, Status.REJECTED, actor, duplicate_of=original)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.tickets import OPEN_STATUSES, STATUS_LABELS, Status
from callcenter.portal.geo import Box, haversine_m
from callcenter.reference import ReferenceData
from callcenter.store import models as m

OPEN_VALUES = sorted(s.value for s in OPEN_STATUSES)
# How many rows the box may hold before the distance check; a 200 m square in the city
# centre holds a handful of open tickets of one category, so this is a safety bound only.
PREFILTER_LIMIT = 500


@dataclass(frozen=True)
class DuplicateCandidate:
    """An open ticket that may be the same problem (public fields only)."""

    number: str
    category: str | None
    category_name: str | None
    status: Status
    created_at: datetime
    distance_m: float | None  # None when found by address alone (no point on either side)
    same_address: bool
    address: str = ""  # for staff only (the live pop): never in :meth:`as_json`
    lat: float | None = None  # for staff only (the pop's small map): never in :meth:`as_json`
    lon: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "category": self.category,
            "category_name": self.category_name,
            "status": self.status.value,
            "status_label": STATUS_LABELS[self.status],
            "created_at": self.created_at.isoformat(),
            "distance_m": round(self.distance_m) if self.distance_m is not None else None,
            "same_address": self.same_address,
        }


@dataclass(frozen=True)
class DuplicateReport:
    """A ticket rejected as a duplicate of another: whom to call back when the original is done."""

    ticket_id: int
    number: str
    citizen_id: int | None
    phone: str | None
    status: Status


class DuplicateFinder:
    """Open tickets of one category near a point or at an address."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reference: ReferenceData,
        *,
        radius_m: float = 100.0,
        limit: int = 10,
    ) -> None:
        self._sessions = sessions
        self._reference = reference
        self.radius_m = radius_m
        self.limit = limit

    async def find(
        self,
        category: str,
        *,
        lat: float | None = None,
        lon: float | None = None,
        street: str | None = None,
        house: str | None = None,
        exclude_number: str | None = None,
    ) -> list[DuplicateCandidate]:
        """Nearest first, then same-address matches without a point; at most ``limit``."""
        found: dict[str, DuplicateCandidate] = {}
        async with self._sessions() as session:
            if lat is not None and lon is not None:
                for row in await self._near(session, category, lat, lon):
                    found[row.number] = row
            if street and house:
                for row in await self._same_address(session, category, street, house, lat, lon):
                    previous = found.get(row.number)
                    found[row.number] = row if previous is None else _merge(previous)
        found.pop(exclude_number or "", None)
        ordered = sorted(found.values(), key=lambda c: (c.distance_m is None, c.distance_m or 0.0, c.number))
        return ordered[: self.limit]

    async def _near(self, session: AsyncSession, category: str, lat: float, lon: float) -> list[DuplicateCandidate]:
        box = Box.around(lat, lon, self.radius_m)
        rows = (
            await session.execute(
                select(
                    m.Ticket.number,
                    m.Ticket.category_code,
                    m.Ticket.status,
                    m.Ticket.created_at,
                    m.Ticket.lat,
                    m.Ticket.lon,
                    m.Ticket.address,
                )
                .where(
                    m.Ticket.category_code == category,
                    m.Ticket.lat.between(box.south, box.north),
                    m.Ticket.lon.between(box.west, box.east),
                    m.Ticket.status.in_(OPEN_VALUES),
                )
                .limit(PREFILTER_LIMIT)
            )
        ).all()
        result = []
        for number, code, status, created, t_lat, t_lon, address in rows:
            distance = haversine_m(lat, lon, t_lat, t_lon)
            if distance <= self.radius_m:
                result.append(self._candidate(number, code, status, created, distance, False, address, t_lat, t_lon))
        return result

    async def _same_address(
        self, session: AsyncSession, category: str, street: str, house: str, lat: float | None, lon: float | None
    ) -> list[DuplicateCandidate]:
        rows = (
            await session.execute(
                select(
                    m.Ticket.number,
                    m.Ticket.category_code,
                    m.Ticket.status,
                    m.Ticket.created_at,
                    m.Ticket.lat,
                    m.Ticket.lon,
                    m.Ticket.address,
                )
                .where(
                    m.Ticket.street == street,
                    m.Ticket.house.in_(_house_spellings(house)),
                    m.Ticket.category_code == category,
                    m.Ticket.status.in_(OPEN_VALUES),
                )
                .order_by(m.Ticket.id.desc())
                .limit(self.limit)
            )
        ).all()
        result = []
        for number, code, status, created, t_lat, t_lon, address in rows:
            distance = None
            if lat is not None and lon is not None and t_lat is not None and t_lon is not None:
                distance = haversine_m(lat, lon, t_lat, t_lon)
            result.append(self._candidate(number, code, status, created, distance, True, address, t_lat, t_lon))
        return result

    def _candidate(
        self,
        number: str,
        code: str | None,
        status: str,
        created: datetime,
        distance: float | None,
        same_address: bool,
        address: str | None,
        lat: float | None,
        lon: float | None,
    ) -> DuplicateCandidate:
        name = self._reference.category(code).name if code and self._reference.has_category(code) else None
        return DuplicateCandidate(
            number, code, name, Status(status), created, distance, same_address, address or "", lat, lon
        )


def _house_spellings(house: str) -> list[str]:
    # "5а" and "5А": SQLite's lower() folds ASCII only, so list the spellings instead.
    text = house.strip()
    return sorted({text, text.lower(), text.upper()})


def _merge(near: DuplicateCandidate) -> DuplicateCandidate:
    return DuplicateCandidate(
        near.number,
        near.category,
        near.category_name,
        near.status,
        near.created_at,
        near.distance_m,
        True,
        near.address,
        near.lat,
        near.lon,
    )


class NearbyOpenTickets:
    """The duplicates search for a live transcript's suggestion (the AudioSocket feature calls
    it with the suggestion's dict): open tickets of the suggested category near its point or
    at its street and house, as the staff pop shows them (with address and a staff link)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], reference: ReferenceData, *, limit: int = 5) -> None:
        self._finder = DuplicateFinder(sessions, reference, limit=limit)
        self._reference = reference

    async def __call__(self, suggestion: Mapping[str, Any]) -> list[dict[str, Any]]:
        category = suggestion.get("category")
        if not category or not self._reference.has_category(str(category)):
            return []
        lat, lon = suggestion.get("lat"), suggestion.get("lon")
        street, house = suggestion.get("street"), suggestion.get("house")
        if (lat is None or lon is None) and not (street and house):
            return []  # no place yet: every open ticket of the category is no help
        found = await self._finder.find(
            str(category),
            lat=float(lat) if lat is not None and lon is not None else None,
            lon=float(lon) if lat is not None and lon is not None else None,
            street=str(street) if street else None,
            house=str(house) if house else None,
        )
        return [_staff_json(c) for c in found]


def _staff_json(candidate: DuplicateCandidate) -> dict[str, Any]:
    return {
        "number": candidate.number,
        "url": f"/staff/tickets/{candidate.number}",
        "category": candidate.category,
        "category_name": candidate.category_name,
        "address": candidate.address[:200],
        "status": candidate.status.value,
        "status_label": STATUS_LABELS[candidate.status],
        "distance_m": round(candidate.distance_m) if candidate.distance_m is not None else None,
        "same_address": candidate.same_address,
        "lat": candidate.lat,  # the pop's small map puts a marker there
        "lon": candidate.lon,
    }


async def duplicates_of(sessions: async_sessionmaker[AsyncSession], ticket_id: int) -> list[DuplicateReport]:
    """Tickets linked to ``ticket_id`` as its duplicates, with the reporter's phone.

    For the callback planner: everyone who reported a duplicate is called back too when the
    original is done.
    """
    async with sessions() as session:
        rows = (
            await session.execute(
                select(m.Ticket.id, m.Ticket.number, m.Ticket.citizen_id, m.Citizen.phone, m.Ticket.status)
                .outerjoin(m.Citizen, m.Citizen.id == m.Ticket.citizen_id)
                .where(m.Ticket.duplicate_of_id == ticket_id)
                .order_by(m.Ticket.id)
            )
        ).all()
    return [
        DuplicateReport(tid, number, citizen_id, phone, Status(status))
        for tid, number, citizen_id, phone, status in rows
    ]
