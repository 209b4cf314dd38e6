"""The board's filter form: query parameters in, a TicketFilter (and Russian errors) out.

Board, queue, archive, export and the row fragment all read filters here, so a link
copied from one of them means the same list in the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from multidict import MultiMapping

from callcenter.domain.errors import DomainError
from callcenter.domain.phones import normalize_phone
from callcenter.domain.tickets import OPEN_STATUSES, Channel, Status
from callcenter.reference import DISTRICTS, ReferenceData
from callcenter.tickets.schemas import TicketFilter

MIN_YEAR, MAX_YEAR = 2000, 2100
FILTER_FIELDS = (
    "status",
    "category",
    "department",
    "channel",
    "district",
    "date_from",
    "date_to",
    "q",
    "phone",
    "incident",  # an outage incident's number: its linked tickets
    "linked",  # "1": show tickets linked to an incident one by one (the board folds them under the master)
)
ARCHIVE_STATUSES = (Status.CLOSED, Status.ARCHIVED, Status.REJECTED)
# The status choices of the select: "" means every status the page allows.
STATUS_GROUPS: dict[str, tuple[Status, ...]] = {
    "open": tuple(s for s in Status if s in OPEN_STATUSES),
    "waiting": (Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS),
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RU = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
MAX_QUERY = 200


@dataclass
class FilterForm:
    """A parsed filter: the TicketFilter, what was typed (to show it again) and errors per field."""

    filter: TicketFilter
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    before_id: int | None = None

    def query_string(self, **extra: object) -> str:
        """The filters as a query string (for paging, export and live-row links)."""
        params = {k: v for k, v in self.values.items() if v}
        params.update({k: str(v) for k, v in extra.items() if v not in (None, "")})
        return urlencode(params)


def parse_filters(
    query: MultiMapping[str],
    reference: ReferenceData,
    *,
    allowed: tuple[Status, ...] = tuple(Status),
    default_status: str = "",
    default_days: int | None = None,
    today: date | None = None,
    fold_linked: bool = False,
) -> FilterForm:
    """Read the filter fields; a bad one is reported and left out, the rest still apply.

    ``fold_linked``: the list groups an outage's linked tickets under its master (the board),
    unless ``linked=1`` or one incident's tickets are asked for."""
    # NUL never belongs in a filter and PostgreSQL refuses it in text (it answered 503).
    values = {name: str(query.get(name, "")).replace("\x00", "").strip()[:MAX_QUERY] for name in FILTER_FIELDS}
    if "status" not in query:
        values["status"] = default_status
    if default_days and "date_from" not in query and "date_to" not in query:
        today = today or date.today()
        values["date_from"] = (today - timedelta(days=default_days - 1)).isoformat()
        values["date_to"] = today.isoformat()
    errors: dict[str, str] = {}
    form = FilterForm(TicketFilter(statuses=_statuses(values["status"], allowed, errors)), values, errors)
    _apply_codes(form, reference)
    _apply_dates(form)
    _apply_text(form)
    _apply_incident(form, fold_linked)
    form.before_id = _positive_int(query.get("before"))
    return form


def _apply_incident(form: FilterForm, fold_linked: bool) -> None:
    incident = _positive_int(form.values["incident"])
    if form.values["incident"] and incident is None:
        form.errors["incident"] = "Укажите номер аварии"
    if form.values["linked"] not in ("", "1"):
        form.values["linked"] = ""
    fold = fold_linked and incident is None and form.values["linked"] != "1"
    form.filter = replace(form.filter, incident=incident, fold_linked=fold)


def _statuses(value: str, allowed: tuple[Status, ...], errors: dict[str, str]) -> tuple[Status, ...]:
    if not value:
        return allowed if set(allowed) != set(Status) else ()
    if value in STATUS_GROUPS:
        return tuple(s for s in STATUS_GROUPS[value] if s in allowed)
    try:
        status = Status(value)
    except ValueError:
        status = None
    if status is None or status not in allowed:
        errors["status"] = "Выберите статус из списка"
        return allowed if set(allowed) != set(Status) else ()
    return (status,)


def _apply_codes(form: FilterForm, reference: ReferenceData) -> None:
    v, f = form.values, form.filter
    checks = {
        "category": (reference.has_category, "Такой категории нет"),
        "department": (reference.has_department, "Такого исполнителя нет"),
        "channel": (lambda c: c in Channel.__members__.values(), "Такого канала нет"),
        "district": (lambda d: d in DISTRICTS, "Такого района нет"),
    }
    for name, (known, message) in checks.items():
        if v[name] and not known(v[name]):
            form.errors[name] = message
    ok = {name: v[name] or None for name in checks if name not in form.errors}
    form.filter = replace(
        f,
        category=ok.get("category"),
        department=ok.get("department"),
        channel=Channel(ok["channel"]) if ok.get("channel") else None,
        district=ok.get("district"),
    )


def _apply_dates(form: FilterForm) -> None:
    parsed: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        parsed[name] = parse_date(form.values[name])
        if form.values[name] and parsed[name] is None:
            form.errors[name] = "Укажите дату как ДД.ММ.ГГГГ"
    start, end = parsed["date_from"], parsed["date_to"]
    if start and end and start > end:
        form.errors["date_to"] = "Дата «по» раньше даты «с»"
        end = None
    form.filter = replace(form.filter, date_from=start, date_to=end)


def _apply_text(form: FilterForm) -> None:
    phone = None
    if form.values["phone"]:
        try:
            phone = normalize_phone(form.values["phone"])
        except DomainError as err:
            form.errors["phone"] = err.message
    form.filter = replace(form.filter, phone=phone, query=form.values["q"] or None)


def parse_date(value: str) -> date | None:
    """An ISO date (from <input type=date>) or a Russian ДД.ММ.ГГГГ; None if neither."""
    value = value.strip()
    try:
        if _ISO.match(value):
            return _in_service_years(date.fromisoformat(value))
        match = _RU.match(value)
        if match:
            day, month, year = (int(g) for g in match.groups())
            return _in_service_years(date(year, month, day))
    except ValueError:
        return None
    return None


def _in_service_years(value: date) -> date | None:
    """Dates the service can have (far dates overflow the time-zone arithmetic and mean nothing)."""
    return value if MIN_YEAR <= value.year <= MAX_YEAR else None


def _positive_int(value: object) -> int | None:
    text = str(value or "")
    # isascii: "²" and other Unicode digits pass isdigit() but not int().
    if text.isascii() and text.isdigit() and 0 < len(text) < 19:
        return int(text)
    return None


def local_today(zone: object) -> date:
    return datetime.now(zone).date()  # type: ignore[arg-type]
