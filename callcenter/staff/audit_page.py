"""The audit log page (`/staff/admin/audit`): search by user, ticket, action and dates. Admins only.

The page only reads: there is no route that changes or removes an entry (the table refuses it too).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from aiohttp import web

from callcenter.accounts.audit import ACTION_LABELS, AuditQuery
from callcenter.domain.tickets import Role
from callcenter.staff.filters import parse_date
from callcenter.staff.pages import render, services
from callcenter.web.auth import require_roles
from callcenter.web.context import WEB

AUDIT_FIELDS = ("login", "ticket", "action", "date_from", "date_to", "before")
PAGE = 100


@require_roles(Role.ADMIN)
async def audit_page(request: web.Request) -> web.Response:
    typed = {name: request.query.get(name, "").replace("\x00", "").strip()[:64] for name in AUDIT_FIELDS}
    query, errors = _query(typed, services(request).settings.zone)
    entries = [] if errors else await request.app[WEB].audit.search(query)
    return render(
        request,
        "staff/admin_audit.html",
        {
            "typed": typed,
            "errors": errors,
            "entries": entries,
            "actions": sorted(ACTION_LABELS.items(), key=lambda kv: kv[1]),
            "next_before": entries[-1].id if len(entries) == PAGE else None,
        },
        422 if errors else 200,
    )


def _query(typed: dict[str, str], zone: object) -> tuple[AuditQuery, dict[str, str]]:
    errors: dict[str, str] = {}
    since = until = None
    for name in ("date_from", "date_to"):
        if typed[name] and parse_date(typed[name]) is None:
            errors[name] = "Дата в виде ДД.ММ.ГГГГ (2000–2100)"
    if not errors:
        start, end = parse_date(typed["date_from"]), parse_date(typed["date_to"])
        since = datetime.combine(start, time(), zone) if start else None  # type: ignore[arg-type]
        until = datetime.combine(end + timedelta(days=1), time(), zone) if end else None  # type: ignore[arg-type]
    if typed["action"] and typed["action"] not in ACTION_LABELS:
        errors["action"] = "Выберите действие из списка"
    ticket = typed["ticket"]
    if ticket and not (ticket.isascii() and ticket.isdigit()):
        errors["ticket"] = "Номер заявки: только цифры"
    before = typed["before"]
    query = AuditQuery(
        login=typed["login"].lower(),
        action=typed["action"],
        object_type="ticket" if ticket else "",
        object_id=ticket,
        since=since,
        until=until,
        limit=PAGE,
        before_id=int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None,
    )
    return query, errors
