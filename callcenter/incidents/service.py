"""The incidents service: create, find by place, subscribe callers, restore, and the board's figures.

Restoration moves every linked ticket to ``done`` through the ticket service (the same
lifecycle rules as the web), so the callbacks feature's listener plans the confirmation calls:
one call per citizen however many of their tickets are on it, within calling hours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.clock import Clock, utcnow
from callcenter.domain.errors import DomainError, NotFound, ValidationError
from callcenter.domain.incidents import (
    MAX_PUBLIC_TEXT,
    Area,
    IncidentFacts,
    IncidentStatus,
    Place,
    active_incidents_at,
    area_from_json,
    check_incident_move,
    check_times,
    street_key,
)
from callcenter.domain.phones import try_normalize_phone
from callcenter.domain.tickets import OPEN_STATUSES, Actor, Channel, Role, Status
from callcenter.events import EventHub
from callcenter.incidents.models import Incident, IncidentCall, IncidentTicket
from callcenter.reference import DISTRICTS, Gazetteer, ReferenceData
from callcenter.store import models as m
from callcenter.tickets.schemas import NewTicket, TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

# The automatic moves of linked tickets on restoration: a supervisor's rights, named for the log.
INCIDENT_ACTOR = Actor(role=Role.SUPERVISOR, name="режим аварий")
COUNT_LIMIT = 20_000  # open tickets scanned for the live count of a drawn area


class IncidentNotFound(NotFound):
    code = "incident_not_found"

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"Авария № {incident_id} не найдена", details={"incident": incident_id})


@dataclass(frozen=True)
class IncidentInput:
    """What a supervisor, an import file or a utility's system gives."""

    category: str
    title: str
    area: Area
    public_text: str = ""
    starts_at: datetime | None = None  # None: now
    expected_at: datetime | None = None
    department: str | None = None
    recording: str | None = None
    source: str = "web"
    external_ref: str | None = None


@dataclass(frozen=True)
class IncidentView:
    id: int
    category: str
    category_name: str
    department: str | None
    title: str
    public_text: str
    area: Area
    area_text: str
    starts_at: datetime
    expected_at: datetime | None
    status: IncidentStatus
    master_number: str | None
    recording: str | None
    source: str
    external_ref: str | None
    note: str | None
    created_at: datetime
    ended_at: datetime | None

    @property
    def facts(self) -> IncidentFacts:
        return IncidentFacts(self.id, self.category, self.area, self.status, self.starts_at, self.expected_at)

    def public_json(self, zone: ZoneInfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "category_name": self.category_name,
            "title": self.title,
            "text": self.public_text,
            "area": self.area.to_json(),
            "area_text": self.area_text,
            "starts_at": self.starts_at.isoformat(),
            "expected_at": self.expected_at.isoformat() if self.expected_at else None,
            "expected_local": f"{self.expected_at.astimezone(zone):%d.%m %H:%M}" if self.expected_at else None,
            "status": self.status.value,
        }


@dataclass(frozen=True)
class Subscription:
    ticket: TicketView
    created: bool  # False: the caller was already on this incident


@dataclass(frozen=True)
class RestoreResult:
    incident: IncidentView
    done: list[str] = field(default_factory=list)  # ticket numbers moved to done
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (number, why)
    citizens: int = 0


@dataclass(frozen=True)
class Board:
    """The incident board's figures."""

    incident: IncidentView
    linked_tickets: int
    open_tickets: int
    subscribers: int  # citizens linked
    ivr_calls: int  # announcements played
    ivr_subscribed: int  # pressed 1 (no operator)
    ivr_operator: int  # pressed 0: calls the outage caused for operators
    ivr_other: int  # hung up, no input, went on to the menu
    callbacks: dict[str, int]  # callback state -> count
    callback_outcomes: dict[str, int]  # attempt result -> count
    tickets: list[TicketView]


