"""Small geometry for the public map and duplicate search: distances, boxes, rounding."""

from __future__ import annotations

import math
from dataclasses import dataclass

from callcenter.reference.loader import LAT_RANGE, LON_RANGE

EARTH_RADIUS_M = 6_371_008.8
# Public coordinates are rounded to 4 decimals (about 10 m): enough to find a pothole,
# not a door.
PUBLIC_DECIMALS = 4


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude rectangle (south, west, north, east)."""

    south: float
    west: float
    north: float
    east: float

    @classmethod
    def around(cls, lat: float, lon: float, radius_m: float) -> Box:
        """The smallest box that holds every point within ``radius_m`` of (lat, lon)."""
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        return cls(lat - dlat, lon - dlon, lat + dlat, lon + dlon)

    def clipped(self, other: Box) -> Box:
        return Box(
            max(self.south, other.south),
            max(self.west, other.west),
            min(self.north, other.north),
            min(self.east, other.east),
        )

    @property
    def area(self) -> float:
        """In square degrees: only for comparing boxes with each other."""
        return max(0.0, self.north - self.south) * max(0.0, self.east - self.west)

    @property
    def empty(self) -> bool:
        return self.south > self.north or self.west > self.east


# Sevastopol with Balaklava, Inkerman, Kacha, Orlinoe and Foros (the gazetteer's bounds).
CITY = Box(LAT_RANGE[0], LON_RANGE[0], LAT_RANGE[1], LON_RANGE[1])


def in_city(lat: float, lon: float) -> bool:
    return CITY.south <= lat <= CITY.north and CITY.west <= lon <= CITY.east


def public_coordinate(value: float) -> float:
    return round(value, PUBLIC_DECIMALS)


def parse_bbox(raw: str) -> Box:
    """``west,south,east,north`` (the order of GeoJSON and Leaflet's toBBoxString); ValueError if bad."""
    parts = [float(p) for p in raw.split(",")]
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise ValueError("bbox needs four numbers")
    west, south, east, north = parts
    if not (-90 <= south <= north <= 90 and -180 <= west <= east <= 180):
        raise ValueError("bbox corners are out of order or range")
    return Box(south, west, north, east)
