"""Open311 GeoReport v2 over the ticket store: service list and definitions, create and query requests.

Our statuses map to the specification's two: new, dispatched, in_progress and done are
``open`` (done waits for the citizen's confirmation, as everywhere in this product);
closed, archived and rejected are ``closed``. ``status_notes`` carries the Russian label and
the extra field ``extended_status`` the exact status. GET answers never carry personal data:
no phone, name, e-mail or flat, and phone numbers and flats written into a description are
masked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from callcenter.accounts.api_keys import ApiKey
from callcenter.config import Settings
from callcenter.domain.errors import DomainError
from callcenter.domain.notifications import CONSENT_KEY, consent_record
from callcenter.domain.phones import normalize_phone
from callcenter.domain.privacy import PUBLIC_SUMMARY, mask_personal, public_text
from callcenter.domain.tickets import OPEN_STATUSES, STATUS_LABELS, Actor, Channel, Role, Status
from callcenter.portal.api import haversine_m, in_city, public_address, public_coordinate
from callcenter.reference import Gazetteer, ReferenceData
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket
from callcenter.tickets.service import TicketService

MAX_PAGE = 1000
DEFAULT_SPAN = timedelta(days=90)
MAX_DESCRIPTION = 4000
SPEC_STATUS = {s: ("open" if s in OPEN_STATUSES else "closed") for s in Status}
SCOPES = [
    ("flat", "В квартире"),
    ("entrance", "В подъезде"),
    ("building", "Во всём доме"),
    ("yard", "Во дворе"),
    ("street", "На улице или дороге"),
]
NOTIFY_CHOICES = [
    ("email", "По e-mail"),
    ("sms", "По SMS"),
    ("both", "По e-mail и SMS"),
    ("none", "Не сообщать"),
]
ATTRIBUTES = [
    {
        "variable": True,
        "code": "flat",
        "datatype": "string",
        "required": False,
        "datatype_description": "Номер квартиры или офиса, например 12",
        "order": 1,
        "description": "Квартира, если проблема в квартире (не публикуется)",
        "values": [],
    },
    {
        "variable": True,
        "code": "scope",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "Один из ключей списка",
        "order": 2,
        "description": "Где проблема",
        "values": [{"key": key, "name": name} for key, name in SCOPES],
    },
    {
        "variable": True,
        "code": "notify",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "Один из ключей списка",
        "order": 3,
        "description": (
            "Сообщать заявителю о ходе работ на email и/или phone этого запроса "
            "(согласие заявителя получено приложением, 152-ФЗ)"
        ),
        "values": [{"key": key, "name": name} for key, name in NOTIFY_CHOICES],
    },
]
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_PAGE_NUMBER = 1_000_000  # page x page_size stays far inside a 64-bit OFFSET
_URL = re.compile(r"^https?://[^\s]{3,490}$")


class Open311Error(Exception):
    """An answer in the specification's error format: HTTP status and descriptions."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(descriptions[0] if descriptions else str(status))
        self.status = status
        self.descriptions = descriptions


@dataclass(frozen=True)
class RequestQuery:
    numbers: tuple[str, ...]
    codes: tuple[str, ...]
    statuses: tuple[str, ...]
    start: datetime
    end: datetime
    page: int
    page_size: int


def mask_private(text: str) -> str:
    """A description with phones, e-mails, flats and names hidden (for public answers)."""
    return mask_personal(text)


def public_description(extra: dict[str, Any] | None, category_name: str | None) -> str | None:
    """The text Open311 publishes: only the ticket's public summary (the citizen's own words,
    masked when the ticket was made), masked once more; never what an operator typed."""
    return public_text(extra, category_name)


