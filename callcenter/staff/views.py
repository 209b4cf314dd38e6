"""The ticket page (`/staff/tickets/{number}`) and everything done from it.

Each action posts to its own URL; on bad input the ticket page comes back with the message
next to the field and the typed text kept (422, or 409 for a conflict), nothing is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.accounts.users import UserView
from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.privacy import PUBLIC_SUMMARY, PUBLIC_SUMMARY_CONFIRMED, PUBLISHER_ROLES, mask_personal
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Role, Status, allowed_targets
from callcenter.staff.pages import error_field, local_redirect, render, services, staff, text_fields
from callcenter.staff.related import CallRow
from callcenter.staff.ticket_extra import extra_rows, ivr_wording
from callcenter.tickets.schemas import TicketView
from callcenter.web.audit import audit, sees_full_phones
from callcenter.web.auth import (
    EDITOR_ROLES,
    STAFF_ROLES,
    check_department,
    current_user,
    require_roles,
)
from callcenter.web.error_pages import status_for
from callcenter.web.files import file_inside, private_file

logger = logging.getLogger(__name__)

ACTOR_ROLES = (Role.OPERATOR, Role.EXECUTOR, Role.SUPERVISOR, Role.ADMIN)
# Buttons of the status moves, by target (and source where one target has two meanings).
ACTION_LABELS: dict[tuple[Status | None, Status], str] = {
    (None, Status.DISPATCHED): "Направить исполнителю",
    (None, Status.REJECTED): "Отклонить",
    (Status.DISPATCHED, Status.IN_PROGRESS): "Принять в работу",
    (Status.DONE, Status.IN_PROGRESS): "Вернуть в работу (заявитель не удовлетворён)",
    (None, Status.NEW): "Вернуть оператору",
    (None, Status.DONE): "Выполнено",
    (None, Status.CLOSED): "Закрыть (заявитель подтвердил)",
    (None, Status.ARCHIVED): "Перенести в архив",
}
# Moves whose note field is required (the domain says so too; this only marks the field).
# in_progress -> done: as the category's rule says (done_rule in the page's context).
NOTE_REQUIRED = {
    (Status.DONE, Status.IN_PROGRESS),
    (Status.DONE, Status.CLOSED),
    (Status.DISPATCHED, Status.NEW),
}
MOVE_FIELDS = ("to", "note", "department", "duplicate_of", "version", "back", "public")


def action_label(frm: Status, to: Status) -> str:
    return ACTION_LABELS.get((frm, to)) or ACTION_LABELS[(None, to)]


async def ticket_context(request: web.Request, number: str) -> dict[str, Any]:
    """Everything the ticket page shows, checked against the user's department."""
    user = current_user(request)
    shared = services(request)
    detail = await shared.tickets.detail(number)
    check_department(user, detail.ticket.department)
    if not sees_full_phones(user):  # analysts: statistics, not people
        detail = dataclasses.replace(detail, ticket=masked_ticket(detail.ticket))
    related = staff(request).related
    others = [t for t in detail.other_tickets if user.role is not Role.EXECUTOR or t.department == user.department]
    moves = allowed_targets(detail.ticket.status, user.role)
    ivr_words = ivr_wording(shared.reference)
    done_rule = shared.tickets.done_rule(detail.ticket.category)

    def note_required(to: Status) -> bool:
        if (detail.ticket.status, to) == (Status.IN_PROGRESS, Status.DONE):
            return done_rule.note
        return (detail.ticket.status, to) in NOTE_REQUIRED

    return {
        "detail": detail,
        "ticket": detail.ticket,
        "others": others,
        "extra_rows": extra_rows(detail.ticket.extra, shared.settings.zone, shared.reference, ivr_words),
        "ivr_words": ivr_words,
        "calls": _calls_for_reader(await related.calls_for(detail.ticket.id), user),
        "callbacks": await related.callbacks_for(detail.ticket.id),
        "actions": [(to, action_label(detail.ticket.status, to), note_required(to)) for to in moves],
        "done_rule": done_rule,
        "max_photo_mb": round(shared.settings.max_photo_bytes / 2**20),
        "can_edit": user.role in EDITOR_ROLES and detail.ticket.status not in (Status.CLOSED, Status.ARCHIVED),
        "can_note": user.role in ACTOR_ROLES,
        "public_summary": _public_summary(detail.ticket),
        "can_publish": user.role in PUBLISHER_ROLES,
        "departments": await staff(request).departments.active(),
        "typed": {},
        "open_action": None,
    }


def _calls_for_reader(calls: list[CallRow], user: UserView) -> list[CallRow]:
    """Analysts see that a conversation was kept, never what was said (statistics, not people)."""
    if sees_full_phones(user):
        return calls
    return [dataclasses.replace(c, conversation=None, conversation_hidden=True) if c.conversation else c for c in calls]


@require_roles(*STAFF_ROLES)
async def ticket_page(request: web.Request) -> web.Response:
    number = clean_ticket_number(request.match_info["number"])
    context = await ticket_context(request, number)
    context["flash"] = {
        "created": "Заявка создана",
        "saved": "Изменения сохранены",
        "moved": "Статус изменён",
        "noted": "Заметка добавлена",
        "published": "Публичный текст сохранён",
    }.get(request.query.get("done", ""))
    ticket = context["ticket"]
    if sees_full_phones(current_user(request)) and (ticket.phone or ticket.citizen_name):
        await audit(request, "ticket_viewed", "ticket", number)
    return render(request, "staff/ticket.html", context)


