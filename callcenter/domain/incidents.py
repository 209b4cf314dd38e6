"""Outage incidents as pure logic: statuses, areas, and whether a place falls inside one.

An incident (a known outage: no water in a district, no power on a few streets) has an area
made of any of: whole districts; streets with house ranges; circles and polygons drawn on the
map. A place is inside when any part of the area holds it. Places come from tickets: a street
and house (matched by street name and house number), a district, and a point (lat/lon, from
the map or the gazetteer's street centre). Nothing here does I/O.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.domain.errors import IllegalTransition, ValidationError

EARTH_RADIUS_M = 6_371_000.0
MAX_RADIUS_M = 50_000.0
MAX_POLYGON_POINTS = 500
MAX_AREA_PARTS = 500
MAX_PUBLIC_TEXT = 1000


class IncidentStatus(enum.StrEnum):
    ACTIVE = "active"
    RESTORED = "restored"
    CANCELLED = "cancelled"


INCIDENT_STATUS_LABELS: dict[IncidentStatus, str] = {
    IncidentStatus.ACTIVE: "Действует",
    IncidentStatus.RESTORED: "Устранено",
    IncidentStatus.CANCELLED: "Отменено",
}

_MOVES = {
    (IncidentStatus.ACTIVE, IncidentStatus.RESTORED),
    (IncidentStatus.ACTIVE, IncidentStatus.CANCELLED),
}


def check_incident_move(current: IncidentStatus, to: IncidentStatus) -> None:
    """Refuse a move the lifecycle does not allow (active -> restored | cancelled only)."""
    if (current, to) not in _MOVES:
        raise IllegalTransition(
            f"Аварию нельзя перевести из «{INCIDENT_STATUS_LABELS[current]}» в «{INCIDENT_STATUS_LABELS[to]}»",
            details={"from": current.value, "to": to.value},
        )


# ----------------------------------------------------------------------------- houses

_HOUSE_RE = re.compile(r"^\s*(\d{1,5})")
_RANGE_RE = re.compile(r"^\s*(\d{1,5})\s*[-–—]\s*(\d{1,5})\s*$")
_SINGLE_RE = re.compile(r"^\s*(\d{1,5})\s*[а-яёa-z]?\s*(?:[/кк]\s*\d+)?\s*$", re.IGNORECASE)


def house_number(house: str | None) -> int | None:
    """The leading number of a house: "5а" -> 5, "12/2" -> 12, "к3" -> None."""
    if not house:
        return None
    match = _HOUSE_RE.match(house)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class HouseRange:
    """Houses ``low``..``high`` inclusive; ``parity`` "even"/"odd" keeps one side of the street."""

    low: int
    high: int
    parity: str | None = None

    def holds(self, number: int) -> bool:
        if not self.low <= number <= self.high:
            return False
        if self.parity == "even":
            return number % 2 == 0
        if self.parity == "odd":
            return number % 2 == 1
        return True

    def text(self) -> str:
        side = {"even": "чётные ", "odd": "нечётные "}.get(self.parity or "", "")
        return f"{side}{self.low}" if self.low == self.high else f"{side}{self.low}–{self.high}"


def parse_houses(text: str | None) -> tuple[HouseRange, ...]:
    """ "1-15, 17, 20-30" -> ranges; "" or "все" -> () meaning the whole street.

    A leading "чётные"/"нечётные" keeps one side. Bad text raises ValidationError naming it.
    """
    text = (text or "").strip().lower()
    if text in ("", "все", "всё", "*", "all"):
        return ()
    parity = None
    for word, value in (("нечётные", "odd"), ("нечетные", "odd"), ("чётные", "even"), ("четные", "even")):
        if text.startswith(word):
            parity, text = value, text[len(word) :].strip(" :")
            break
    ranges = []
    for part in re.split(r"[,;]", text):
        if not part.strip():
            continue
        if m := _RANGE_RE.match(part):
            low, high = int(m.group(1)), int(m.group(2))
            if low > high:
                low, high = high, low
        elif m := _SINGLE_RE.match(part):
            low = high = int(m.group(1))
        else:
            raise ValidationError(
                f"Дома «{part.strip()}»: укажите номера или диапазоны, например «1-15, 17»", field="houses"
            )
        ranges.append(HouseRange(low, high, parity))
    if not ranges:
        raise ValidationError("Укажите дома, например «1-15, 17», или оставьте пустым для всей улицы", field="houses")
    return tuple(ranges)


# ----------------------------------------------------------------------------- geometry


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def point_in_polygon(lat: float, lon: float, points: Sequence[tuple[float, float]]) -> bool:
    """Ray casting on (lat, lon) as plane coordinates (fine at city scale); edges count as inside."""
    inside = False
    n = len(points)
    for i in range(n):
        (y1, x1), (y2, x2) = points[i], points[(i + 1) % n]
        if _on_segment(lat, lon, y1, x1, y2, x2):
            return True
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def _on_segment(y: float, x: float, y1: float, x1: float, y2: float, x2: float) -> bool:
    cross = (x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= x <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= y <= max(y1, y2) + 1e-12


# ----------------------------------------------------------------------------- areas


def street_key(name: str) -> str:
    """How street names are compared: lower case, ё as е, single spaces."""
    return " ".join(name.lower().replace("ё", "е").split())


@dataclass(frozen=True)
class StreetPart:
    street: str  # the gazetteer's full name, e.g. "улица Ленина"
    houses: tuple[HouseRange, ...] = ()  # () = the whole street

    def holds(self, street: str | None, house: str | None) -> bool:
        if not street or street_key(street) != street_key(self.street):
            return False
        if not self.houses:
            return True
        number = house_number(house)
        return number is not None and any(r.holds(number) for r in self.houses)

    def text(self) -> str:
        if not self.houses:
            return self.street
        return f"{self.street}, д. " + ", ".join(r.text() for r in self.houses)


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def holds(self, lat: float, lon: float) -> bool:
        return distance_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]

    def holds(self, lat: float, lon: float) -> bool:
        return point_in_polygon(lat, lon, self.points)


@dataclass(frozen=True)
class Place:
    """Where a ticket (or a caller's earlier ticket) is: any of these may be unknown."""

    street: str | None = None
    house: str | None = None
    district: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Area:
    """The union of districts, street parts, circles and polygons."""

    districts: frozenset[str] = frozenset()
    streets: tuple[StreetPart, ...] = ()
    circles: tuple[Circle, ...] = ()
    polygons: tuple[Polygon, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.districts or self.streets or self.circles or self.polygons)

    def contains_point(self, lat: float, lon: float) -> bool:
        return any(c.holds(lat, lon) for c in self.circles) or any(p.holds(lat, lon) for p in self.polygons)

    def contains(self, place: Place) -> bool:
        """A place is inside when its district, its street and house, or its point is."""
        if place.district and place.district in self.districts:
            return True
        if any(s.holds(place.street, place.house) for s in self.streets):
            return True
        if place.lat is not None and place.lon is not None:
            return self.contains_point(place.lat, place.lon)
        return False

    def districts_touched(self, street_districts: Mapping[str, str]) -> frozenset[str]:
        """Districts named, plus those of the streets (``street_districts``: street key -> district)."""
        found = set(self.districts)
        for part in self.streets:
            district = street_districts.get(street_key(part.street))
            if district:
                found.add(district)
        return frozenset(found)

    def describe(self) -> str:
        """Russian text of the area for staff and the portal."""
        parts = []
        if self.districts:
            parts.append(", ".join(f"{d} район" for d in sorted(self.districts)))
        parts.extend(s.text() for s in self.streets)
        if self.circles:
            parts.append(f"круг на карте ({len(self.circles)})")
        if self.polygons:
            parts.append(f"область на карте ({len(self.polygons)})")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "districts": sorted(self.districts),
            "streets": [
                {"street": s.street, "houses": [[r.low, r.high, r.parity] for r in s.houses]} for s in self.streets
            ],
            "circles": [{"lat": c.lat, "lon": c.lon, "radius_m": c.radius_m} for c in self.circles],
            "polygons": [[[lat, lon] for lat, lon in p.points] for p in self.polygons],
        }


