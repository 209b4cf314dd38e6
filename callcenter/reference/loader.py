"""Reference data of the 1563 service: executors, request categories, streets.

The data lives in three editable files shipped inside this package
(``departments.toml``, ``categories.toml``, ``streets.csv``).  An administrator
may copy them to a folder, edit the copies and point :func:`load_reference`
at that folder.  Every problem found while loading is reported as a
:class:`ReferenceError` whose message names the file and the entry, so a bad
edit is caught at start-up rather than in the middle of a call.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from callcenter.domain.done_evidence import DEFAULT_DONE_RULE, DoneRule

logger = logging.getLogger(__name__)

DEPARTMENTS_FILE = "departments.toml"
CATEGORIES_FILE = "categories.toml"
STREETS_FILE = "streets.csv"

DISTRICTS = ("Гагаринский", "Ленинский", "Нахимовский", "Балаклавский")
DEPARTMENT_KINDS = ("utility", "department", "district", "management_company", "service")
STREET_KINDS = (
    "улица",
    "проспект",
    "переулок",
    "шоссе",
    "площадь",
    "бульвар",
    "набережная",
    "спуск",
    "проезд",
    "тупик",
    "балка",
    "дорога",
    "подъём",
    "лестница",
    "аллея",
    "съезд",
    "кольцо",
    "тракт",
)
STREET_COLUMNS = ("name", "kind", "base", "district", "lat", "lon", "aliases")
# Sevastopol with Balaklava, Inkerman, Kacha, Orlinoe and Foros: a coordinate outside
# this box is a typo (swapped lat/lon, a missing digit), not a real street.
LAT_RANGE = (44.37, 44.80)
LON_RANGE = (33.35, 33.95)
# Codes travel in URLs, Open311 service codes and the IVR's menu files.
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
KEYWORDS_RANGE = (8, 20)
# Speech-to-text drafting falls back to this category when nothing matches.
FALLBACK_CATEGORY = "other"


class ReferenceError(Exception):
    """A reference file is missing, unreadable or has a bad entry.

    The message always names the file and, where there is one, the entry
    (``categories.toml, category 'water_leak': unknown department 'vodokanall'``).
    """

    def __init__(self, file: str, entry: str | None, problem: str) -> None:
        self.file = file
        self.entry = entry
        self.problem = problem
        where = f"{file}, {entry}" if entry else file
        super().__init__(f"{where}: {problem}")


# What staff read for a department's ``kind`` (the codes stay in departments.toml).
DEPARTMENT_KIND_LABELS = {
    "utility": "Ресурсоснабжающая организация",
    "department": "Орган власти",
    "district": "Администрация муниципального образования",
    "management_company": "Управляющая компания",
    "service": "Городская служба",
}


def department_kind_label(kind: str) -> str:
    """The Russian name of a department kind (the code itself if a new kind has no label yet)."""
    return DEPARTMENT_KIND_LABELS.get(kind, kind)


@dataclass(frozen=True)
class Department:
    """A city service or department that executes 1563 requests."""

    code: str
    name: str
    short_name: str
    kind: str
    phone: str | None
    districts: tuple[str, ...]


@dataclass(frozen=True)
class Category:
    """A kind of request, with its default executor and service-level targets."""

    code: str
    name: str
    description: str
    department: str
    group: str
    keywords: tuple[str, ...]
    accept_target_minutes: int
    done_target_hours: int
    priority: int
    callback: bool
    # What «Выполнено» must carry (no empty answers): a note saying what was done, a photo of
    # the result, and whether that photo is shown on the public tracking page.
    done_requires_note: bool = True
    done_requires_photo: bool = False
    done_photo_public: bool = False


@dataclass(frozen=True)
class Street:
    """A street of Sevastopol; ``lat``/``lon`` is an approximate centre point."""

    name: str
    kind: str
    base: str
    district: str
    lat: float
    lon: float
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class ReferenceData:
    """All reference data, validated, with lookups by code."""

    departments: tuple[Department, ...]
    categories: tuple[Category, ...]
    streets: tuple[Street, ...]
    _departments_by_code: dict[str, Department] = field(init=False, repr=False, compare=False, hash=False)
    _categories_by_code: dict[str, Category] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: the lookup tables are derived once, here.
        object.__setattr__(self, "_departments_by_code", {d.code: d for d in self.departments})
        object.__setattr__(self, "_categories_by_code", {c.code: c for c in self.categories})

    def department(self, code: str) -> Department:
        """The department with this code; ``KeyError`` naming the code if unknown."""
        try:
            return self._departments_by_code[code]
        except KeyError:
            raise KeyError(f"unknown department code {code!r}") from None

    def category(self, code: str) -> Category:
        """The category with this code; ``KeyError`` naming the code if unknown."""
        try:
            return self._categories_by_code[code]
        except KeyError:
            raise KeyError(f"unknown category code {code!r}") from None

    def done_rule(self, code: str | None) -> DoneRule:
        """What «Выполнено» needs for a ticket of this category (the default for none or an unknown one)."""
        category = self._categories_by_code.get(code or "")
        if category is None:
            return DEFAULT_DONE_RULE
        return DoneRule(
            note=category.done_requires_note,
            photo=category.done_requires_photo,
            photo_public=category.done_photo_public,
            category=category.name,
        )

    def has_department(self, code: str) -> bool:
        """Whether a department with this code exists."""
        return code in self._departments_by_code

    def has_category(self, code: str) -> bool:
        """Whether a category with this code exists."""
        return code in self._categories_by_code

    def categories_of(self, department_code: str) -> tuple[Category, ...]:
        """Categories whose default executor is this department."""
        return tuple(c for c in self.categories if c.department == department_code)


def load_reference(directory: Path | None = None) -> ReferenceData:
    """Load and validate the reference files.

    ``directory=None`` reads the copies shipped in this package (through
    ``importlib.resources``, so it works from a wheel too); otherwise the three
    files are read from ``directory``.  Raises :class:`ReferenceError`.
    This is blocking file I/O: call it at start-up or in an executor.
    """
    departments = _parse_departments(_read_text(directory, DEPARTMENTS_FILE))
    categories = _parse_categories(_read_text(directory, CATEGORIES_FILE), {d.code for d in departments})
    streets = _parse_streets(_read_text(directory, STREETS_FILE))
    logger.info(
        "reference data loaded from %s: %d departments, %d categories, %d streets",
        directory or "package",
        len(departments),
        len(categories),
        len(streets),
    )
    return ReferenceData(departments=departments, categories=categories, streets=streets)


def _read_text(directory: Path | None, filename: str) -> str:
    try:
        if directory is None:
            return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
        return (Path(directory) / filename).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceError(filename, None, f"file not found in {directory or 'the package'}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ReferenceError(filename, None, f"cannot read: {err}") from err


def _load_toml_tables(text: str, filename: str, table: str) -> list[dict[str, Any]]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ReferenceError(filename, None, f"not valid TOML: {err}") from err
    entries = document.get(table)
    if not isinstance(entries, list) or not entries:
        raise ReferenceError(filename, None, f"expected one or more [[{table}]] tables")
    return entries


# ---------------------------------------------------------------- field checks


class _Entry:
    """Typed access to one TOML table, raising errors that name file and entry."""

    def __init__(self, filename: str, label: str, index: int, raw: dict[str, Any], allowed: set[str]):
        self.filename = filename
        code = raw.get("code")
        self.entry = f"{label} {code!r}" if isinstance(code, str) else f"{label} #{index + 1}"
        self.raw = raw
        unknown = sorted(set(raw) - allowed)
        if unknown:
            self.fail(f"unknown field(s) {', '.join(unknown)}")

    def fail(self, problem: str) -> None:
        raise ReferenceError(self.filename, self.entry, problem)

    def text(self, key: str, *, optional: bool = False) -> str | None:
        value = self.raw.get(key)
        if value is None and optional:
            return None
        if value is None:
            self.fail(f"missing field '{key}'")
        if not isinstance(value, str) or not value.strip():
            self.fail(f"field '{key}' must be a non-empty string")
        return value.strip()

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.raw.get(key)
        if value is None:
            self.fail(f"missing field '{key}'")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(f"field '{key}' must be an integer from {low} to {high}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"field '{key}' must be true or false, got {value!r}")
        return value

    def text_list(self, key: str, *, optional: bool = False) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None and optional:
            return ()
        if value is None:
            self.fail(f"missing field '{key}'")
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(f"field '{key}' must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def code(self) -> str:
        code = self.text("code")
        if not CODE_PATTERN.match(code):
            self.fail(f"code {code!r} must be lower-case ASCII letters, digits and '_'")
        return code


def _check_unique(filename: str, label: str, codes: list[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ReferenceError(filename, f"{label} {code!r}", "duplicate code")
        seen.add(code)


# ---------------------------------------------------------------- departments

_DEPARTMENT_FIELDS = {"code", "name", "short_name", "kind", "phone", "districts"}


def _parse_departments(text: str) -> tuple[Department, ...]:
    raw_entries = _load_toml_tables(text, DEPARTMENTS_FILE, "department")
    departments = tuple(
        _parse_department(_Entry(DEPARTMENTS_FILE, "department", i, raw, _DEPARTMENT_FIELDS))
        for i, raw in enumerate(_tables(raw_entries, DEPARTMENTS_FILE, "department"))
    )
    _check_unique(DEPARTMENTS_FILE, "department", [d.code for d in departments])
    return departments


def _tables(entries: list[Any], filename: str, label: str) -> list[dict[str, Any]]:
    for index, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ReferenceError(filename, f"{label} #{index + 1}", "must be a table")
    return entries


def _parse_department(entry: _Entry) -> Department:
    kind = entry.text("kind")
    if kind not in DEPARTMENT_KINDS:
        entry.fail(f"kind {kind!r} is not one of {', '.join(DEPARTMENT_KINDS)}")
    districts = entry.text_list("districts", optional=True)
    for district in districts:
        if district not in DISTRICTS:
            entry.fail(f"unknown district {district!r} (known: {', '.join(DISTRICTS)})")
    return Department(
        code=entry.code(),
        name=entry.text("name"),
        short_name=entry.text("short_name"),
        kind=kind,
        phone=entry.text("phone", optional=True),
        districts=districts,
    )


# ---------------------------------------------------------------- categories

_CATEGORY_FIELDS = {
    "code",
    "name",
    "description",
    "department",
    "group",
    "keywords",
    "accept_target_minutes",
    "done_target_hours",
    "priority",
    "callback",
    "done_requires_note",
    "done_requires_photo",
    "done_photo_public",
}


def _parse_categories(text: str, department_codes: set[str]) -> tuple[Category, ...]:
    raw_entries = _load_toml_tables(text, CATEGORIES_FILE, "category")
    categories = tuple(
        _parse_category(_Entry(CATEGORIES_FILE, "category", i, raw, _CATEGORY_FIELDS), department_codes)
        for i, raw in enumerate(_tables(raw_entries, CATEGORIES_FILE, "category"))
    )
    _check_unique(CATEGORIES_FILE, "category", [c.code for c in categories])
    if FALLBACK_CATEGORY not in {c.code for c in categories}:
        raise ReferenceError(CATEGORIES_FILE, None, f"category {FALLBACK_CATEGORY!r} is required (the fallback)")
    return categories


def _parse_category(entry: _Entry, department_codes: set[str]) -> Category:
    department = entry.text("department")
    if department not in department_codes:
        entry.fail(f"unknown department {department!r} (not in {DEPARTMENTS_FILE})")
    keywords = tuple(k.lower() for k in entry.text_list("keywords"))
    low, high = KEYWORDS_RANGE
    if not low <= len(keywords) <= high:
        entry.fail(f"needs {low} to {high} keywords, has {len(keywords)}")
    if len(set(keywords)) != len(keywords):
        entry.fail("duplicate keyword")
    return Category(
        code=entry.code(),
        name=entry.text("name"),
        description=entry.text("description"),
        department=department,
        group=entry.text("group"),
        keywords=keywords,
        accept_target_minutes=entry.integer("accept_target_minutes", 1, 7 * 24 * 60),
        done_target_hours=entry.integer("done_target_hours", 1, 365 * 24),
        priority=entry.integer("priority", 1, 3),
        callback=entry.boolean("callback", True),
        done_requires_note=entry.boolean("done_requires_note", True),
        done_requires_photo=entry.boolean("done_requires_photo", False),
        done_photo_public=entry.boolean("done_photo_public", False),
    )


# ---------------------------------------------------------------- streets


def _parse_streets(text: str) -> tuple[Street, ...]:
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header != STREET_COLUMNS:
        raise ReferenceError(STREETS_FILE, None, f"header must be {','.join(STREET_COLUMNS)}, got {','.join(header)}")
    streets: list[Street] = []
    seen: set[tuple[str, str]] = set()
    for row in reader:
        # Line numbers as an editor shows them (header is line 1).
        entry = f"line {reader.line_num} ({(row.get('name') or '').strip()!r})"
        street = _parse_street_row(row, entry)
        key = (street.name.lower().replace("ё", "е"), street.district)
        if key in seen:
            raise ReferenceError(STREETS_FILE, entry, "duplicate street in the same district")
        seen.add(key)
        streets.append(street)
    if not streets:
        raise ReferenceError(STREETS_FILE, None, "no streets")
    return tuple(streets)


def _parse_street_row(row: dict[str, Any], entry: str) -> Street:
    def fail(problem: str) -> ReferenceError:
        return ReferenceError(STREETS_FILE, entry, problem)

    if None in row or any(row.get(c) is None for c in STREET_COLUMNS):
        raise fail(f"needs exactly {len(STREET_COLUMNS)} columns (quote a value with a comma)")
    values = {k: row[k].strip() for k in STREET_COLUMNS}
    for column in ("name", "kind", "base", "district", "lat", "lon"):
        if not values[column]:
            raise fail(f"empty column '{column}'")
    if values["kind"] not in STREET_KINDS:
        raise fail(f"kind {values['kind']!r} is not one of {', '.join(STREET_KINDS)}")
    if values["district"] not in DISTRICTS:
        raise fail(f"unknown district {values['district']!r} (known: {', '.join(DISTRICTS)})")
    lat = _coordinate(values["lat"], LAT_RANGE, "lat", fail)
    lon = _coordinate(values["lon"], LON_RANGE, "lon", fail)
    aliases = tuple(a.strip() for a in values["aliases"].split(";") if a.strip())
    return Street(
        name=values["name"],
        kind=values["kind"],
        base=values["base"],
        district=values["district"],
        lat=lat,
        lon=lon,
        aliases=aliases,
    )


def _coordinate(text: str, bounds: tuple[float, float], column: str, fail: Callable[[str], ReferenceError]) -> float:
    try:
        value = float(text)
    except ValueError:
        raise fail(f"column '{column}' is not a number: {text!r}") from None
    if not bounds[0] <= value <= bounds[1]:
        raise fail(f"column '{column}' {value} is outside Sevastopol ({bounds[0]}..{bounds[1]})")
    return value