class Open311Service:
    """What the GeoReport v2 endpoints do, without HTTP."""

    def __init__(
        self,
        settings: Settings,
        tickets: TicketService,
        sessions: async_sessionmaker[AsyncSession],
        reference: ReferenceData,
        gazetteer: Gazetteer,
    ) -> None:
        self.settings = settings
        self.zone: ZoneInfo = settings.zone
        self.tickets = tickets
        self.sessions = sessions
        self.reference = reference
        self.gazetteer = gazetteer

    # ------------------------------------------------------------------ services

    def services(self) -> list[dict[str, Any]]:
        return [
            {
                "service_code": c.code,
                "service_name": c.name,
                "description": c.description,
                "metadata": True,
                "type": "realtime",
                "keywords": ", ".join(c.keywords),
                "group": c.group,
            }
            for c in self.reference.categories
        ]

    def definition(self, code: str) -> dict[str, Any]:
        if not self.reference.has_category(code):
            raise Open311Error(404, f"service_code «{code[:64]}» не найден")
        return {"service_code": code, "attributes": ATTRIBUTES}

    def check_jurisdiction(self, value: str | None) -> None:
        if value and value != self.settings.open311_jurisdiction:
            raise Open311Error(
                404,
                f"jurisdiction_id «{value[:64]}» не найден: этот сервер обслуживает "
                f"«{self.settings.open311_jurisdiction}»",
            )

    # ------------------------------------------------------------------ create

    async def create(self, fields: Mapping[str, str], key: ApiKey) -> dict[str, Any]:
        """Create a ticket from a POST; Open311Error (400/404) names the bad field."""
        self.check_jurisdiction(fields.get("jurisdiction_id"))
        code = (fields.get("service_code") or "").strip()
        if not code:
            raise Open311Error(400, "service_code: не указан код услуги")
        if not self.reference.has_category(code):
            raise Open311Error(404, f"service_code «{code[:64]}» не найден")
        point = _point(fields)
        address = (fields.get("address_string") or "").strip()[:300]
        if point is None and not address:
            raise Open311Error(400, "Укажите место: lat и long или address_string (address_id не поддерживается)")
        attributes = _attributes(fields)
        data = await self._new_ticket(code, point, address, attributes, fields, key)
        actor = Actor(role=Role.CITIZEN, name=f"Open311: {key.owner}")
        try:
            view = await self.tickets.create(data, actor)
        except DomainError as err:
            raise Open311Error(400, err.message) from err
        notice = f"Заявка № {view.number} зарегистрирована и будет направлена исполнителю. Справки по телефону 1563."
        return {
            "service_request_id": view.number,
            "service_notice": notice,
            "account_id": fields.get("account_id") or None,
        }

    async def _new_ticket(
        self,
        code: str,
        point: tuple[float, float] | None,
        address: str,
        attributes: dict[str, str],
        fields: Mapping[str, str],
        key: ApiKey,
    ) -> NewTicket:
        category = self.reference.category(code)
        description = (fields.get("description") or "").strip()
        if len(description) > MAX_DESCRIPTION:
            raise Open311Error(400, f"description: не более {MAX_DESCRIPTION} знаков")
        if "scope" in attributes:
            description = (description + "\n" if description else "") + "Где: " + dict(SCOPES)[attributes["scope"]]
        geo = await asyncio.to_thread(self.gazetteer.geocode, address) if address else None
        lat, lon = point if point else ((geo.lat, geo.lon) if geo else (None, None))
        district = geo.district if geo else self._district_near(point)
        return NewTicket(
            channel=Channel.OPEN311,
            phone=_phone(fields),
            category=code,
            title=f"{category.name}: {geo.street.name if geo else (address or 'точка на карте')}"[:300],
            description=description or category.name,
            address=address,
            street=geo.street.name if geo else None,
            house=(geo.house or None) if geo else None,
            flat=attributes.get("flat") or (geo.flat if geo else None),
            district=district,
            lat=lat,
            lon=lon,
            citizen_name=_name(fields),
            citizen_email=_email(fields),
            extra={
                **_notify_consent(attributes.get("notify"), fields),
                PUBLIC_SUMMARY: mask_personal(description) or None,
                "open311": {
                    "api_key": key.owner,
                    "attributes": attributes,
                    "media_url": _media_url(fields),
                    "device_id": (fields.get("device_id") or "")[:100] or None,
                    "account_id": (fields.get("account_id") or "")[:100] or None,
                },
            },
        )

    def _district_near(self, point: tuple[float, float] | None) -> str | None:
        if point is None:
            return None
        street = self.gazetteer.nearest(*point)
        if street is None or haversine_m(point[0], point[1], street.lat, street.lon) > 1500:
            return None
        return street.district

    # ------------------------------------------------------------------ query

    def parse_query(self, params: Mapping[str, str], now: datetime | None = None) -> RequestQuery:
        """The GET filters with the specification's defaults (last 90 days, at most 1000)."""
        self.check_jurisdiction(params.get("jurisdiction_id"))
        numbers = tuple(_numbers(params.get("service_request_id", "")))
        codes = tuple(_split(params.get("service_code", "")))
        for code in codes:
            if not self.reference.has_category(code):
                raise Open311Error(400, f"service_code «{code[:64]}» не найден")
        statuses = _statuses(params.get("status", ""), params.get("extended_status", ""))
        start, end = _window(params.get("start_date"), params.get("end_date"), now or datetime.now(UTC), self.zone)
        page = _positive(params, "page", 1)
        size = min(_positive(params, "page_size", MAX_PAGE), MAX_PAGE)
        return RequestQuery(numbers, codes, statuses, start, end, page, size)

    async def requests(self, query: RequestQuery) -> list[dict[str, Any]]:
        original = aliased(m.Ticket)
        # The first public photo, looked up per row through ix_attachments_ticket ("id/path").
        photo = (
            select(cast(m.Attachment.id, String) + "/" + m.Attachment.path)
            .where(m.Attachment.ticket_id == m.Ticket.id, m.Attachment.kind == "photo", m.Attachment.public.is_(True))
            .order_by(m.Attachment.id)
            .limit(1)
            .correlate(m.Ticket)
            .scalar_subquery()
        )
        stmt = (
            select(
                m.Ticket.number,
                m.Ticket.status,
                m.Ticket.category_code,
                m.Ticket.department_code,
                m.Ticket.extra,
                m.Ticket.street,
                m.Ticket.house,
                m.Ticket.address,
                m.Ticket.lat,
                m.Ticket.lon,
                m.Ticket.created_at,
                m.Ticket.updated_at,
                original.number,
                photo,
            )
            .outerjoin(original, original.id == m.Ticket.duplicate_of_id)
            .where(m.Ticket.is_draft.is_(False))
        )
        if query.numbers:
            stmt = stmt.where(m.Ticket.number.in_(query.numbers)).order_by(m.Ticket.id.desc())
        else:
            stmt = stmt.where(m.Ticket.created_at >= query.start, m.Ticket.created_at <= query.end)
            if query.codes:
                stmt = stmt.where(m.Ticket.category_code.in_(query.codes))
            if query.statuses:
                stmt = stmt.where(m.Ticket.status.in_(query.statuses))
            stmt = stmt.order_by(m.Ticket.created_at.desc(), m.Ticket.id.desc()).offset(
                (query.page - 1) * query.page_size
            )
        async with self.sessions() as session:
            rows = (await session.execute(stmt.limit(query.page_size))).all()
        return [self._request(row) for row in rows]

    async def one(self, number: str) -> list[dict[str, Any]]:
        numbers = _numbers(number)
        found = await self.requests(RequestQuery(tuple(numbers), (), (), datetime.now(UTC), datetime.now(UTC), 1, 1))
        if not found:
            raise Open311Error(404, f"service_request_id «{number[:20]}» не найден")
        return found

    def _photo_url(self, photo: str | None) -> str | None:
        if not photo:
            return None
        attachment_id, path = photo.split("/", 1)
        return f"{self.settings.public_url.rstrip('/')}/photos/{attachment_id}/{path.rsplit('/', 1)[-1]}"

    def _request(self, row: Any) -> dict[str, Any]:
        (
            number,
            status,
            code,
            department,
            extra,
            street,
            house,
            address,
            lat,
            lon,
            created,
            updated,
            original,
            photo,
        ) = row
        status = Status(status)
        category = self.reference.category(code) if code and self.reference.has_category(code) else None
        notes = STATUS_LABELS[status] + (f": объединена с заявкой № {original}" if original else "")
        # Outage mode: a request linked to a known incident says so (callcenter/incidents).
        incident_note = (extra or {}).get("incident_note")
        incident_note = incident_note if isinstance(incident_note, str) and incident_note else None
        if incident_note:
            notes += f". {incident_note}"
        return {
            "service_request_id": number,
            "status": SPEC_STATUS[status],
            "status_notes": notes,
            "extended_status": status.value,
            "service_name": category.name if category else None,
            "service_code": code,
            "description": public_description(extra, category.name if category else None),
            "agency_responsible": self._agency(department),
            "service_notice": incident_note,
            "requested_datetime": self._time(created),
            "updated_datetime": self._time(updated),
            "expected_datetime": self._expected(status, category, created),
            "address": public_address(street, house, address) or None,
            "address_id": None,
            "zipcode": None,
            "lat": public_coordinate(lat) if lat is not None else None,
            "long": public_coordinate(lon) if lon is not None else None,
            "media_url": self._photo_url(photo),
        }

    def _agency(self, code: str | None) -> str | None:
        if not code or not self.reference.has_department(code):
            return None
        return self.reference.department(code).name

    def _time(self, value: datetime | None) -> str | None:
        return value.astimezone(self.zone).isoformat(timespec="seconds") if value else None

    def _expected(self, status: Status, category: Any, created: datetime) -> str | None:
        if category is None or status not in OPEN_STATUSES:
            return None
        target = timedelta(minutes=category.accept_target_minutes, hours=category.done_target_hours)
        return self._time(created + target)