def _coordinate(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{what}: нужно число", field="area")
    if not low <= value <= high:
        raise ValidationError(f"{what} {value} вне допустимого диапазона", field="area")
    return float(value)


def area_from_json(data: Any, known_districts: Iterable[str] | None = None) -> Area:
    """Read an area (as :meth:`Area.to_json` writes it, or as the map editor posts it); bad input
    raises ValidationError naming the part."""
    if not isinstance(data, dict):
        raise ValidationError("Область аварии: ожидается объект", field="area")
    unknown = set(data) - {"districts", "streets", "circles", "polygons"}
    if unknown:
        raise ValidationError(f"Область аварии: неизвестные части {sorted(unknown)}", field="area")
    lists = {k: data.get(k) or [] for k in ("districts", "streets", "circles", "polygons")}
    for key, value in lists.items():
        if not isinstance(value, list):
            raise ValidationError(f"Область аварии: «{key}» должен быть списком", field="area")
    if sum(len(v) for v in lists.values()) > MAX_AREA_PARTS:
        raise ValidationError(f"Область аварии: больше {MAX_AREA_PARTS} частей", field="area")
    known = set(known_districts) if known_districts is not None else None
    districts = set()
    for d in lists["districts"]:
        if not isinstance(d, str) or (known is not None and d not in known):
            raise ValidationError(f"Неизвестный район «{d}»", field="area")
        districts.add(d)
    streets = []
    for s in lists["streets"]:
        if not isinstance(s, dict) or not isinstance(s.get("street"), str) or not s["street"].strip():
            raise ValidationError("Улица в области аварии: нужно название", field="area")
        houses = s.get("houses") or []
        if isinstance(houses, str):
            ranges = parse_houses(houses)
        elif isinstance(houses, list):
            ranges = tuple(_house_range(h) for h in houses)
        else:
            raise ValidationError("Дома: текст или список диапазонов", field="area")
        streets.append(StreetPart(s["street"].strip(), ranges))
    circles = []
    for c in lists["circles"]:
        if not isinstance(c, dict):
            raise ValidationError("Круг: нужны lat, lon, radius_m", field="area")
        circles.append(
            Circle(
                _coordinate(c.get("lat"), -90, 90, "Широта"),
                _coordinate(c.get("lon"), -180, 180, "Долгота"),
                _coordinate(c.get("radius_m"), 1, MAX_RADIUS_M, "Радиус, м"),
            )
        )
    polygons = []
    for p in lists["polygons"]:
        if not isinstance(p, list) or not 3 <= len(p) <= MAX_POLYGON_POINTS:
            raise ValidationError(f"Многоугольник: от 3 до {MAX_POLYGON_POINTS} точек", field="area")
        points = []
        for point in p:
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                raise ValidationError("Точка многоугольника: [широта, долгота]", field="area")
            points.append((_coordinate(point[0], -90, 90, "Широта"), _coordinate(point[1], -180, 180, "Долгота")))
        polygons.append(Polygon(tuple(points)))
    return Area(frozenset(districts), tuple(streets), tuple(circles), tuple(polygons))


def _house_range(value: Any) -> HouseRange:
    if isinstance(value, list) and len(value) in (2, 3):
        low, high = value[0], value[1]
        parity = value[2] if len(value) == 3 else None
        if (
            isinstance(low, int)
            and isinstance(high, int)
            and not isinstance(low, bool)
            and 0 <= low <= high < 100_000
            and parity in (None, "even", "odd")
        ):
            return HouseRange(low, high, parity)
    raise ValidationError(f"Диапазон домов {value!r}: нужно [от, до]", field="area")


# ----------------------------------------------------------------------------- incidents


@dataclass(frozen=True)
class IncidentFacts:
    """What matching needs to know of an incident."""

    id: int
    category: str
    area: Area
    status: IncidentStatus
    starts_at: datetime
    expected_at: datetime | None = None


def active_incidents_at(
    incidents: Iterable[IncidentFacts], place: Place, now: datetime, category: str | None = None
) -> list[IncidentFacts]:
    """Active incidents that have started and whose area holds the place (optionally one category)."""
    return [
        i
        for i in incidents
        if i.status is IncidentStatus.ACTIVE
        and i.starts_at <= now
        and (category is None or i.category == category)
        and i.area.contains(place)
    ]


def check_times(starts_at: datetime, expected_at: datetime | None) -> None:
    if expected_at is not None and expected_at <= starts_at:
        raise ValidationError("Ожидаемое время восстановления должно быть позже начала", field="expected_at")
    if expected_at is not None and expected_at - starts_at > timedelta(days=60):
        raise ValidationError("Ожидаемое время восстановления: не дальше 60 дней от начала", field="expected_at")


@dataclass(frozen=True)
class SpokenTime:
    """How the IVR says the expected restoration: hours and minutes, and the day when not today."""

    hour: int
    minute: int
    day: str  # "today", "tomorrow", "later"
    date_text: str = field(default="")

    @property
    def text(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def spoken_time(expected_at: datetime, now: datetime, zone: ZoneInfo) -> SpokenTime:
    """The expected restoration in local time, relative to ``now``."""
    local, today = expected_at.astimezone(zone), now.astimezone(zone).date()
    days = (local.date() - today).days
    day = "today" if days <= 0 else "tomorrow" if days == 1 else "later"
    return SpokenTime(local.hour, local.minute, day, f"{local:%d.%m}")
