"""CSV export of any filtered list (`/staff/export.csv?...`, the board's filters), streamed.

Semicolon-separated UTF-8 with a BOM: what Excel in a Russian locale opens correctly.
Rows are read page by page with the same keyset paging as the board, so memory stays flat;
without dates the export covers the last 30 days (a whole archive is never one request).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from aiohttp import web

from callcenter.domain.phones import mask_phone
from callcenter.domain.tickets import CHANNEL_LABELS, STATUS_LABELS
from callcenter.staff.filters import FilterForm, local_today, parse_filters
from callcenter.staff.pages import render, services
from callcenter.staff.views import masked_ticket
from callcenter.tickets.schemas import TicketView
from callcenter.web.audit import audit, sees_full_phones
from callcenter.web.auth import SUPERVISION_ROLES, current_user, require_roles

DEFAULT_DAYS = 30
CHUNK = 200
HEADER = (
    "Номер",
    "Создана",
    "Канал",
    "Статус",
    "Категория",
    "Исполнитель",
    "Район",
    "Адрес",
    "Телефон",
    "Заявитель",
    "Описание",
    "Последнее изменение",
    "Черновик",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@require_roles(*SUPERVISION_ROLES)
async def export_csv(request: web.Request) -> web.StreamResponse:
    shared = services(request)
    form = parse_filters(
        request.query, shared.reference, default_days=DEFAULT_DAYS, today=local_today(shared.settings.zone)
    )
    if form.errors:
        return render(request, "staff/export_error.html", {"form": form, "errors": form.errors}, 422)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="tickets-{local_today(shared.settings.zone):%Y%m%d}.csv"',
            "Cache-Control": "no-store",
        }
    )
    full = sees_full_phones(current_user(request))
    await response.prepare(request)
    rows: int | None = None
    try:
        await response.write("\ufeff".encode() + _lines([HEADER]))
        rows = await _write_rows(request, response, form, full)
    finally:
        # Recorded before the end of the file, so a finished download is always on record (and an
        # interrupted one too, with no row count). Filters are kept as typed: the phone filter is
        # what the reader asked, not a leak.
        await audit(
            request, "tickets_exported", "export", "csv", rows=rows, full_phones=full, query=request.query_string[:500]
        )
    await response.write_eof()
    return response


async def _write_rows(request: web.Request, response: web.StreamResponse, form: FilterForm, full: bool) -> int:
    """Write every matching ticket; returns how many. ``full``: phones and names unmasked."""
    tickets = services(request).tickets
    zone = services(request).settings.zone
    before = form.before_id
    written = 0
    while True:
        page = await tickets.list(form.filter, before_id=before, limit=CHUNK)
        await response.write(_lines(_row(t if full else masked_ticket(t), zone, full) for t in page.rows))
        written += len(page.rows)
        if page.next_before_id is None:
            return written
        before = page.next_before_id


def _row(t: TicketView, zone: object, full: bool = True) -> tuple[str, ...]:
    def local(value: object) -> str:
        return value.astimezone(zone).strftime("%d.%m.%Y %H:%M:%S") if value else ""  # type: ignore[attr-defined]

    return (
        t.number,
        local(t.created_at),
        CHANNEL_LABELS[t.channel],
        STATUS_LABELS[t.status],
        t.category_name or t.category or "",
        t.department_name or t.department or "",
        t.district or "",
        _cell(t.address),
        (t.phone or "") if full else (mask_phone(t.phone) if t.phone else ""),
        _cell(t.citizen_name or ""),
        _cell(t.description),
        local(t.last_change_at),
        "да" if t.is_draft else "",
    )


def _cell(text: str) -> str:
    """Free text a spreadsheet could take for a formula gets a leading apostrophe."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _lines(rows: Iterable[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
