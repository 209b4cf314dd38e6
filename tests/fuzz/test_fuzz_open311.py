"""Fuzz: Open311 query parameters give a query or a GeoReport error (Open311Error), never anything else."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from callcenter.config import load_settings
from callcenter.open311.service import Open311Error, Open311Service
from callcenter.reference import load_reference

NAMES = [
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "extended_status",
    "page",
    "page_size",
    "jurisdiction_id",
    "lat",
    "long",
    "radius",
]
value = st.one_of(
    st.text(max_size=40),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["1e18", "0001-01-01", "²", "-1", "open,closed", "9999-12-31T23:59:59Z", "\x00", ""]),
)
params = st.dictionaries(st.sampled_from(NAMES), value, max_size=6)


@cache
def _service() -> Open311Service:
    settings = load_settings(environ={}, overrides={"database_url": "sqlite+aiosqlite:///unused.db"})
    return Open311Service(settings, None, None, load_reference(), None)  # type: ignore[arg-type]


@given(params)
def test_any_query_parses_or_is_a_georeport_400(query: dict[str, str]) -> None:
    try:
        parsed = _service().parse_query(query, now=datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    except Open311Error as err:
        # 400 for a bad value, 404 for another jurisdiction: both GeoReport errors with a description.
        assert err.status in (400, 404) and err.descriptions
        return
    assert parsed is not None