# ---------------------------------------------------------------------- field parsing


def _split(raw: str) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


def _numbers(raw: str) -> list[str]:
    numbers = _split(raw)
    bad = [n for n in numbers if not n.isdigit() or not 7 <= len(n) <= 12]
    if bad:
        raise Open311Error(400, f"service_request_id «{bad[0][:20]}»: номер заявки — 7–12 цифр")
    return numbers[:MAX_PAGE]


def _statuses(spec: str, extended: str) -> tuple[str, ...]:
    chosen: set[Status] | None = None
    if _split(spec):
        wanted = {s.lower() for s in _split(spec)}
        if wanted - {"open", "closed"}:
            raise Open311Error(
                400, f"status «{sorted(wanted - {'open', 'closed'})[0][:20]}»: допустимо open или closed"
            )
        chosen = {s for s in Status if SPEC_STATUS[s] in wanted}
    if _split(extended):
        try:
            exact = {Status(s.lower()) for s in _split(extended)}
        except ValueError:
            raise Open311Error(400, "extended_status: допустимо " + ", ".join(s.value for s in Status)) from None
        chosen = exact if chosen is None else chosen & exact
    if chosen is None:
        return ()
    return tuple(sorted(s.value for s in chosen)) or ("-",)  # "-" matches nothing: an empty intersection


