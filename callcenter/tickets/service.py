"""The ticket service: every channel (web, phone, IVR, Open311, CLI) creates and moves tickets here.

Each public method is one transaction. Status moves go through the pure rules in
``callcenter.domain.tickets``; each change writes one event row; after the commit a
"ticket" message goes to the event hub for live boards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Select, column, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.clock import Clock, utcnow
from callcenter.domain.done_evidence import DEFAULT_DONE_RULE, DoneRule, photo_is_public
from callcenter.domain.errors import (
    ConflictError,
    DomainError,
    TicketNotFound,
    ValidationError,
)
from callcenter.domain.phones import normalize_phone
from callcenter.domain.privacy import (
    MAX_PUBLIC_SUMMARY,
    PUBLIC_SUMMARY,
    PUBLIC_SUMMARY_CONFIRMED,
    PUBLISHER_ROLES,
    mask_personal,
)
from callcenter.domain.ticket_numbers import format_ticket_number
from callcenter.domain.tickets import (
    Actor,
    Channel,
    Status,
    StatusEvent,
    TicketState,
    compute_timers,
    plan_transition,
)
from callcenter.events import EventHub
from callcenter.store import models as m
from callcenter.store.search import RussianStemmer, fts5_match_query, index_ticket_sqlite, postgres_match
from callcenter.tickets.schemas import (
    EDITABLE_FIELDS,
    AttachmentView,
    CreatedTicket,
    DonePhoto,
    EventView,
    NewAttachment,
    NewEvent,
    NewTicket,
    TicketDetail,
    TicketFilter,
    TicketPage,
    TicketView,
)

logger = logging.getLogger(__name__)

# Runs inside the transaction that writes an event of a kind it was registered for (see
# TicketService.add_in_transaction_hook), after the event row is flushed (it has its id): what it
# adds commits or rolls back with the event (the notifications outbox). It must do no I/O but
# through ``session``.
InTransactionHook = Callable[[AsyncSession, m.Ticket, m.TicketEvent], Awaitable[None]]

ID_SLACK = 1000  # see TicketService._date_filter


class TicketService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: EventHub | None = None,
        *,
        clock: Clock = utcnow,
        zone: ZoneInfo = ZoneInfo("Europe/Simferopol"),
        done_rules: Callable[[str | None], DoneRule] | None = None,
    ) -> None:
        self._sessions = sessions
        # What «Выполнено» needs, by category code (the reference data's flags).
        self.done_rule: Callable[[str | None], DoneRule] = done_rules or (lambda _category: DEFAULT_DONE_RULE)
        self._hub = hub
        self._clock = clock
        self._zone = zone
        self._stemmer = RussianStemmer()
        self._names: dict[str, dict[str, str]] | None = None
        self._categories: dict[str, tuple[str, str | None]] | None = None
        self.on_status_change: list[Callable[[TicketView, Status, Actor], Any]] = []
        self._hooks: dict[str, list[InTransactionHook]] = {}  # by event kind

    # ------------------------------------------------------------------ create

    async def create(self, data: NewTicket, actor: Actor) -> TicketView:
        """Create a ticket with its number and first event; the citizen is found or added by phone."""
        return (await self.create_with(data, actor)).view

    async def create_with(
        self,
        data: NewTicket,
        actor: Actor,
        *,
        attachments: Sequence[NewAttachment] = (),
        events: Sequence[NewEvent] = (),
    ) -> CreatedTicket:
        """``create``, and in the same transaction the ticket's first ``attachments`` and then
        ``events``: the rows and the timeline are what ``create`` followed by ``add_attachment``
        and ``record_event`` calls write, in that order, with the same in-transaction hooks (an
        IVR voice report is one transaction instead of three)."""
        async with self._sessions.begin() as session:
            department = data.department
            if data.category is not None:
                department = department or (await self._category_info(session, data.category))[1]
            citizen = await self._citizen_for(session, data)
            number = await self._next_number(session)
            now = self._clock()
            ticket = m.Ticket(
                number=number,
                channel=Channel(data.channel).value,
                status=Status.NEW.value,
                is_draft=data.is_draft,
                category_code=data.category,
                department_code=department,
                citizen_id=citizen.id if citizen else None,
                title=data.title.strip()[:300],
                description=data.description.strip(),
                address=data.address.strip()[:300],
                street=data.street,
                house=data.house,
                flat=data.flat,
                district=data.district,
                lat=data.lat,
                lon=data.lon,
                created_by_id=actor.user_id,
                created_at=now,
                updated_at=now,
                version=1,
                extra=dict(data.extra),
            )
            session.add(ticket)
            await session.flush()
            event = self._event(
                ticket,
                actor,
                "created",
                now,
                to_status=Status.NEW,
                data={"channel": ticket.channel, "draft": data.is_draft},
            )
            session.add(event)
            await self._run_hooks(session, ticket, event)
            await self._index(session, ticket, new=True)
            view = await self._view(session, ticket, citizen, now)
            attachment_ids = tuple([await self._attach(session, ticket, a, actor) for a in attachments])
            for item in events:
                await self._add_event(session, ticket, item, actor)
        self._publish("created", view)
        return CreatedTicket(view, attachment_ids)

    async def _next_number(self, session: AsyncSession) -> str:
        """Take the next number of the year atomically (row lock on PostgreSQL, write lock on SQLite)."""
        year = self._clock().astimezone(self._zone).year
        stmt = (
            update(m.TicketCounter)
            .where(m.TicketCounter.year == year)
            .values(last_value=m.TicketCounter.last_value + 1)
            .returning(m.TicketCounter.last_value)
        )
        value = (await session.execute(stmt)).scalar_one_or_none()
        if value is None:
            try:
                async with session.begin_nested():
                    session.add(m.TicketCounter(year=year, last_value=1))
                value = 1
            except IntegrityError:
                # Another transaction made this year's row first: take a number from it.
                value = (await session.execute(stmt)).scalar_one()
        return format_ticket_number(year, value)

    async def _citizen_for(self, session: AsyncSession, data: NewTicket) -> m.Citizen | None:
        if not data.phone:
            return None
        try:
            phone = normalize_phone(data.phone)
        except DomainError as err:
            raise ValidationError(err.message, field="phone") from err
        return await self.ensure_citizen(session, phone, data.citizen_name, data.citizen_email)

    async def ensure_citizen(
        self, session: AsyncSession, phone: str, name: str | None = None, email: str | None = None
    ) -> m.Citizen:
        query = select(m.Citizen).where(m.Citizen.phone == phone)
        citizen = (await session.execute(query)).scalar_one_or_none()
        if citizen is None:
            # ON CONFLICT DO NOTHING: a concurrent request may add the same citizen first.
            insert = sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert
            await session.execute(
                insert(m.Citizen)
                .values(phone=phone, name=name, email=email, created_at=self._clock())
                .on_conflict_do_nothing()
            )
            citizen = (await session.execute(query)).scalar_one()
        if name and not citizen.name:
            citizen.name = name
        if email and not citizen.email:
            citizen.email = email
        return citizen

    async def _category_info(self, session: AsyncSession, code: str) -> tuple[str, str | None]:
        """(name, default department) of an active category, from a cache of the small categories table."""
        if self._categories is None:
            rows = (
                await session.execute(
                    select(m.Category.code, m.Category.name, m.Category.department_code).where(
                        m.Category.active.is_(True)
                    )
                )
            ).all()
            self._categories = {c: (n, d) for c, n, d in rows}
        info = self._categories.get(code)
        if info is None:
            raise ValidationError(f"Неизвестная категория «{code}»", field="category")
        return info

    # ------------------------------------------------------------------ status moves

    async def move(
        self,
        number: str,
        to: Status | str,
        actor: Actor,
        *,
        note: str | None = None,
        department: str | None = None,
        duplicate_of: str | None = None,
        expected_version: int | None = None,
        public: bool = True,
        photo: DonePhoto | None = None,
    ) -> TicketView:
        """Move a ticket through the lifecycle; refused moves raise a DomainError, nothing is written.

        ``photo`` (already stored on disk) goes with a «Выполнено» move: its attachment row is
        written in the same transaction, and the category's rule decides whether one is required.
        """
        target = Status(to)
        async with self._sessions.begin() as session:
            ticket = await self._load_for_update(session, number, expected_version)
            state = TicketState(ticket.number, Status(ticket.status), ticket.department_code, ticket.is_draft)
            rule = self.done_rule(ticket.category_code)
            plan = plan_transition(
                state,
                target,
                actor,
                note=note,
                department=department,
                duplicate_of=duplicate_of,
                done_rule=rule,
                photos=1 if photo is not None else 0,
            )
            if plan is None:
                return await self._view(session, ticket)
            if photo is not None and plan.to_status is not Status.DONE:
                raise ValidationError("Фото прикладывается только к отметке «Выполнено»", field="photo")
            if department and target is Status.DISPATCHED:
                if await session.get(m.Department, department) is None:
                    raise ValidationError(f"Неизвестный исполнитель «{department}»", field="department")
            original = await self._find_duplicate_target(session, plan.duplicate_of)
            now = self._clock()
            ticket.status = plan.to_status.value
            ticket.department_code = plan.department
            ticket.duplicate_of_id = original.id if original else None
            await self._bump(session, ticket, now)
            data: dict[str, Any] = {"department": plan.department}
            if original:
                data["duplicate_of"] = original.number
            if plan.reopened:
                data["reopened"] = True
            if photo is not None:
                data["photo"] = await self._add_done_photo(
                    session, ticket, actor, photo, now, public=photo_is_public(rule, note_public=public)
                )
            event = self._event(
                ticket,
                actor,
                "status",
                now,
                from_status=plan.from_status,
                to_status=plan.to_status,
                note=plan.note,
                data=data,
                public=public,
            )
            session.add(event)
            await self._run_hooks(session, ticket, event)
            view = await self._view(session, ticket, last_change_at=now)
        self._publish("status", view, previous=plan.from_status.value)
        for listener in self.on_status_change:
            await listener(view, plan.from_status, actor)
        return view

    async def _add_done_photo(
        self, session: AsyncSession, ticket: m.Ticket, actor: Actor, photo: DonePhoto, now: datetime, *, public: bool
    ) -> int:
        row = m.Attachment(
            ticket_id=ticket.id,
            kind="photo",
            path=photo.path,
            mime="image/jpeg",
            size=photo.size,
            sha256=photo.sha256,
            public=public,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        session.add(
            self._event(ticket, actor, "attachment", now, public=public, data={"attachment": row.id, "kind": "photo"})
        )
        return row.id

    async def _find_duplicate_target(self, session: AsyncSession, number: str | None) -> m.Ticket | None:
        if not number:
            return None
        original = (await session.execute(select(m.Ticket).where(m.Ticket.number == number))).scalar_one_or_none()
        if original is None:
            raise ValidationError(f"Заявка № {number}, дублем которой названа эта, не найдена", field="duplicate_of")
        return original

    async def _load_for_update(self, session: AsyncSession, number: str, expected_version: int | None) -> m.Ticket:
        stmt = select(m.Ticket).where(m.Ticket.number == number)
        if session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        ticket = (await session.execute(stmt)).scalar_one_or_none()
        if ticket is None:
            raise TicketNotFound(number)
        if expected_version is not None and ticket.version != expected_version:
            raise ConflictError(number, expected_version, ticket.version)
        return ticket

    async def _bump(self, session: AsyncSession, ticket: m.Ticket, now: datetime) -> None:
        """Write the version check into the UPDATE itself, so no edit is ever silently lost."""
        seen = ticket.version
        result = await session.execute(
            update(m.Ticket)
            .where(m.Ticket.id == ticket.id, m.Ticket.version == seen)
            .values(version=seen + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise ConflictError(ticket.number, seen, None)
        ticket.version = seen + 1
        ticket.updated_at = now

    # ------------------------------------------------------------------ edits and notes

    async def edit(
        self,
        number: str,
        changes: dict[str, Any],
        actor: Actor,
        *,
        expected_version: int | None = None,
        confirm_draft: bool = False,
    ) -> TicketView:
        """Change ticket fields (and confirm a voice draft); the event records old and new values."""
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValidationError(f"Поле «{sorted(unknown)[0]}» нельзя изменить", field=sorted(unknown)[0])
        async with self._sessions.begin() as session:
            ticket = await self._load_for_update(session, number, expected_version)
            if Status(ticket.status) in (Status.CLOSED, Status.ARCHIVED):
                raise ValidationError("Закрытую заявку изменить нельзя", field="status")
            diff = await self._apply_changes(session, ticket, changes)
            if confirm_draft and ticket.is_draft:
                ticket.is_draft = False
                diff["is_draft"] = [True, False]
            if not diff:
                return await self._view(session, ticket)
            now = self._clock()
            await self._bump(session, ticket, now)
            note = "Черновик подтверждён оператором" if "is_draft" in diff else None
            event = self._event(ticket, actor, "edit", now, note=note, data={"changes": diff}, public=False)
            session.add(event)
            await self._run_hooks(session, ticket, event)
            await self._index(session, ticket)
            view = await self._view(session, ticket)
        self._publish("edited", view)
        return view

    async def _apply_changes(
        self, session: AsyncSession, ticket: m.Ticket, changes: dict[str, Any]
    ) -> dict[str, list[Any]]:
        diff: dict[str, list[Any]] = {}
        for name, value in changes.items():
            column = "category_code" if name == "category" else name
            if name == "extra":
                value = {**(ticket.extra or {}), **value}
            if name == "category" and value is not None:
                department = (await self._category_info(session, value))[1]
                if ticket.status == Status.NEW.value and department:
                    ticket.department_code = department
            old = getattr(ticket, column)
            if isinstance(value, str):
                value = value.strip()
            if old != value:
                setattr(ticket, column, value)
                diff[name] = [old, value]
        return diff

    async def add_note(self, number: str, note: str, actor: Actor, *, public: bool = False) -> TicketView:
        if not (note or "").strip():
            raise ValidationError("Текст заметки пуст", field="note")
        async with self._sessions.begin() as session:
            ticket = await self._load_for_update(session, number, None)
            session.add(self._event(ticket, actor, "note", self._clock(), note=note.strip(), public=public))
            view = await self._view(session, ticket)
        self._publish("note", view)
        return view

    async def set_public_summary(
        self, number: str, text: str, actor: Actor, *, expected_version: int | None = None
    ) -> TicketView:
        """Write or confirm the text public views may show for the ticket (``PUBLIC_SUMMARY``).

        Only operators, supervisors and admins publish (executors and analysts do not). The text
        is masked before it is stored (phones, e-mails, flats, names), so what is kept is what is
        published; an empty text withdraws it (public views then show the category's name).
        Allowed in any status: taking personal data off a public page cannot wait for a reopen.
        The timeline gets an internal ``public_summary`` event with the published text."""
        if actor.role not in PUBLISHER_ROLES:
            raise ValidationError("Публичный текст заявки подтверждают оператор, старший смены или администратор")
        masked = mask_personal(text.strip()) if text and text.strip() else ""
        if len(masked) > MAX_PUBLIC_SUMMARY:
            raise ValidationError(
                f"Слишком длинный текст: не больше {MAX_PUBLIC_SUMMARY} символов", field="public_summary"
            )
        async with self._sessions.begin() as session:
            ticket = await self._load_for_update(session, number, expected_version)
            now = self._clock()
            extra = dict(ticket.extra or {})
            if masked:
                extra[PUBLIC_SUMMARY] = masked
                extra[PUBLIC_SUMMARY_CONFIRMED] = {"by": actor.name, "user_id": actor.user_id, "at": now.isoformat()}
            else:
                extra.pop(PUBLIC_SUMMARY, None)
                extra.pop(PUBLIC_SUMMARY_CONFIRMED, None)
            ticket.extra = extra
            await self._bump(session, ticket, now)
            note = masked or "Публичный текст снят: в открытых данных видна только категория"
            session.add(self._event(ticket, actor, "public_summary", now, note=note, public=False))
            view = await self._view(session, ticket)
        self._publish("edited", view)
        return view

    async def record_event(
        self,
        number: str,
        kind: str,
        actor: Actor,
        *,
        note: str | None = None,
        data: dict[str, Any] | None = None,
        public: bool = False,
    ) -> None:
        """An event that is not a status move (a call, a callback attempt, a transcript, an
        escalation step). The in-transaction hooks see it too (the outbox queues an escalation's
        e-mail to the department's duty address with the event that records the step)."""
        async with self._sessions.begin() as session:
            ticket = await self._load_for_update(session, number, None)
            await self._add_event(session, ticket, NewEvent(kind, note, data or {}, public), actor)

    async def _add_event(self, session: AsyncSession, ticket: m.Ticket, item: NewEvent, actor: Actor) -> None:
        event = self._event(
            ticket, item.actor or actor, item.kind, self._clock(), note=item.note, data=item.data, public=item.public
        )
        session.add(event)
        await self._run_hooks(session, ticket, event)

    # ------------------------------------------------------------------ reads

    async def get(self, number: str) -> TicketView:
        async with self._sessions() as session:
            ticket = (await session.execute(select(m.Ticket).where(m.Ticket.number == number))).scalar_one_or_none()
            if ticket is None:
                raise TicketNotFound(number)
            return await self._view(session, ticket)

    async def number_for_call(self, call_uniqueid: str, *, within: timedelta) -> str | None:
        """The number of the newest ticket the IVR made during the call ``call_uniqueid``
        (``extra["call_uniqueid"]``, set only on voice drafts) in the last ``within``, else None.

        Both SQLite and PostgreSQL walk ix_tickets_created_at over that range (a few dozen
        tickets an hour) and compare the JSON field only there: no full scan. No channel
        condition on purpose: SQLite would pick ix_tickets_channel_id for it, every IVR ticket.
        """
        if not call_uniqueid:
            return None
        since = self._clock() - within
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(m.Ticket.number)
                    .where(
                        m.Ticket.created_at >= since,
                        m.Ticket.extra["call_uniqueid"].as_string() == call_uniqueid,
                    )
                    .order_by(m.Ticket.created_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()

    async def detail(self, number: str, *, include_internal: bool = True) -> TicketDetail:
        """Everything the ticket page shows; ``include_internal=False`` for the public tracking page."""
        async with self._sessions() as session:
            ticket = (await session.execute(select(m.Ticket).where(m.Ticket.number == number))).scalar_one_or_none()
            if ticket is None:
                raise TicketNotFound(number)
            events = (
                (
                    await session.execute(
                        select(m.TicketEvent)
                        .where(m.TicketEvent.ticket_id == ticket.id)
                        .order_by(m.TicketEvent.at, m.TicketEvent.id)
                    )
                )
                .scalars()
                .all()
            )
            attachments = (
                (
                    await session.execute(
                        select(m.Attachment).where(m.Attachment.ticket_id == ticket.id).order_by(m.Attachment.id)
                    )
                )
                .scalars()
                .all()
            )
            view = await self._view(session, ticket)
            others = await self._other_tickets(session, ticket)
            duplicates = (
                (await session.execute(select(m.Ticket.number).where(m.Ticket.duplicate_of_id == ticket.id)))
                .scalars()
                .all()
            )
        status_events = [StatusEvent(e.at, Status(e.to_status)) for e in events if e.kind == "status"]
        timers = compute_timers(ticket.created_at, status_events, self._clock())
        return TicketDetail(
            ticket=view,
            events=[_event_view(e) for e in events if include_internal or e.public],
            attachments=[_attachment_view(a) for a in attachments if include_internal or a.public],
            timers=timers,
            other_tickets=others,
            duplicates=list(duplicates),
        )

    async def _other_tickets(self, session: AsyncSession, ticket: m.Ticket) -> list[TicketView]:
        if ticket.citizen_id is None:
            return []
        rows = (
            (
                await session.execute(
                    select(m.Ticket)
                    .where(m.Ticket.citizen_id == ticket.citizen_id, m.Ticket.id != ticket.id)
                    .order_by(m.Ticket.id.desc())
                    .limit(20)
                )
            )
            .scalars()
            .all()
        )
        return await self._views(session, rows)

    async def tickets_for_phone(self, phone: str, *, open_only: bool = False, limit: int = 20) -> list[TicketView]:
        """The citizen's tickets from every channel, newest first."""
        normalized = normalize_phone(phone)
        async with self._sessions() as session:
            stmt = (
                select(m.Ticket)
                .join(m.Citizen, m.Ticket.citizen_id == m.Citizen.id)
                .where(m.Citizen.phone == normalized)
                .order_by(m.Ticket.id.desc())
                .limit(limit)
            )
            if open_only:
                stmt = stmt.where(
                    m.Ticket.status.in_(
                        [s.value for s in (Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE)]
                    )
                )
            return await self._views(session, (await session.execute(stmt)).scalars().all())

    async def tickets_for_phones(self, phones: Sequence[str], *, limit: int = 20) -> dict[str, list[TicketView]]:
        """Each phone's tickets from every channel, newest first, ``limit`` each: one round of
        queries for many callers at once (a burst of screen pops), keyed by the phones as given."""
        wanted = {phone: normalize_phone(phone) for phone in phones}
        if not wanted:
            return {}
        async with self._sessions() as session:
            rank = func.row_number().over(partition_by=m.Ticket.citizen_id, order_by=m.Ticket.id.desc())
            ranked = (
                select(m.Ticket.id, m.Citizen.phone, rank.label("rank"))
                .join(m.Citizen, m.Ticket.citizen_id == m.Citizen.id)
                .where(m.Citizen.phone.in_(sorted(set(wanted.values()))))
                .subquery()
            )
            rows = (
                await session.execute(
                    select(m.Ticket, ranked.c.phone)
                    .join(ranked, ranked.c.id == m.Ticket.id)
                    .where(ranked.c.rank <= limit)
                    .order_by(m.Ticket.id.desc())
                )
            ).all()
            views = await self._views(session, [ticket for ticket, _ in rows])
        found: dict[str, list[TicketView]] = {}
        for (_, phone), view in zip(rows, views, strict=True):
            found.setdefault(phone, []).append(view)
        return {given: found.get(normalized, []) for given, normalized in wanted.items()}

    async def list(self, filters: TicketFilter, *, before_id: int | None = None, limit: int = 50) -> TicketPage:
        """Newest first, keyset-paged by id so page 1,000 costs what page 1 does."""
        limit = max(1, min(limit, 200))
        async with self._sessions() as session:
            stmt = await self._filtered(session, filters)
            if before_id is not None:
                stmt = stmt.where(m.Ticket.id < before_id)
            rows = (await session.execute(stmt.order_by(m.Ticket.id.desc()).limit(limit + 1))).scalars().all()
            views = await self._views(session, rows[:limit])
        next_id = rows[limit - 1].id if len(rows) > limit else None
        return TicketPage(views, next_id)

    async def count(self, filters: TicketFilter) -> int:
        async with self._sessions() as session:
            stmt = await self._filtered(session, filters)
            return (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()

    @staticmethod
    def _incident_filter(stmt: Select[tuple[m.Ticket]], f: TicketFilter) -> Select[tuple[m.Ticket]]:
        """Outage links live in ``extra`` (``incident``, ``incident_master``: set by the incidents feature)."""
        incident = m.Ticket.extra["incident"].as_integer()
        if f.incident is not None:
            stmt = stmt.where(incident == f.incident)
        if f.fold_linked:
            master = m.Ticket.extra["incident_master"].as_boolean()
            stmt = stmt.where(or_(incident.is_(None), master.is_(True), m.Ticket.status == Status.IN_PROGRESS.value))
        return stmt

    async def _filtered(self, session: AsyncSession, f: TicketFilter) -> Select[tuple[m.Ticket]]:
        stmt = select(m.Ticket)
        if f.statuses:
            stmt = stmt.where(m.Ticket.status.in_([s.value for s in f.statuses]))
        for field, value in (
            (m.Ticket.category_code, f.category),
            (m.Ticket.department_code, f.department),
            (m.Ticket.channel, f.channel.value if f.channel else None),
            (m.Ticket.district, f.district),
            (m.Ticket.street, f.street),
            (m.Ticket.house, f.house),
        ):
            if value:
                stmt = stmt.where(field == value)
        if f.drafts_only:
            stmt = stmt.where(m.Ticket.is_draft.is_(True))
        if f.incident is not None or f.fold_linked:
            stmt = self._incident_filter(stmt, f)
        if f.date_from or f.date_to:
            stmt = self._date_filter(stmt, f)
        if f.phone:
            citizen = select(m.Citizen.id).where(m.Citizen.phone == normalize_phone(f.phone))
            stmt = stmt.where(m.Ticket.citizen_id.in_(citizen.scalar_subquery()))
        if f.query and f.query.strip():
            stmt = self._text_filter(session, stmt, f.query.strip())
        return stmt

    def _date_filter(self, stmt: Select[tuple[m.Ticket]], f: TicketFilter) -> Select[tuple[m.Ticket]]:
        """Dates become an id range too, so the newest-first scan walks the primary key.

        Ids grow with creation time; the id of the first ticket at each bound (one index probe on
        created_at) widened by ID_SLACK covers tickets created concurrently a moment apart, and the
        created_at condition itself keeps the result exact.
        """
        created = m.Ticket.created_at
        if f.date_from:
            start = self._local_midnight(f.date_from)
            first = select(m.Ticket.id).where(created >= start).order_by(created).limit(1).scalar_subquery()
            stmt = stmt.where(created >= start, m.Ticket.id >= func.coalesce(first, 0) - ID_SLACK)
        if f.date_to:
            end = self._local_midnight(f.date_to) + timedelta(days=1)
            last = select(m.Ticket.id).where(created < end).order_by(created.desc()).limit(1).scalar_subquery()
            stmt = stmt.where(created < end, m.Ticket.id <= func.coalesce(last, 0) + ID_SLACK)
        return stmt

    def _text_filter(self, session: AsyncSession, stmt: Select[tuple[m.Ticket]], query: str) -> Select[tuple[m.Ticket]]:
        digits = "".join(ch for ch in query if ch.isdigit())
        if digits and len(digits) >= 7 and len(digits) == len(query.replace(" ", "").replace("-", "")):
            return stmt.where(m.Ticket.number == digits)
        if session.bind.dialect.name == "postgresql":
            return stmt.where(postgres_match(query))
        match = fts5_match_query(self._stemmer, query)
        if match is None:
            return stmt.where(m.Ticket.id.is_(None))
        ids = text("SELECT rowid AS id FROM tickets_fts WHERE tickets_fts MATCH :fts").bindparams(fts=match)
        return stmt.where(m.Ticket.id.in_(ids.columns(column("id", Integer)).subquery().select()))

    def _local_midnight(self, day: Any) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self._zone).astimezone(UTC)

    # ------------------------------------------------------------------ attachments

    async def add_attachment(
        self,
        number: str,
        *,
        kind: str,
        path: str,
        mime: str,
        size: int,
        sha256: str | None,
        public: bool,
        actor: Actor,
        transcript_status: str | None = None,
    ) -> int:
        item = NewAttachment(kind, path, mime, size, sha256, public, transcript_status)
        async with self._sessions.begin() as session:
            ticket = await self._load_for_update(session, number, None)
            return await self._attach(session, ticket, item, actor)

    async def _attach(self, session: AsyncSession, ticket: m.Ticket, item: NewAttachment, actor: Actor) -> int:
        """The attachment row and its timeline event (no in-transaction hooks, as ever)."""
        row = m.Attachment(
            ticket_id=ticket.id,
            kind=item.kind,
            path=item.path,
            mime=item.mime,
            size=item.size,
            sha256=item.sha256,
            public=item.public,
            created_at=self._clock(),
            transcript_status=item.transcript_status,
        )
        session.add(row)
        await session.flush()
        session.add(
            self._event(
                ticket,
                actor,
                "attachment",
                self._clock(),
                public=item.public,
                data={"attachment": row.id, "kind": item.kind},
            )
        )
        return row.id

    async def set_transcript(self, attachment_id: int, status: str, transcript: dict[str, Any] | None) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(m.Attachment, attachment_id)
            if row is None:
                raise DomainError(f"Вложение {attachment_id} не найдено")
            row.transcript_status = status
            row.transcript = transcript

    # ------------------------------------------------------------------ helpers

    def _event(
        self,
        ticket: m.Ticket,
        actor: Actor,
        kind: str,
        at: datetime,
        *,
        from_status: Status | None = None,
        to_status: Status | None = None,
        note: str | None = None,
        data: dict[str, Any] | None = None,
        public: bool = True,
    ) -> m.TicketEvent:
        return m.TicketEvent(
            ticket_id=ticket.id,
            at=at,
            kind=kind,
            actor_id=actor.user_id,
            actor_name=actor.name,
            actor_role=actor.role.value,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value if to_status else None,
            note=note,
            public=public,
            data=data or {},
        )

    def add_in_transaction_hook(self, hook: InTransactionHook, kinds: Iterable[str]) -> None:
        """Run ``hook`` inside the transaction of every event of these ``kinds`` ("created",
        "status", "edit", or a ``record_event`` kind such as "escalation"); events of other kinds neither
        call it nor pay for the flush it needs."""
        for kind in kinds:
            self._hooks.setdefault(kind, []).append(hook)

    def remove_in_transaction_hook(self, hook: InTransactionHook) -> None:
        for hooks in self._hooks.values():
            while hook in hooks:
                hooks.remove(hook)

    def in_transaction_hooks(self, kind: str) -> list[InTransactionHook]:
        """The hooks an event of ``kind`` runs (a copy)."""
        return list(self._hooks.get(kind, ()))

    async def _run_hooks(self, session: AsyncSession, ticket: m.Ticket, event: m.TicketEvent) -> None:
        hooks = self._hooks.get(event.kind)
        if not hooks:
            return
        await session.flush()
        for hook in list(hooks):
            await hook(session, ticket, event)

    async def _index(self, session: AsyncSession, ticket: m.Ticket, *, new: bool = False) -> None:
        if session.bind.dialect.name == "sqlite":
            await index_ticket_sqlite(session, self._stemmer, ticket, replace=not new)

    async def _reference_names(self, session: AsyncSession) -> dict[str, dict[str, str]]:
        if self._names is None:
            categories = dict((await session.execute(select(m.Category.code, m.Category.name))).all())
            departments = dict((await session.execute(select(m.Department.code, m.Department.short_name))).all())
            self._names = {"category": categories, "department": departments}
        return self._names

    def forget_reference_names(self) -> None:
        """Call after reference data changes (names and categories are cached)."""
        self._names = None
        self._categories = None

    async def _views(self, session: AsyncSession, rows: Sequence[m.Ticket]) -> list[TicketView]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        citizen_ids = {r.citizen_id for r in rows if r.citizen_id}
        citizens = {}
        if citizen_ids:
            citizens = {
                c.id: c
                for c in (await session.execute(select(m.Citizen).where(m.Citizen.id.in_(citizen_ids)))).scalars()
            }
        last = dict(
            (
                await session.execute(
                    select(m.TicketEvent.ticket_id, func.max(m.TicketEvent.at))
                    .where(m.TicketEvent.ticket_id.in_(ids), m.TicketEvent.kind.in_(["status", "created"]))
                    .group_by(m.TicketEvent.ticket_id)
                )
            ).all()
        )
        dup_ids = {r.duplicate_of_id for r in rows if r.duplicate_of_id}
        dup_numbers = {}
        if dup_ids:
            dup_numbers = dict(
                (await session.execute(select(m.Ticket.id, m.Ticket.number).where(m.Ticket.id.in_(dup_ids)))).all()
            )
        names = await self._reference_names(session)
        return [
            _ticket_view(
                r, citizens.get(r.citizen_id), names, _aware(last.get(r.id)), dup_numbers.get(r.duplicate_of_id)
            )
            for r in rows
        ]

    async def _view(
        self,
        session: AsyncSession,
        ticket: m.Ticket,
        citizen: m.Citizen | None = None,
        last_change_at: datetime | None = None,
    ) -> TicketView:
        if last_change_at is None or (citizen is None and ticket.citizen_id):
            return (await self._views(session, [ticket]))[0]
        names = await self._reference_names(session)
        return _ticket_view(ticket, citizen, names, last_change_at, None)

    def _publish(self, change: str, view: TicketView, **extra: Any) -> None:
        if self._hub is None:
            return
        self._hub.publish(
            {
                "type": "ticket",
                "change": change,
                "number": view.number,
                "status": view.status.value,
                "channel": view.channel.value,
                "department": view.department,
                "category": view.category,
                "is_draft": view.is_draft,
                "version": view.version,
                **extra,
            }
        )


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _ticket_view(
    t: m.Ticket,
    citizen: m.Citizen | None,
    names: dict[str, dict[str, str]],
    last_change_at: datetime | None,
    duplicate_of: str | None,
) -> TicketView:
    return TicketView(
        id=t.id,
        number=t.number,
        status=Status(t.status),
        channel=Channel(t.channel),
        is_draft=t.is_draft,
        category=t.category_code,
        category_name=names["category"].get(t.category_code or ""),
        department=t.department_code,
        department_name=names["department"].get(t.department_code or ""),
        title=t.title,
        description=t.description,
        address=t.address,
        street=t.street,
        house=t.house,
        flat=t.flat,
        district=t.district,
        lat=t.lat,
        lon=t.lon,
        phone=citizen.phone if citizen else None,
        citizen_name=citizen.name if citizen else None,
        created_at=t.created_at,
        updated_at=t.updated_at,
        version=t.version,
        duplicate_of=duplicate_of,
        extra=dict(t.extra or {}),
        last_change_at=last_change_at or t.created_at,
    )


def _event_view(e: m.TicketEvent) -> EventView:
    return EventView(
        e.at, e.kind, e.actor_name, e.actor_role, e.from_status, e.to_status, e.note, e.public, dict(e.data or {})
    )


def _attachment_view(a: m.Attachment) -> AttachmentView:
    return AttachmentView(
        a.id, a.kind, a.path, a.mime, a.size, a.public, a.created_at, a.transcript_status, a.transcript
    )
