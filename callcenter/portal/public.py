"""What the public may see of a ticket: the tracking page, the map and Open311 share these rules.

Never public: the citizen's phone, name, e-mail and flat; staff names (a role is shown
instead: "Оператор", "Исполнитель"); internal notes and edits. Addresses lose the flat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from callcenter.domain.notifications import history_text, trigger_for
from callcenter.domain.tickets import CHANNEL_LABELS, ROLE_LABELS, STATUS_LABELS, Channel, Role, Status
from callcenter.tickets.schemas import EventView, TicketDetail

# "кв. 12", "квартира 5", "оф 3", "комн. 2", "пом. 7" and a trailing "5-12" (house-flat).
_FLAT = re.compile(
    r"[,;]?\s*\b(?:кв|квартира|квартиры|оф|офис|комн|комната|пом|помещение)\b\.?\s*№?\s*[\w/-]*",
    re.IGNORECASE,
)
_HOUSE_FLAT = re.compile(r"\b(\d+[а-яa-z]?)-\d+\b", re.IGNORECASE)

KIND_TITLES = {
    "note": "Комментарий",
    "attachment": "Добавлено фото",
    "call": "Звонок",
    "callback": "Обратный звонок заявителю",
}


def public_address(street: str | None, house: str | None, address: str | None) -> str:
    """The address without the flat: "улица Ленина, д. 5"; the typed text, cleaned, if no street is known."""
    if street:
        return f"{street}, д. {house}" if house else street
    text = _FLAT.sub("", address or "")
    text = _HOUSE_FLAT.sub(r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip(" ,;")


def role_label(role: str | None) -> str:
    try:
        return ROLE_LABELS[Role(role or "")]
    except ValueError:
        return ROLE_LABELS[Role.SYSTEM]


@dataclass(frozen=True)
class PublicEvent:
    """One line of the public timeline."""

    at: datetime
    title: str
    role: str
    note: str | None
    status: Status | None


def _event_line(event: EventView) -> PublicEvent | None:
    role = role_label(event.actor_role)
    if event.kind == "created":
        channel = event.data.get("channel")
        where = CHANNEL_LABELS.get(Channel(channel)) if channel in set(Channel) else None
        title = "Обращение зарегистрировано" + (f" ({where})" if where else "")
        return PublicEvent(event.at, title, role, None, Status.NEW)
    if event.kind == "status" and event.to_status:
        status = Status(event.to_status)
        title = STATUS_LABELS[status]
        if event.data.get("duplicate_of"):
            title += f": объединена с заявкой № {event.data['duplicate_of']}"
        elif event.data.get("reopened"):
            title += " (повторно)"
        return PublicEvent(event.at, title, role, event.note, status)
    if event.kind in KIND_TITLES:
        return PublicEvent(event.at, KIND_TITLES[event.kind], role, event.note, None)
    return None  # kinds we do not know are not shown: safer than guessing what they hold


NOTICE_TITLE = "Сообщение заявителю"


def public_timeline(detail: TicketDetail) -> list[PublicEvent]:
    """The public events of a ticket, oldest first (``detail`` from ``include_internal=False``).

    After each event that sends the citizen a message (callcenter/notifications), the same text
    is shown as «Сообщение заявителю»: derived from the event, never stored twice.
    """
    lines: list[PublicEvent] = []
    for event in detail.events:
        if not event.public:
            continue
        line = _event_line(event)
        if line is not None:
            lines.append(line)
        trigger = trigger_for(event.kind, event.from_status, event.to_status)
        if trigger is not None and line is not None:
            text = history_text(trigger, detail.ticket.number)
            lines.append(PublicEvent(event.at, NOTICE_TITLE, role_label("system"), text, None))
    return lines
