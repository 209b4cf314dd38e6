"""Creating a ticket (`/staff/tickets/new`, also from a ringing call) and editing one.

Addresses typed by the operator go through the gazetteer: a recognised street fills
street, house, district and the map point; an unknown one is kept as typed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from callcenter.domain.errors import ConflictError, DomainError
from callcenter.domain.notifications import CONSENT_KEY, check_email, consent_record
from callcenter.domain.phones import normalize_phone
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Channel
from callcenter.incidents.api import INCIDENTS
from callcenter.reference import DISTRICTS
from callcenter.staff.pages import error_field, render, services, staff, text_fields
from callcenter.tickets.schemas import NewTicket, TicketView
from callcenter.web.audit import audit
from callcenter.web.auth import EDITOR_ROLES, current_user, require_roles
from callcenter.web.error_pages import status_for

logger = logging.getLogger(__name__)

NEW_FIELDS = (
    "phone", "citizen_name", "category", "title", "description", "address", "flat", "district", "call",
    "email", "notify",
    "incident",  # the offer to link to a known outage (callcenter/incidents)
)  # fmt: skip
EDIT_FIELDS = ("category", "title", "description", "address", "flat", "district", "version", "confirm")
MAX_TEXT = {"title": 300, "address": 300, "citizen_name": 200, "flat": 20, "description": 5000, "call": 64}


@require_roles(*EDITOR_ROLES)
async def new_ticket_page(request: web.Request) -> web.Response:
    """The empty form, or prefilled from a screen pop: ?phone=&call=&category=&description=."""
    typed = text_fields(request.query, *NEW_FIELDS)
    return render(request, "staff/ticket_new.html", {"typed": typed, "districts": DISTRICTS})


@require_roles(*EDITOR_ROLES)
async def create_ticket(request: web.Request) -> web.StreamResponse:
    typed = text_fields(await request.post(), *NEW_FIELDS)
    context = {"typed": typed, "districts": DISTRICTS}
    errors = _check_new(typed, request)
    if errors:
        return render(request, "staff/ticket_new.html", {**context, "errors": errors}, 422)
    try:
        view = await services(request).tickets.create(_new_ticket(request, typed), current_user(request).actor())
    except DomainError as err:
        errors = {error_field(err, NEW_FIELDS): err.message}
        return render(request, "staff/ticket_new.html", {**context, "errors": errors}, status_for(err))
    if typed["call"]:
        await _link_call(request, typed["call"], view)
    await audit(request, "ticket_created", "ticket", view.number)
    await _join_incident(request, typed.get("incident", ""), view)
    raise web.HTTPSeeOther(f"/staff/tickets/{view.number}?done=created")


async def _join_incident(request: web.Request, offered: str, view: TicketView) -> None:
    """The operator accepted the offer to link the new ticket to a known outage (callcenter/incidents)."""
    feature = request.app.get(INCIDENTS)
    if feature is None or not offered.isdigit() or len(offered) > 18:
        return
    try:
        await feature.service.join(int(offered), view.number, "operator")
    except DomainError as err:
        logger.info("ticket %s not linked to incident %s: %s", view.number, offered, err.message)


def _check_new(typed: dict[str, str], request: web.Request) -> dict[str, str]:
    errors = {
        name: f"Слишком длинный текст: не больше {limit} символов"
        for name, limit in MAX_TEXT.items()
        if len(typed.get(name, "")) > limit
    }
    if typed["phone"]:
        try:
            normalize_phone(typed["phone"])
        except DomainError as err:
            errors["phone"] = err.message
    if typed["email"]:
        try:
            check_email(typed["email"])
        except DomainError as err:
            errors["email"] = err.message
    if typed["notify"] and not (typed["phone"] or typed["email"]):
        errors["notify"] = "Для сообщений нужен телефон или e-mail заявителя"
    if not typed["category"]:
        errors["category"] = "Выберите категорию обращения"
    elif not services(request).reference.has_category(typed["category"]):
        errors["category"] = "Такой категории нет: выберите из списка"
    if not typed["description"]:
        errors["description"] = "Опишите проблему словами заявителя"
    if not typed["address"]:
        errors["address"] = "Укажите адрес: улицу и дом, или ориентир"
    if typed["district"] and typed["district"] not in DISTRICTS:
        errors["district"] = "Выберите район из списка"
    return errors


def _new_ticket(request: web.Request, typed: dict[str, str]) -> NewTicket:
    place = _place(request, typed["address"], typed["flat"], typed["district"])
    category = services(request).reference.category(typed["category"])
    title = typed["title"] or f"{category.name}: {place.get('street') or typed['address']}"
    return NewTicket(
        channel=Channel.PHONE,
        phone=typed["phone"] or None,
        category=typed["category"],
        title=title[:300],
        description=typed["description"],
        address=typed["address"],
        citizen_name=typed["citizen_name"] or None,
        citizen_email=typed["email"] or None,
        extra={**({"linkedid": typed["call"]} if typed["call"] else {}), **_notify_consent(typed)},
        **place,
    )


def _notify_consent(typed: dict[str, str]) -> dict[str, Any]:
    """The operator asked on the phone and the citizen agreed to messages (152-ФЗ): SMS to the
    phone, e-mail if given."""
    if not typed["notify"]:
        return {}
    record = consent_record(
        email=typed["email"] or None, sms=bool(typed["phone"]), via="operator", at=datetime.now(UTC)
    )
    return {CONSENT_KEY: record}


def _place(request: web.Request, address: str, flat: str, district: str) -> dict[str, Any]:
    """Street, house, flat, district and point from the address (the gazetteer), else as typed."""
    found = services(request).gazetteer.geocode(address) if address else None
    if found is None:
        return {
            "street": None,
            "house": None,
            "flat": flat or None,
            "district": district or None,
            "lat": None,
            "lon": None,
        }
    return {
        "street": found.street.name,
        "house": found.house or None,
        "flat": flat or found.flat,
        "district": found.district,
        "lat": found.lat,
        "lon": found.lon,
    }


async def _link_call(request: web.Request, linkedid: str, view: TicketView) -> None:
    if await staff(request).related.link_call(linkedid, view.id):
        await services(request).tickets.record_event(
            view.number,
            "call",
            current_user(request).actor(),
            note="Заявка создана во время звонка",
            data={"linkedid": linkedid},
            public=False,
        )
    else:
        logger.info("ticket %s made from call %s, which the call log does not know", view.number, linkedid)


@require_roles(*EDITOR_ROLES)
async def edit_page(request: web.Request) -> web.Response:
    ticket = await _editable(request)
    return render(
        request, "staff/ticket_edit.html", {"ticket": ticket, "typed": _as_typed(ticket), "districts": DISTRICTS}
    )


@require_roles(*EDITOR_ROLES)
async def edit_submit(request: web.Request) -> web.StreamResponse:
    ticket = await _editable(request)
    typed = text_fields(await request.post(), *EDIT_FIELDS)
    context: dict[str, Any] = {"ticket": ticket, "typed": typed, "districts": DISTRICTS}
    errors = _check_edit(typed, request)
    if errors:
        return render(request, "staff/ticket_edit.html", {**context, "errors": errors}, 422)
    try:
        await services(request).tickets.edit(
            ticket.number,
            _changes(request, ticket, typed),
            current_user(request).actor(),
            expected_version=int(typed["version"]) if typed["version"].isdigit() else None,
            confirm_draft=typed["confirm"] == "1",
        )
    except ConflictError as err:
        # Keep what was typed; show what is there now and take its version, so a second
        # "save" overwrites knowingly rather than silently.
        context.update(errors={"form": err.message}, current=ticket)
        context["typed"] = {**typed, "version": str(ticket.version)}
        return render(request, "staff/ticket_edit.html", context, 409)
    except DomainError as err:
        errors = {error_field(err, EDIT_FIELDS): err.message}
        return render(request, "staff/ticket_edit.html", {**context, "errors": errors}, status_for(err))
    await audit(request, "ticket_edited", "ticket", ticket.number, confirmed_draft=typed["confirm"] == "1")
    raise web.HTTPSeeOther(f"/staff/tickets/{ticket.number}?done=saved")


async def _editable(request: web.Request) -> TicketView:
    number = clean_ticket_number(request.match_info["number"])
    return await services(request).tickets.get(number)


def _as_typed(ticket: TicketView) -> dict[str, str]:
    return {
        "category": ticket.category or "",
        "title": ticket.title,
        "description": ticket.description,
        "address": ticket.address,
        "flat": ticket.flat or "",
        "district": ticket.district or "",
        "version": str(ticket.version),
        "confirm": "",
    }


def _check_edit(typed: dict[str, str], request: web.Request) -> dict[str, str]:
    errors = {
        name: f"Слишком длинный текст: не больше {limit} символов"
        for name, limit in MAX_TEXT.items()
        if len(typed.get(name, "")) > limit
    }
    if typed["category"] and not services(request).reference.has_category(typed["category"]):
        errors["category"] = "Такой категории нет: выберите из списка"
    if typed["confirm"] == "1" and not typed["category"]:
        errors["category"] = "Чтобы подтвердить черновик, выберите категорию"
    if not typed["description"]:
        errors["description"] = "Описание не может быть пустым"
    if typed["district"] and typed["district"] not in DISTRICTS:
        errors["district"] = "Выберите район из списка"
    return errors


def _changes(request: web.Request, ticket: TicketView, typed: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "category": typed["category"] or None,
        "title": typed["title"],
        "description": typed["description"],
        "flat": typed["flat"] or None,
        "district": typed["district"] or None,
    }
    if typed["address"] != ticket.address:
        place = _place(request, typed["address"], typed["flat"], typed["district"])
        changes.update(address=typed["address"], **place)
    return changes
