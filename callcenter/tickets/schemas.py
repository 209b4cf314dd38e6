"""Snapshots the ticket service hands out (dataclasses, never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from callcenter.domain.tickets import Actor, Channel, Status, Timers


@dataclass(frozen=True)
class NewTicket:
    """What a channel knows when it creates a ticket."""

    channel: Channel
    phone: str | None
    category: str | None = None
    title: str = ""
    description: str = ""
    address: str = ""
    street: str | None = None
    house: str | None = None
    flat: str | None = None
    district: str | None = None
    lat: float | None = None
    lon: float | None = None
    citizen_name: str | None = None
    citizen_email: str | None = None
    is_draft: bool = False
    department: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewAttachment:
    """A file stored with a ticket, written in the ticket's own transaction by
    ``TicketService.create_with`` (as ``add_attachment`` would write it)."""

    kind: str
    path: str
    mime: str
    size: int
    sha256: str | None
    public: bool
    transcript_status: str | None = None


@dataclass(frozen=True)
class NewEvent:
    """A timeline event that is not a status move, written with a new ticket by
    ``TicketService.create_with`` after its attachments (as ``record_event`` would write it)."""

    kind: str
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    public: bool = False
    actor: Actor | None = None  # None: the actor who creates the ticket


@dataclass(frozen=True)
class CreatedTicket:
    """What ``TicketService.create_with`` made: the ticket and its attachments' ids, in order."""

    view: TicketView
    attachment_ids: tuple[int, ...]


EDITABLE_FIELDS = (
    "category",
    "title",
    "description",
    "address",
    "street",
    "house",
    "flat",
    "district",
    "lat",
    "lon",
    "extra",  # merged into the existing dict (draft suggestions, IVR path)
)


@dataclass(frozen=True)
class TicketView:
    id: int
    number: str
    status: Status
    channel: Channel
    is_draft: bool
    category: str | None
    category_name: str | None
    department: str | None
    department_name: str | None
    title: str
    description: str
    address: str
    street: str | None
    house: str | None
    flat: str | None
    district: str | None
    lat: float | None
    lon: float | None
    phone: str | None
    citizen_name: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    duplicate_of: str | None
    extra: dict[str, Any]
    last_change_at: datetime | None = None


@dataclass(frozen=True)
class EventView:
    at: datetime
    kind: str
    actor_name: str
    actor_role: str
    from_status: str | None
    to_status: str | None
    note: str | None
    public: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class DonePhoto:
    """A photo of the result stored for a «Выполнено» move (``path`` relative to the data folder)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class AttachmentView:
    id: int
    kind: str
    path: str
    mime: str
    size: int
    public: bool
    created_at: datetime
    transcript_status: str | None
    transcript: dict[str, Any] | None


@dataclass(frozen=True)
class TicketDetail:
    ticket: TicketView
    events: list[EventView]
    attachments: list[AttachmentView]
    timers: Timers
    other_tickets: list[TicketView]
    duplicates: list[str]


@dataclass(frozen=True)
class TicketFilter:
    """Filters of the operators' board; every field optional."""

    statuses: tuple[Status, ...] = ()
    category: str | None = None
    department: str | None = None
    channel: Channel | None = None
    district: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    phone: str | None = None
    query: str | None = None
    drafts_only: bool = False
    street: str | None = None
    house: str | None = None
    incident: int | None = None  # only the tickets linked to this outage incident (its master too)
    # The operators' board groups an outage's linked tickets under its master: they are left out
    # here unless being worked on their own (in progress, e.g. reopened by their citizen).
    fold_linked: bool = False


@dataclass(frozen=True)
class TicketPage:
    rows: list[TicketView]
    next_before_id: int | None
