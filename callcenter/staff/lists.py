"""The three ticket lists (operators' board, executors' queue, archive) and their live rows.

A list is newest first and keyset-paged (``before`` = the last id shown), so page 1,000 of
a million tickets costs what page 1 does and nothing counts the whole table. Browsers
fetch one row at a time (`/staff/tickets/{number}/row?view=...&filters`) when the
WebSocket says a ticket changed; the server answers 204 when the ticket no longer
belongs to that filtered list, so the browser drops the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from callcenter.accounts.users import UserView
from callcenter.domain.errors import PermissionDenied
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Role, Status
from callcenter.staff.filters import ARCHIVE_STATUSES, FilterForm, local_today, parse_filters
from callcenter.staff.pages import render, services
from callcenter.tickets.schemas import TicketFilter, TicketPage, TicketView
from callcenter.tickets.service import TicketService
from callcenter.web.auth import STAFF_ROLES, check_department, current_user, require_roles

PAGE_SIZE = 50


@dataclass(frozen=True)
class ListSpec:
    """What makes one list: its statuses, default status choice and row template."""

    name: str
    statuses: tuple[Status, ...]
    default_status: str
    row_template: str
    roles: tuple[Role, ...]


BOARD = ListSpec(
    "board", tuple(Status), "", "staff/_row.html", (Role.OPERATOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
)
QUEUE = ListSpec(
    "queue",
    tuple(s for s in Status if s is not Status.NEW),
    "waiting",
    "staff/_queue_row.html",
    (Role.EXECUTOR, Role.SUPERVISOR, Role.ADMIN),
)
ARCHIVE = ListSpec(
    "archive", ARCHIVE_STATUSES, "", "staff/_row.html", (Role.OPERATOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
)
SPECS = {spec.name: spec for spec in (BOARD, QUEUE, ARCHIVE)}


def read_filters(request: web.Request, spec: ListSpec) -> FilterForm:
    """The list's filters from the query; executors are pinned to their own department."""
    shared = services(request)
    form = parse_filters(
        request.query,
        shared.reference,
        allowed=spec.statuses,
        default_status=spec.default_status,
        today=local_today(shared.settings.zone),
        fold_linked=spec is BOARD,
    )
    user = current_user(request)
    if user.role is Role.EXECUTOR:
        form.filter = replace(form.filter, department=user.department)
        form.values["department"] = user.department or ""
        form.errors.pop("department", None)
    return form


async def load_page(request: web.Request, form: FilterForm) -> TicketPage:
    return await services(request).tickets.list(form.filter, before_id=form.before_id, limit=PAGE_SIZE)


def list_context(spec: ListSpec, form: FilterForm, page: TicketPage) -> dict[str, Any]:
    return {
        "spec": spec,
        "form": form,
        "page": page,
        "errors": form.errors,
        "live_query": form.query_string(view=spec.name),
    }


@require_roles(*STAFF_ROLES)
async def row_fragment(request: web.Request) -> web.StreamResponse:
    """One rendered row of a list, or 204 when the ticket does not belong in it any more."""
    spec = SPECS.get(request.query.get("view", "board"), BOARD)
    user = current_user(request)
    if user.role not in spec.roles:
        raise PermissionDenied("Этот список недоступен для вашей роли")
    ticket = await services(request).tickets.get(clean_ticket_number(request.match_info["number"]))
    check_department(user, ticket.department)
    form = read_filters(request, spec)
    if not await _belongs(request, form, ticket):
        return web.Response(status=204)
    context: dict[str, Any] = {"t": ticket, "spec": spec, "form": form}
    if ticket.extra.get("incident_master") and ticket.extra.get("incident"):  # its folded count, now
        context["linked_counts"] = await linked_counts(services(request).tickets, [ticket])
    return render(request, spec.row_template, context)


async def linked_counts(tickets: TicketService, rows: Iterable[TicketView]) -> dict[int, int]:
    """Per outage incident whose master is among ``rows``: how many tickets are linked to it
    besides the master (the board folds them under it)."""
    masters = {t.extra["incident"] for t in rows if t.extra.get("incident_master") and t.extra.get("incident")}
    return {incident: await tickets.count(TicketFilter(incident=incident)) - 1 for incident in sorted(masters)}


async def _belongs(request: web.Request, form: FilterForm, ticket: TicketView) -> bool:
    """Whether the ticket passes the list's filters: the newest match at or below its id is itself."""
    page = await services(request).tickets.list(form.filter, before_id=ticket.id + 1, limit=1)
    return bool(page.rows) and page.rows[0].number == ticket.number


def user_home(user: UserView) -> str:
    return "/staff/queue" if user.role is Role.EXECUTOR else "/staff/"
