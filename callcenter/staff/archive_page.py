"""The archive (`/staff/archive`): closed, archived and rejected tickets, searchable, read-only."""

from __future__ import annotations

from aiohttp import web

from callcenter.staff.lists import ARCHIVE, list_context, load_page, read_filters
from callcenter.staff.pages import render
from callcenter.web.auth import require_roles


@require_roles(*ARCHIVE.roles)
async def archive_page(request: web.Request) -> web.StreamResponse:
    form = read_filters(request, ARCHIVE)
    page = await load_page(request, form)
    return render(request, "staff/archive.html", list_context(ARCHIVE, form, page), 422 if form.errors else 200)
