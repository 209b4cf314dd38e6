"""Open problems as GeoJSON points for the public map (public fields only, bounded).

Every ticket that is open and has a location shows, whatever its channel: a phone ticket
appears as soon as an operator gives it an address. Voice-message drafts wait for an
operator's check first (their category is only a guess).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, false, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.tickets import STATUS_LABELS, Status
from callcenter.portal.duplicates import OPEN_VALUES
from callcenter.portal.geo import CITY, Box, public_coordinate
from callcenter.reference import ReferenceData
from callcenter.store import models as m

DEFAULT_LIMIT = 2000
MAX_LIMIT = 5000
WIDE_BOX = 0.05  # of the city's area


async def map_points(
    sessions: async_sessionmaker[AsyncSession],
    reference: ReferenceData,
    zone: ZoneInfo,
    *,
    box: Box,
    category: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the newest open problems in ``box``.

    ``truncated`` (a foreign member, allowed by RFC 7946) says more points exist than were sent.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    lat, lon = m.Ticket.lat, m.Ticket.lon
    if box.area >= WIDE_BOX * CITY.area:
        # A wide box holds most points: walk the open tickets newest first (the partial index
        # ix_tickets_open_map) and stop at the limit. "+ 0" keeps the planner off the
        # coordinate indexes, which would read every point in the box and then sort them.
        lat, lon = lat + 0, lon + 0
    stmt = (
        select(
            m.Ticket.number, m.Ticket.category_code, m.Ticket.status, m.Ticket.created_at, m.Ticket.lat, m.Ticket.lon
        )
        # Literal values, as in the partial indexes' WHERE, so both databases can use them.
        .where(
            m.Ticket.status.in_(bindparam("open", OPEN_VALUES, expanding=True, literal_execute=True)),
            m.Ticket.is_draft == false(),
            lat.between(box.south, box.north),
            lon.between(box.west, box.east),
        )
        .order_by(m.Ticket.id.desc())
        .limit(limit + 1)
    )
    if category:
        stmt = stmt.where(m.Ticket.category_code == category)
    async with sessions() as session:
        rows = (await session.execute(stmt)).all()
    features = [_feature(row, reference, zone) for row in rows[:limit]]
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > limit}


def _feature(row: Any, reference: ReferenceData, zone: ZoneInfo) -> dict[str, Any]:
    number, code, status, created, lat, lon = row
    status = Status(status)
    name = reference.category(code).name if code and reference.has_category(code) else None
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [public_coordinate(lon), public_coordinate(lat)]},
        "properties": {
            "number": number,
            "category": code,
            "category_name": name,
            "status": status.value,
            "status_label": STATUS_LABELS[status],
            "date": created.astimezone(zone).date().isoformat(),
        },
    }