def _parse_time(name: str, raw: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    """(moment, date_only) from a W3C date-time; a naive value is local time."""
    text = raw.strip()
    # An unencoded "+03:00" in a query string arrives as " 03:00".
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name}: ожидается дата и время W3C (ISO 8601), например 2026-11-01T00:00:00+03:00"
        ) from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise Open311Error(400, f"{name}: дата вне допустимого диапазона ({MIN_YEAR}–{MAX_YEAR} годы)")
    date_only = len(text) == 10
    return (value.replace(tzinfo=zone) if value.tzinfo is None else value), date_only


def _window(start_raw: str | None, end_raw: str | None, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = end = None
    if start_raw:
        start, _ = _parse_time("start_date", start_raw, zone)
    if end_raw:
        end, date_only = _parse_time("end_date", end_raw, zone)
        if date_only:
            end += timedelta(days=1) - timedelta(microseconds=1)  # the whole last day
    if start is None and end is None:
        return now - DEFAULT_SPAN, now
    if end is None:
        return start, min(start + DEFAULT_SPAN, max(now, start))  # type: ignore[operator]
    if start is None:
        return end - DEFAULT_SPAN, end
    if start > end:
        raise Open311Error(400, "start_date позже end_date")
    if end - start > DEFAULT_SPAN + timedelta(days=1):
        raise Open311Error(400, "Период между start_date и end_date не может превышать 90 дней")
    return start, end


def _positive(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if raw.isascii() and len(raw) <= 12 else 0
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE_NUMBER:
        raise Open311Error(400, f"{name}: ожидается целое число от 1 до {MAX_PAGE_NUMBER}")
    return value


def _point(fields: Mapping[str, str]) -> tuple[float, float] | None:
    lat_raw, lon_raw = (fields.get("lat") or "").strip(), (fields.get("long") or "").strip()
    if not lat_raw and not lon_raw:
        return None
    if not lat_raw or not lon_raw:
        raise Open311Error(400, "lat и long указываются вместе")
    try:
        lat, lon = float(lat_raw), float(lon_raw)
    except ValueError:
        raise Open311Error(400, "lat и long должны быть числами (WGS84, градусы)") from None
    if not in_city(lat, lon):
        raise Open311Error(400, f"Точка {lat}, {lon} вне Севастополя")
    return lat, lon


def _attributes(fields: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    getall = getattr(fields, "getall", None)
    for name in dict.fromkeys(fields):
        match = re.fullmatch(r"attribute\[([^\]]+)\](\[\])?", name)
        if not match:
            continue
        code = match.group(1)
        value = (getall(name)[-1] if getall else fields[name]).strip()
        if code == "flat":
            if len(value) > 20:
                raise Open311Error(400, "attribute[flat]: не более 20 знаков")
            values["flat"] = value
        elif code == "scope":
            if value not in dict(SCOPES):
                raise Open311Error(400, "attribute[scope]: допустимо " + ", ".join(k for k, _ in SCOPES))
            values["scope"] = value
        elif code == "notify":
            if value not in dict(NOTIFY_CHOICES):
                raise Open311Error(400, "attribute[notify]: допустимо " + ", ".join(k for k, _ in NOTIFY_CHOICES))
            values["notify"] = value
        else:
            raise Open311Error(400, f"attribute[{code[:40]}]: такого атрибута нет в описании услуги")
    return {k: v for k, v in values.items() if v}


def _notify_consent(choice: str | None, fields: Mapping[str, str]) -> dict[str, Any]:
    """``attribute[notify]``: the request's own email / phone get the citizens' notifications."""
    if not choice or choice == "none":
        return {}
    email = _email(fields) if choice in ("email", "both") else None
    sms = choice in ("sms", "both")
    if choice in ("email", "both") and not email:
        raise Open311Error(400, f"attribute[notify]={choice}: укажите email заявителя")
    if sms and not _phone(fields):
        raise Open311Error(400, f"attribute[notify]={choice}: укажите phone заявителя")
    return {CONSENT_KEY: consent_record(email=email, sms=sms, via="open311", at=datetime.now(UTC))}


def _phone(fields: Mapping[str, str]) -> str | None:
    raw = (fields.get("phone") or "").strip()
    if not raw:
        return None
    try:
        return normalize_phone(raw)
    except DomainError as err:
        raise Open311Error(400, "phone: " + err.message) from err


def _email(fields: Mapping[str, str]) -> str | None:
    raw = (fields.get("email") or "").strip()
    if raw and (len(raw) > 200 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw)):
        raise Open311Error(400, f"email «{raw[:60]}» не похож на адрес электронной почты")
    return raw or None


def _name(fields: Mapping[str, str]) -> str | None:
    name = " ".join(p for p in ((fields.get("first_name") or "").strip(), (fields.get("last_name") or "").strip()) if p)
    return name[:200] or None


def _media_url(fields: Mapping[str, str]) -> str | None:
    raw = (fields.get("media_url") or "").strip()
    if raw and not _URL.match(raw):
        raise Open311Error(400, "media_url: ожидается адрес http(s)://…")
    return raw or None
