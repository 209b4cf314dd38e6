"""Incident areas (pure domain): districts, streets with house ranges, circles, polygons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.domain.errors import IllegalTransition, ValidationError
from callcenter.domain.incidents import (
    Area,
    Circle,
    HouseRange,
    IncidentFacts,
    IncidentStatus,
    Place,
    Polygon,
    StreetPart,
    active_incidents_at,
    area_from_json,
    check_incident_move,
    distance_m,
    house_number,
    parse_houses,
    point_in_polygon,
    spoken_time,
)

ZONE = ZoneInfo("Europe/Simferopol")
LENINA = "улица Ленина"


def test_house_numbers_take_the_leading_number() -> None:
    assert [house_number(h) for h in ("5", "5а", "12/2", "7к1", "", None, "к3")] == [5, 5, 12, 7, None, None, None]


def test_parse_houses_ranges_singles_and_parity() -> None:
    assert parse_houses("1-15, 17; 30–20") == (HouseRange(1, 15), HouseRange(17, 17), HouseRange(20, 30))
    assert parse_houses("") == () and parse_houses("все") == ()
    even = parse_houses("чётные 2-10")
    assert [n for n in range(0, 13) if any(r.holds(n) for r in even)] == [2, 4, 6, 8, 10]
    with pytest.raises(ValidationError, match="«дом"):
        parse_houses("1-5, дом")


def test_street_with_house_ranges() -> None:
    area = Area(streets=(StreetPart(LENINA, parse_houses("1-15, 21")),))
    assert area.contains(Place(street="улица Ленина", house="5а"))
    assert area.contains(Place(street="Улица  ЛЕНИНА", house="21"))
    assert not area.contains(Place(street=LENINA, house="17"))
    assert not area.contains(Place(street=LENINA))  # no house: cannot say it is in a range
    assert not area.contains(Place(street="улица Пушкина", house="5"))
    assert Area(streets=(StreetPart(LENINA),)).contains(Place(street=LENINA))  # the whole street


def test_district() -> None:
    area = Area(districts=frozenset({"Ленинский"}))
    assert area.contains(Place(district="Ленинский"))
    assert not area.contains(Place(district="Гагаринский", lat=44.6, lon=33.5))


def test_circle_by_distance() -> None:
    # 0.01 degree of latitude is about 1112 m
    assert distance_m(44.60, 33.52, 44.61, 33.52) == pytest.approx(1112, abs=2)
    area = Area(circles=(Circle(44.60, 33.52, 1200),))
    assert area.contains(Place(lat=44.61, lon=33.52))
    assert not area.contains(Place(lat=44.615, lon=33.52))
    assert not area.contains(Place(street=LENINA, house="1"))  # no point, no street part


def test_polygon_inside_outside_edge_and_concave() -> None:
    # an L shape: the notch (0.5..1, 0.5..1) is outside
    shape = ((0.0, 0.0), (0.0, 1.0), (0.5, 1.0), (0.5, 0.5), (1.0, 0.5), (1.0, 0.0))
    assert point_in_polygon(0.25, 0.75, shape)
    assert point_in_polygon(0.75, 0.25, shape)
    assert not point_in_polygon(0.75, 0.75, shape)
    assert point_in_polygon(0.0, 0.5, shape)  # on an edge
    assert point_in_polygon(0.5, 0.5, shape)  # on the inner corner
    assert not point_in_polygon(1.5, 0.25, shape)
    assert Area(polygons=(Polygon(shape),)).contains(Place(lat=0.25, lon=0.25))


def test_union_of_parts() -> None:
    area = Area(districts=frozenset({"Балаклавский"}), streets=(StreetPart(LENINA, parse_houses("1-3")),))
    assert area.contains(Place(district="Балаклавский"))
    assert area.contains(Place(street=LENINA, house="2", district="Ленинский"))
    assert not area.contains(Place(street=LENINA, house="4", district="Ленинский"))


def test_area_json_round_trip_and_errors() -> None:
    area = Area(
        districts=frozenset({"Ленинский"}),
        streets=(StreetPart(LENINA, (HouseRange(1, 15, "odd"),)),),
        circles=(Circle(44.6, 33.5, 300),),
        polygons=(Polygon(((44.6, 33.5), (44.61, 33.5), (44.61, 33.51))),),
    )
    assert area_from_json(area.to_json()) == area
    assert area_from_json({"streets": [{"street": LENINA, "houses": "1-3"}]}).streets[0].houses == (HouseRange(1, 3),)
    for bad, words in (
        ([], "объект"),
        ({"districts": ["Марс"]}, "Марс"),
        ({"circles": [{"lat": 44.6, "lon": 33.5, "radius_m": 0}]}, "Радиус"),
        ({"circles": [{"lat": "x", "lon": 33.5, "radius_m": 10}]}, "Широта"),
        ({"polygons": [[[44.6, 33.5], [44.7, 33.5]]]}, "от 3"),
        ({"shape": []}, "неизвестные"),
        ({"streets": [{"street": LENINA, "houses": [[5, 1]]}]}, "Диапазон"),
    ):
        with pytest.raises(ValidationError, match=words):
            area_from_json(bad, known_districts=("Ленинский",))


def test_active_incidents_at_place_and_category() -> None:
    now = datetime(2026, 12, 6, 10, tzinfo=UTC)
    area = Area(districts=frozenset({"Ленинский"}))
    incidents = [
        IncidentFacts(1, "no_water", area, IncidentStatus.ACTIVE, now - timedelta(hours=1)),
        IncidentFacts(2, "no_electricity", area, IncidentStatus.ACTIVE, now - timedelta(hours=1)),
        IncidentFacts(3, "no_water", area, IncidentStatus.RESTORED, now - timedelta(hours=1)),
        IncidentFacts(4, "no_water", area, IncidentStatus.ACTIVE, now + timedelta(hours=1)),  # planned, not yet
    ]
    place = Place(district="Ленинский")
    assert [i.id for i in active_incidents_at(incidents, place, now)] == [1, 2]
    assert [i.id for i in active_incidents_at(incidents, place, now, "no_water")] == [1]
    assert active_incidents_at(incidents, Place(district="Гагаринский"), now) == []


def test_incident_moves() -> None:
    check_incident_move(IncidentStatus.ACTIVE, IncidentStatus.RESTORED)
    check_incident_move(IncidentStatus.ACTIVE, IncidentStatus.CANCELLED)
    with pytest.raises(IllegalTransition):
        check_incident_move(IncidentStatus.RESTORED, IncidentStatus.ACTIVE)
    with pytest.raises(IllegalTransition):
        check_incident_move(IncidentStatus.RESTORED, IncidentStatus.RESTORED)


def test_spoken_time_local_and_day() -> None:
    now = datetime(2026, 12, 6, 10, tzinfo=UTC)  # 13:00 in Simferopol
    today = spoken_time(datetime(2026, 12, 6, 15, 30, tzinfo=UTC), now, ZONE)
    assert (today.text, today.day) == ("18:30", "today")
    assert spoken_time(datetime(2026, 12, 7, 5, 0, tzinfo=UTC), now, ZONE).day == "tomorrow"
    later = spoken_time(datetime(2026, 12, 9, 5, 0, tzinfo=UTC), now, ZONE)
    assert (later.day, later.date_text) == ("later", "09.12")
