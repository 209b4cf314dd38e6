"""Planned-outage lists from the utilities: CSV or JSON, one row per street (docs/incidents.md).

CSV (UTF-8, header row, ``,`` or ``;``): ``street,houses,from,to,reason[,category][,ref]``::

    street,houses,from,to,reason,category,ref
    ул. Ленина,1-15; 17,2026-12-06 09:00,2026-12-06 18:30,Замена задвижки,no_water,VK-118

JSON: a list of objects with the same keys (or ``{"outages": [...]}``). ``from``/``to`` are local
times (Europe/Simferopol) ``YYYY-MM-DD HH:MM`` or ISO 8601 with an offset. Rows with the same
``ref`` (or, without one, the same reason, from, to and category) make one incident whose area
is all their streets. Every problem is reported with its row; nothing is imported from a file
with problems.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.incidents import Area, StreetPart, parse_houses
from callcenter.incidents.service import IncidentInput, parse_local_time

MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
COLUMNS = ("street", "houses", "from", "to", "reason", "category", "ref")
REQUIRED = ("street", "from", "reason")


class ImportError_(ValidationError):
    """A file with problems: ``problems`` names each row."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Файл не импортирован: " + "; ".join(problems[:20]), field="file")
        self.problems = problems


@dataclass(frozen=True)
class _Row:
    street: str
    houses: str
    starts: datetime
    ends: datetime | None
    reason: str
    category: str
    ref: str | None


def parse_outage_file(
    data: bytes, *, name: str, zone: ZoneInfo, default_category: str, known_categories: set[str]
) -> list[IncidentInput]:
    """The incidents a file describes (each with source "import"); raises ImportError_ listing problems."""
    if len(data) > MAX_BYTES:
        raise ImportError_([f"файл больше {MAX_BYTES // 1024 // 1024} МБ"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportError_(["файл не в кодировке UTF-8"]) from None
    records = _json_records(text) if name.lower().endswith(".json") or text.lstrip()[:1] in "[{" else _csv_records(text)
    if len(records) > MAX_ROWS:
        raise ImportError_([f"больше {MAX_ROWS} строк"])
    problems: list[str] = []
    rows: list[_Row] = []
    for number, record in enumerate(records, start=1):
        try:
            rows.append(_row(record, zone, default_category, known_categories))
        except DomainError as err:
            problems.append(f"строка {number}: {err.message}")
    if not rows and not problems:
        problems.append("в файле нет ни одной строки")
    if problems:
        raise ImportError_(problems)
    groups: dict[tuple[Any, ...], list[_Row]] = {}
    for row in rows:
        key = ("ref", row.ref) if row.ref else ("text", row.reason, row.starts, row.ends, row.category)
        groups.setdefault(key, []).append(row)
    result = []
    for group in groups.values():
        first = group[0]
        streets: dict[str, list[Any]] = {}
        for row in group:
            streets.setdefault(row.street, []).extend(parse_houses(row.houses))
        area = Area(streets=tuple(StreetPart(s, tuple(h)) for s, h in streets.items()))
        result.append(
            IncidentInput(
                category=first.category,
                title=first.reason,
                area=area,
                public_text=first.reason,
                starts_at=min(r.starts for r in group),
                expected_at=first.ends,
                source="import",
                external_ref=first.ref,
            )
        )
    return result


def _json_records(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ImportError_([f"не JSON: {err.msg} (строка {err.lineno})"]) from None
    if isinstance(data, dict):
        data = data.get("outages")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ImportError_(['JSON: ожидается список объектов (или {"outages": [...]})'])
    return data


def _csv_records(text: str) -> list[dict[str, Any]]:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportError_([f"нет столбцов: {', '.join(missing)} (нужны {', '.join(COLUMNS)})"])
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]


def _row(record: dict[str, Any], zone: ZoneInfo, default_category: str, known: set[str]) -> _Row:
    def text(key: str) -> str:
        value = record.get(key)
        if value is None:
            return ""
        if not isinstance(value, (str, int)):
            raise ValidationError(f"«{key}»: ожидается текст", field=key)
        return str(value).strip()

    street, reason = text("street"), text("reason")
    if not street:
        raise ValidationError("не указана улица (street)", field="street")
    if not reason:
        raise ValidationError("не указана причина (reason)", field="reason")
    parse_houses(text("houses"))  # checked here, so the row is named
    starts = parse_local_time(text("from"), zone, field_name="from")
    if starts is None:
        raise ValidationError("не указано начало (from)", field="from")
    ends = parse_local_time(text("to"), zone, field_name="to")
    category = text("category") or default_category
    if category not in known:
        raise ValidationError(f"неизвестная категория «{category}»", field="category")
    return _Row(street, text("houses"), starts, ends, reason[:300], category, text("ref")[:120] or None)