class IncidentService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tickets: TicketService,
        reference: ReferenceData,
        gazetteer: Gazetteer,
        *,
        zone: ZoneInfo,
        hub: EventHub | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tickets = tickets
        self._reference = reference
        self._gazetteer = gazetteer
        self.zone = zone
        self._hub = hub
        self._clock = clock
        self._street_districts = {street_key(s.name): s.district for s in reference.streets}

    def now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ create / edit

    def _check(self, data: IncidentInput) -> None:
        if not self._reference.has_category(data.category):
            raise ValidationError(f"Неизвестная категория «{data.category}»", field="category")
        if data.department and not self._reference.has_department(data.department):
            raise ValidationError(f"Неизвестный исполнитель «{data.department}»", field="department")
        if not data.title.strip():
            raise ValidationError("Укажите, что случилось", field="title")
        if len(data.public_text) > MAX_PUBLIC_TEXT:
            raise ValidationError(f"Текст для жителей: не длиннее {MAX_PUBLIC_TEXT} знаков", field="public_text")
        if data.area.empty:
            raise ValidationError("Укажите район, улицы или нарисуйте область на карте", field="area")
        unknown = data.area.districts - set(DISTRICTS)
        if unknown:
            raise ValidationError(f"Неизвестный район «{sorted(unknown)[0]}»", field="area")
        check_times(data.starts_at or self.now(), data.expected_at)

    def normalise_area(self, area: Area) -> Area:
        """Street names as the gazetteer spells them ("ул. Ленина" -> "улица Ленина"); unknown raise."""
        streets = []
        for part in area.streets:
            found = self._gazetteer.geocode(part.street)
            if found is None or found.confidence < 0.7:
                raise ValidationError(f"Улица «{part.street}» не найдена в справочнике", field="area")
            streets.append(type(part)(found.street.name, part.houses))
        return Area(area.districts, tuple(streets), area.circles, area.polygons)

    async def create(self, data: IncidentInput, actor: Actor) -> IncidentView:
        """A new active incident with its master ticket (dispatched to the executor)."""
        data = IncidentInput(**{**data.__dict__, "area": self.normalise_area(data.area)})
        self._check(data)
        category = self._reference.category(data.category)
        department = data.department or category.department
        now = self.now()
        master = await self._tickets.create(
            NewTicket(
                channel=Channel.PHONE,
                phone=None,
                category=data.category,
                title=f"Авария: {data.title.strip()}"[:300],
                description=data.public_text.strip() or data.title.strip(),
                address=data.area.describe()[:300],
                department=department,
            ),
            actor,
        )
        await self._tickets.move(master.number, Status.DISPATCHED, INCIDENT_ACTOR, department=department)
        async with self._sessions.begin() as session:
            row = Incident(
                category_code=data.category,
                department_code=department,
                title=data.title.strip()[:300],
                public_text=data.public_text.strip(),
                area=data.area.to_json(),
                starts_at=data.starts_at or now,
                expected_at=data.expected_at,
                status=IncidentStatus.ACTIVE.value,
                master_ticket_id=master.id,
                recording=(data.recording or "").strip() or None,
                source=data.source,
                external_ref=data.external_ref,
                created_by=actor.name[:200],
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            session.add(IncidentTicket(incident_id=row.id, ticket_id=master.id, via="master", created_at=now))
            view = await self._view(session, row)
        # The staff lists mark the master and its linked tickets (web/templates/staff/_row.html).
        await self._tickets.edit(
            master.number, {"extra": {"incident": view.id, "incident_master": True}}, INCIDENT_ACTOR
        )
        self._publish(view, "created")
        return view

    async def update(self, incident_id: int, data: IncidentInput, actor: Actor) -> IncidentView:
        """Change an active incident's text, area, times (the master ticket keeps its number)."""
        data = IncidentInput(**{**data.__dict__, "area": self.normalise_area(data.area)})
        self._check(data)
        async with self._sessions.begin() as session:
            row = await self._row(session, incident_id, for_update=True)
            if row.status != IncidentStatus.ACTIVE.value:
                raise ValidationError("Изменить можно только действующую аварию", field="status")
            row.category_code = data.category
            row.title = data.title.strip()[:300]
            row.public_text = data.public_text.strip()
            row.area = data.area.to_json()
            if data.starts_at is not None:
                row.starts_at = data.starts_at
            row.expected_at = data.expected_at
            row.recording = (data.recording or "").strip() or None
            row.updated_at = self.now()
            view = await self._view(session, row)
        self._publish(view, "updated")
        return view

    async def find_external(self, department: str | None, external_ref: str) -> IncidentView | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Incident)
                    .where(Incident.external_ref == external_ref, Incident.department_code == department)
                    .order_by(Incident.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            return await self._view(session, row) if row is not None else None

    # ------------------------------------------------------------------ reads

    async def get(self, incident_id: int) -> IncidentView:
        async with self._sessions() as session:
            return await self._view(session, await self._row(session, incident_id))

    async def listing(self, *, status: IncidentStatus | None = None, limit: int = 200) -> list[IncidentView]:
        async with self._sessions() as session:
            stmt = select(Incident).order_by(Incident.id.desc()).limit(limit)
            if status is not None:
                stmt = stmt.where(Incident.status == status.value)
            rows = (await session.execute(stmt)).scalars().all()
            return [await self._view(session, r) for r in rows]

    async def active(self) -> list[IncidentView]:
        """Active incidents that have started (planned ones wait for their start)."""
        now = self.now()
        return [i for i in await self.listing(status=IncidentStatus.ACTIVE) if i.starts_at <= now]

    def place_of(self, ticket: TicketView) -> Place:
        """Where a ticket is, filling gaps from the gazetteer (street centre, district)."""
        street, district, lat, lon = ticket.street, ticket.district, ticket.lat, ticket.lon
        if (street is None or district is None or lat is None) and ticket.address:
            found = self._gazetteer.geocode(ticket.address)
            if found is not None and found.confidence >= 0.7:
                street = street or found.street.name
                district = district or found.district
                if lat is None or lon is None:
                    lat, lon = found.lat, found.lon
                house = ticket.house or found.house or None
                return Place(street, house, district, lat, lon)
        return Place(street, ticket.house, district, lat, lon)

    def place_of_address(self, address: str, lat: float | None, lon: float | None) -> Place:
        """A place from a typed address (street, house, district via the gazetteer) and/or a map point."""
        found = self._gazetteer.geocode(address) if address.strip() else None
        if found is None or found.confidence < 0.7:
            return Place(lat=lat, lon=lon)
        if lat is None or lon is None:
            lat, lon = found.lat, found.lon  # the street's centre: the gazetteer has no houses
        return Place(found.street.name, found.house or None, found.district, lat, lon)

    async def for_phone(self, phone: str, category: str | None = None) -> list[tuple[IncidentView, TicketView]]:
        """Active incidents holding an address from this caller's earlier tickets (newest ticket first)."""
        normalized = try_normalize_phone(phone) if phone else None
        if normalized is None:
            return []
        incidents = await self.active()
        if not incidents:
            return []
        return self._holding(incidents, await self._tickets.tickets_for_phone(normalized, limit=20), category)

    def _holding(
        self, incidents: Sequence[IncidentView], tickets: Iterable[TicketView], category: str | None = None
    ) -> list[tuple[IncidentView, TicketView]]:
        """Each of ``incidents`` that holds the place of one of ``tickets``, with the first such ticket."""
        found: list[tuple[IncidentView, TicketView]] = []
        seen: set[int] = set()
        now = self.now()
        for ticket in tickets:
            place = self.place_of(ticket)
            for facts in active_incidents_at([i.facts for i in incidents], place, now, category):
                if facts.id not in seen:
                    seen.add(facts.id)
                    found.append((next(i for i in incidents if i.id == facts.id), ticket))
        return found

    async def caller_notes(self, phone: str) -> list[dict[str, Any]]:
        """For an operator's screen pop: active incidents holding the caller's known address."""
        return [self._caller_note(incident, ticket) for incident, ticket in await self.for_phone(phone)]

    async def callers_notes(
        self, tickets_by_phone: Mapping[str, Sequence[TicketView]]
    ) -> dict[str, list[dict[str, Any]]]:
        """:meth:`caller_notes` for many callers whose tickets (newest first) are already loaded:
        one look at the active incidents for all of them (a burst of screen pops, issue 19)."""
        incidents = await self.active() if tickets_by_phone else []
        return {
            phone: [self._caller_note(i, t) for i, t in self._holding(incidents, tickets)] if incidents else []
            for phone, tickets in tickets_by_phone.items()
        }

    def _caller_note(self, incident: IncidentView, ticket: TicketView) -> dict[str, Any]:
        return {
            "id": incident.id,
            "title": incident.title,
            "category_name": incident.category_name,
            "area": incident.area_text[:200],
            "address": ticket.address[:200],
            "expected_local": f"{incident.expected_at.astimezone(self.zone):%d.%m %H:%M}"
            if incident.expected_at
            else None,
            "url": f"/staff/incidents/{incident.id}",
            "master_number": incident.master_number,
        }

    async def for_place(self, place: Place, category: str | None = None) -> list[IncidentView]:
        incidents = await self.active()
        ids = {f.id for f in active_incidents_at([i.facts for i in incidents], place, self.now(), category)}
        return [i for i in incidents if i.id in ids]

    async def for_district(self, category: str, district: str) -> list[IncidentView]:
        """The keypad path: active incidents of a category that reach into a district."""
        result = []
        for incident in await self.active():
            if incident.category != category:
                continue
            if district in self.districts_of(incident.area):
                result.append(incident)
        return result

    def districts_of(self, area: Area) -> frozenset[str]:
        """Districts an area reaches: named ones, its streets', and those of streets inside its shapes."""
        found = set(area.districts_touched(self._street_districts))
        if area.circles or area.polygons:
            for street in self._reference.streets:
                if area.contains_point(street.lat, street.lon):
                    found.add(street.district)
        return frozenset(found)

    async def count_inside(self, area: Area) -> dict[str, int]:
        """Open tickets and distinct citizens whose place is inside (the editor's live count)."""
        area = self.normalise_area(area)
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        m.Ticket.street,
                        m.Ticket.house,
                        m.Ticket.district,
                        m.Ticket.lat,
                        m.Ticket.lon,
                        m.Ticket.address,
                        m.Ticket.citizen_id,
                    )
                    .where(m.Ticket.status.in_([s.value for s in OPEN_STATUSES]))
                    .order_by(m.Ticket.id.desc())
                    .limit(COUNT_LIMIT)
                )
            ).all()
        tickets, citizens = 0, set()
        for index, (street, house, district, lat, lon, address, citizen_id) in enumerate(rows):
            if index % 500 == 499:
                await asyncio.sleep(0)  # a big city: let other requests run between slices
            place = Place(street, house, district, lat, lon)
            if not area.contains(place) and street is None and address:
                found = self._gazetteer.geocode(address)
                if found is not None and found.confidence >= 0.7:
                    place = Place(
                        found.street.name,
                        house or found.house or None,
                        district or found.district,
                        lat if lat is not None else found.lat,
                        lon if lon is not None else found.lon,
                    )
            if area.contains(place):
                tickets += 1
                if citizen_id is not None:
                    citizens.add(citizen_id)
        return {"tickets": tickets, "citizens": len(citizens)}

    async def incidents_of_ticket(self, ticket_id: int) -> list[int]:
        async with self._sessions() as session:
            return list(
                (
                    await session.execute(
                        select(IncidentTicket.incident_id).where(IncidentTicket.ticket_id == ticket_id)
                    )
                ).scalars()
            )

    # ------------------------------------------------------------------ linking

    def public_note(self, incident: IncidentView) -> str:
        """What a linked ticket's citizen-facing channels say (Open311 status_notes, service_notice)."""
        when = (
            f"; ожидаемое время восстановления — {incident.expected_at.astimezone(self.zone):%d.%m %H:%M}"
            if incident.expected_at
            else ""
        )
        return f"Авария № {incident.id}: {incident.public_text or incident.title}{when}"[:500]

    async def link(self, incident_id: int, number: str, via: str) -> TicketView:
        """Link an existing open ticket to an active incident (idempotent); the ticket's ``extra``
        names the incident, so Open311 and the portal can say so."""
        ticket = await self._tickets.get(number)
        if ticket.status not in OPEN_STATUSES or ticket.status is Status.DONE:
            raise ValidationError("Привязать к аварии можно только открытую заявку", field="number")
        incident = await self.get(incident_id)
        async with self._sessions.begin() as session:
            row = await self._row(session, incident_id)
            if row.status != IncidentStatus.ACTIVE.value:
                raise ValidationError("Привязать заявку можно только к действующей аварии", field="incident")
            if await session.get(IncidentTicket, (incident_id, ticket.id)) is None:
                session.add(
                    IncidentTicket(incident_id=incident_id, ticket_id=ticket.id, via=via, created_at=self.now())
                )
        if ticket.extra.get("incident") != incident_id:
            ticket = await self._tickets.edit(
                number,
                {"extra": {"incident": incident_id, "incident_note": self.public_note(incident)}},
                INCIDENT_ACTOR,
            )
        self._publish_id(incident_id, "linked")
        return ticket

    async def join(self, incident_id: int, number: str, via: str) -> bool:
        """A new report offered to join an incident: linked when it is inside the area and of
        the incident's category (a forged or stale offer links nothing)."""
        try:
            incident = await self.get(incident_id)
            ticket = await self._tickets.get(number)
        except DomainError:
            return False
        if incident.status is not IncidentStatus.ACTIVE or ticket.category != incident.category:
            return False
        if not incident.area.contains(self.place_of(ticket)):
            return False
        await self.link(incident_id, number, via)
        return True

    async def subscribe(
        self, incident_id: int, phone: str, *, via: str = "ivr", address_from: TicketView | None = None
    ) -> Subscription:
        """The caller's report as a ticket linked to the master, with their number; no operator.

        A caller already linked to the incident with an open ticket gets that ticket back."""
        normalized = try_normalize_phone(phone)
        if normalized is None:
            raise ValidationError("Номер телефона не определён: подписаться нельзя", field="phone")
        incident = await self.get(incident_id)
        if incident.status is not IncidentStatus.ACTIVE:
            raise ValidationError("Авария уже не действует", field="incident")
        async with self._sessions() as session:
            existing = (
                await session.execute(
                    select(m.Ticket.number)
                    .join(IncidentTicket, IncidentTicket.ticket_id == m.Ticket.id)
                    .join(m.Citizen, m.Citizen.id == m.Ticket.citizen_id)
                    .where(
                        IncidentTicket.incident_id == incident_id,
                        m.Citizen.phone == normalized,
                        m.Ticket.status.in_([s.value for s in OPEN_STATUSES]),
                    )
                    .limit(1)
                )
            ).scalar_one_or_none()
        if existing is not None:
            return Subscription(await self._tickets.get(existing), created=False)
        source = address_from
        view = await self._tickets.create(
            NewTicket(
                channel=Channel.IVR if via == "ivr" else Channel.PHONE,
                phone=normalized,
                category=incident.category,
                title=incident.title[:300],
                description=(
                    f"Сообщение об аварии № {incident.id}: {incident.public_text or incident.title}. "
                    "Заявитель просит сообщить, когда восстановят."
                ),
                address=(source.address if source else "") or incident.area_text[:300],
                street=source.street if source else None,
                house=source.house if source else None,
                flat=source.flat if source else None,
                district=source.district if source else None,
                lat=source.lat if source else None,
                lon=source.lon if source else None,
                department=incident.department,
                extra={"incident": incident.id, "incident_note": self.public_note(incident)},
            ),
            Actor.system("голосовое меню" if via == "ivr" else "режим аварий"),
        )
        async with self._sessions.begin() as session:
            session.add(IncidentTicket(incident_id=incident_id, ticket_id=view.id, via=via, created_at=self.now()))
        self._publish(incident, "subscribed")
        return Subscription(view, created=True)

    async def record_call(self, incident_id: int, *, phone: str, call_uniqueid: str, how: str, outcome: str) -> None:
        async with self._sessions.begin() as session:
            session.add(
                IncidentCall(
                    incident_id=incident_id,
                    phone=(phone or "")[:20],
                    call_uniqueid=(call_uniqueid or "")[:64],
                    how=how[:16],
                    outcome=outcome[:16],
                    at=self.now(),
                )
            )
        self._publish_id(incident_id, "call")

    # ------------------------------------------------------------------ restoration

    async def restore(self, incident_id: int, actor: Actor, note: str) -> RestoreResult:
        """Mark restored; move every linked open ticket to done with the note (callbacks follow)."""
        note = (note or "").strip()
        if not note:
            raise ValidationError("Опишите, что сделано: текст попадёт в каждую привязанную заявку", field="note")
        return await self._end(incident_id, IncidentStatus.RESTORED, actor, note)

    async def cancel(self, incident_id: int, actor: Actor, note: str) -> RestoreResult:
        """A mistaken or called-off incident: linked tickets stay as they are; the master is rejected."""
        return await self._end(incident_id, IncidentStatus.CANCELLED, actor, (note or "").strip() or "Авария отменена")

    async def _end(self, incident_id: int, to: IncidentStatus, actor: Actor, note: str) -> RestoreResult:
        now = self.now()
        async with self._sessions.begin() as session:
            row = await self._row(session, incident_id, for_update=True)
            check_incident_move(IncidentStatus(row.status), to)
            row.status, row.note, row.ended_at, row.updated_at = to.value, note, now, now
            linked = (
                await session.execute(
                    select(m.Ticket.number, m.Ticket.status, m.Ticket.citizen_id, m.Ticket.id)
                    .join(IncidentTicket, IncidentTicket.ticket_id == m.Ticket.id)
                    .where(IncidentTicket.incident_id == incident_id)
                    .order_by(m.Ticket.citizen_id, m.Ticket.id)
                )
            ).all()
            master_id = row.master_ticket_id
        done: list[str] = []
        skipped: list[tuple[str, str]] = []
        citizens: set[int] = set()
        if to is IncidentStatus.CANCELLED:
            for number, _status, _citizen, ticket_id in linked:
                if ticket_id == master_id:
                    await self._reject_master(number, actor, note, skipped)
        else:
            text = f"Авария устранена: {note}"
            # Everything to "in progress" first, then the "done" moves back to back: a citizen's
            # tickets join one planned callback (the callbacks store merges per citizen).
            ready = []
            for number, status, citizen_id, _ticket_id in linked:
                try:
                    if await self._to_in_progress(number, Status(status), actor):
                        ready.append((number, citizen_id))
                    else:
                        skipped.append((number, f"статус «{status}»"))
                except DomainError as err:
                    skipped.append((number, err.message))
            for number, citizen_id in ready:
                try:
                    await self._tickets.move(number, Status.DONE, actor, note=text)
                    done.append(number)
                    if citizen_id is not None:
                        citizens.add(citizen_id)
                except DomainError as err:
                    skipped.append((number, err.message))
        for number, why in skipped:
            logger.warning("incident %s: ticket %s not moved: %s", incident_id, number, why)
        view = await self.get(incident_id)
        self._publish(view, to.value)
        return RestoreResult(view, done, skipped, len(citizens))

    async def _to_in_progress(self, number: str, status: Status, actor: Actor) -> bool:
        if status in (Status.DONE,):
            return False  # already done: its callback was planned then
        if status not in OPEN_STATUSES:
            return False
        ticket = await self._tickets.get(number)
        if ticket.is_draft:
            raise ValidationError("черновик из голосового сообщения: проверьте его вручную", field="draft")
        if status is Status.NEW:
            department = ticket.department or self._reference.category(ticket.category or "other").department
            await self._tickets.move(number, Status.DISPATCHED, actor, department=department)
            status = Status.DISPATCHED
        if status is Status.DISPATCHED:
            await self._tickets.move(number, Status.IN_PROGRESS, actor)
        return True

    async def _reject_master(self, number: str, actor: Actor, note: str, skipped: list[tuple[str, str]]) -> None:
        try:
            ticket = await self._tickets.get(number)
            if ticket.status is Status.DISPATCHED:
                await self._tickets.move(number, Status.NEW, actor, note=note)
            if ticket.status in (Status.NEW, Status.DISPATCHED):
                await self._tickets.move(number, Status.REJECTED, actor, note=note)
        except DomainError as err:
            skipped.append((number, err.message))

    # ------------------------------------------------------------------ board

    async def board(self, incident_id: int) -> Board:
        incident = await self.get(incident_id)
        async with self._sessions() as session:
            tickets = (
                (
                    await session.execute(
                        select(m.Ticket.number)
                        .join(IncidentTicket, IncidentTicket.ticket_id == m.Ticket.id)
                        .where(IncidentTicket.incident_id == incident_id)
                        .order_by(m.Ticket.id)
                    )
                )
                .scalars()
                .all()
            )
            calls = dict(
                (
                    await session.execute(
                        select(IncidentCall.outcome, func.count())
                        .where(IncidentCall.incident_id == incident_id)
                        .group_by(IncidentCall.outcome)
                    )
                ).all()
            )
            linked_ids = select(IncidentTicket.ticket_id).where(IncidentTicket.incident_id == incident_id)
            cb_ids = select(m.CallbackTicket.callback_id).where(m.CallbackTicket.ticket_id.in_(linked_ids))
            callbacks = dict(
                (
                    await session.execute(
                        select(m.Callback.state, func.count())
                        .where(m.Callback.id.in_(cb_ids))
                        .group_by(m.Callback.state)
                    )
                ).all()
            )
            outcomes = dict(
                (
                    await session.execute(
                        select(m.CallbackAttempt.result, func.count())
                        .where(m.CallbackAttempt.callback_id.in_(cb_ids), m.CallbackAttempt.result.is_not(None))
                        .group_by(m.CallbackAttempt.result)
                    )
                ).all()
            )
        views = [await self._tickets.get(n) for n in tickets]
        subscribers = {v.phone for v in views if v.phone}
        total_calls = sum(calls.values())
        return Board(
            incident=incident,
            linked_tickets=len(views),
            open_tickets=sum(1 for v in views if v.status in OPEN_STATUSES and v.status is not Status.DONE),
            subscribers=len(subscribers),
            ivr_calls=total_calls,
            ivr_subscribed=calls.get("subscribed", 0),
            ivr_operator=calls.get("operator", 0),
            ivr_other=total_calls - calls.get("subscribed", 0) - calls.get("operator", 0),
            callbacks={str(k): v for k, v in callbacks.items()},
            callback_outcomes={str(k): v for k, v in outcomes.items()},
            tickets=views,
        )

    async def summary(self) -> list[dict[str, Any]]:
        """Active incidents with their figures, for a wallboard (no HTML: the caller renders it)."""
        result = []
        for incident in await self.active():
            board = await self.board(incident.id)
            result.append(
                {
                    "id": incident.id,
                    "title": incident.title,
                    "category_name": incident.category_name,
                    "area": incident.area_text,
                    "expected_local": f"{incident.expected_at.astimezone(self.zone):%H:%M}"
                    if incident.expected_at
                    else None,
                    "subscribers": board.subscribers,
                    "ivr_calls": board.ivr_calls,
                    "ivr_subscribed": board.ivr_subscribed,
                    "ivr_operator": board.ivr_operator,
                }
            )
        return result

    # ------------------------------------------------------------------ helpers

    async def _row(self, session: AsyncSession, incident_id: int, *, for_update: bool = False) -> Incident:
        stmt = select(Incident).where(Incident.id == incident_id)
        if for_update and session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = (await session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise IncidentNotFound(incident_id)
        return row

    async def _view(self, session: AsyncSession, row: Incident) -> IncidentView:
        master = await session.get(m.Ticket, row.master_ticket_id) if row.master_ticket_id else None
        area = area_from_json(row.area)
        category = (
            self._reference.category(row.category_code) if self._reference.has_category(row.category_code) else None
        )
        return IncidentView(
            id=row.id,
            category=row.category_code,
            category_name=category.name if category else row.category_code,
            department=row.department_code,
            title=row.title,
            public_text=row.public_text,
            area=area,
            area_text=area.describe(),
            starts_at=row.starts_at,
            expected_at=row.expected_at,
            status=IncidentStatus(row.status),
            master_number=master.number if master else None,
            recording=row.recording,
            source=row.source,
            external_ref=row.external_ref,
            note=row.note,
            created_at=row.created_at,
            ended_at=row.ended_at,
        )

    def _publish(self, view: IncidentView, change: str) -> None:
        self._publish_id(view.id, change)

    def _publish_id(self, incident_id: int, change: str) -> None:
        if self._hub is not None:
            self._hub.publish({"type": "incident", "id": incident_id, "change": change})


def parse_local_time(text: str, zone: ZoneInfo, *, field_name: str) -> datetime | None:
    """ "2026-12-06 18:30" / "2026-12-06T18:30" / "06.12.2026 18:30" in local time -> aware UTC; "" -> None."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"Время «{text}»: ожидается «ГГГГ-ММ-ДД ЧЧ:ММ»", field=field_name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
