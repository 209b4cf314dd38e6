"""The executors' queue (`/staff/queue`): their department's tickets, accept and mark done.

Supervisors and admins may look at any department's queue (``?department=``).
"""

from __future__ import annotations

from aiohttp import web

from callcenter.domain.tickets import Role
from callcenter.staff.lists import QUEUE, list_context, load_page, read_filters
from callcenter.staff.pages import render, staff
from callcenter.tickets.schemas import TicketPage
from callcenter.web.auth import current_user, require_roles


@require_roles(*QUEUE.roles)
async def queue_page(request: web.Request) -> web.StreamResponse:
    form = read_filters(request, QUEUE)
    user = current_user(request)
    if user.role is not Role.EXECUTOR and not form.filter.department:
        # Without a department this would be the whole city: that is the board, not a queue.
        page = TicketPage([], None)
        form.errors.setdefault("department", "Выберите подразделение, чью очередь показать")
    else:
        page = await load_page(request, form)
    context = list_context(QUEUE, form, page)
    context["departments"] = await staff(request).departments.all()
    department = form.filter.department
    context["department_name"] = next((d.short_name for d in context["departments"] if d.code == department), "")
    status = 422 if form.errors and user.role is Role.EXECUTOR else 200
    return render(request, "staff/queue.html", context, status)
