"""The operators' board (`/staff/`): phone and online tickets in one list, filters, live rows."""

from __future__ import annotations

from aiohttp import web

from callcenter.domain.tickets import Role
from callcenter.staff.lists import BOARD, linked_counts, list_context, load_page, read_filters
from callcenter.staff.pages import render, services
from callcenter.web.auth import STAFF_ROLES, current_user, require_roles


@require_roles(*STAFF_ROLES)
async def board_page(request: web.Request) -> web.StreamResponse:
    if current_user(request).role is Role.EXECUTOR:
        raise web.HTTPFound("/staff/queue")
    form = read_filters(request, BOARD)
    page = await load_page(request, form)
    context = list_context(BOARD, form, page)
    context["linked_counts"] = await linked_counts(services(request).tickets, page.rows)
    return render(request, "staff/board.html", context, 422 if form.errors else 200)