def masked_ticket(ticket: TicketView) -> TicketView:
    """The ticket as an analyst reads it: no name or flat; phones, e-mails, names in the texts masked."""
    return dataclasses.replace(
        ticket,
        citizen_name=None,
        flat=None,
        description=mask_personal(ticket.description),
        title=mask_personal(ticket.title),
    )


@require_roles(*ACTOR_ROLES)
async def move_ticket(request: web.Request) -> web.StreamResponse:
    number = clean_ticket_number(request.match_info["number"])
    form = text_fields(await request.post(), *MOVE_FIELDS)
    user = current_user(request)
    current = await services(request).tickets.get(number)
    check_department(user, current.department)
    try:
        await services(request).tickets.move(
            number,
            _target(form["to"]),
            user.actor(),
            note=form["note"] or None,
            department=form["department"] or None,
            duplicate_of=_duplicate(form["duplicate_of"]),
            expected_version=_version(form["version"]),
            public=form["public"] != "0",
        )
    except DomainError as err:
        return await _page_with_error(request, number, err, form, open_action=form["to"])
    await audit(request, "ticket_moved", "ticket", number, to=form["to"], department=form["department"] or None)
    raise web.HTTPSeeOther(local_redirect(form["back"], f"/staff/tickets/{number}?done=moved"))


@require_roles(*ACTOR_ROLES)
async def add_note(request: web.Request) -> web.StreamResponse:
    number = clean_ticket_number(request.match_info["number"])
    form = text_fields(await request.post(), "note", "public")
    user = current_user(request)
    check_department(user, (await services(request).tickets.get(number)).department)
    try:
        await services(request).tickets.add_note(number, form["note"], user.actor(), public=form["public"] == "1")
    except DomainError as err:
        return await _page_with_error(request, number, err, form, open_action="note")
    await audit(request, "ticket_note", "ticket", number, public=form["public"] == "1")
    raise web.HTTPSeeOther(f"/staff/tickets/{number}?done=noted#timeline")


@require_roles(*PUBLISHER_ROLES)
async def publish_summary(request: web.Request) -> web.StreamResponse:
    """Write or confirm the ticket's public text (Open311, tracking); empty withdraws it."""
    number = clean_ticket_number(request.match_info["number"])
    form = text_fields(await request.post(), "public_summary", "version")
    user = current_user(request)
    check_department(user, (await services(request).tickets.get(number)).department)
    try:
        await services(request).tickets.set_public_summary(
            number, form["public_summary"], user.actor(), expected_version=_version(form["version"])
        )
    except DomainError as err:
        return await _page_with_error(request, number, err, form, open_action="public_summary")
    await audit(request, "ticket_public_summary", "ticket", number, withdrawn=not form["public_summary"].strip())
    raise web.HTTPSeeOther(f"/staff/tickets/{number}?done=published#public-summary")


def _public_summary(ticket: TicketView) -> dict[str, Any]:
    """What the page shows of the public text: the published one, or a masked draft to confirm."""
    extra = ticket.extra or {}
    published = extra.get(PUBLIC_SUMMARY) if isinstance(extra.get(PUBLIC_SUMMARY), str) else None
    confirmed = extra.get(PUBLIC_SUMMARY_CONFIRMED)
    return {
        "published": published,
        "confirmed_by": confirmed.get("by") if isinstance(confirmed, dict) else None,
        "draft": published or mask_personal(ticket.description),
    }


async def _page_with_error(
    request: web.Request, number: str, err: DomainError, typed: dict[str, str], open_action: str
) -> web.Response:
    context = await ticket_context(request, number)
    context.update(
        errors={error_field(err, (*MOVE_FIELDS, "public_summary")): err.message}, typed=typed, open_action=open_action
    )
    return render(request, "staff/ticket.html", context, status_for(err))


def _target(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ValidationError("Выберите действие из предложенных", field="to") from None


def _duplicate(value: str) -> str | None:
    if not value:
        return None
    try:
        return clean_ticket_number(value)
    except ValidationError as err:
        raise ValidationError(err.message, field="duplicate_of") from None


def _version(value: str) -> int | None:
    return int(value) if value.isdigit() else None


VOICE_KINDS = frozenset({"recording", "comment"})  # the IVR's voice report and the callback's spoken comment


@require_roles(*STAFF_ROLES)
async def attachment_file(request: web.Request) -> web.StreamResponse:
    """An attachment's file, for users who may see its ticket (never a public static path)."""
    attachment_id = request.match_info["attachment_id"]
    if not attachment_id.isdigit():
        raise web.HTTPNotFound()
    found = await staff(request).related.attachment(int(attachment_id))
    check_department(current_user(request), found.department)
    if found.kind in VOICE_KINDS and not sees_full_phones(current_user(request)):
        # a caller's own voice says their name, address and number: analysts get statistics, not people
        raise web.HTTPForbidden(text="Записи голоса граждан слушают операторы и руководители, не аналитики.")
    path = await asyncio.to_thread(file_inside, Path(services(request).settings.data_dir), found.path)
    await audit(request, "attachment_viewed", "ticket", found.ticket_number or "", attachment=found.id, mime=found.mime)
    inline = found.mime.startswith(("image/", "audio/"))
    return private_file(path, found.mime, inline=inline, name=f"attachment-{found.id}")
