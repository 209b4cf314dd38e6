"""Wallboard pages.

* ``GET /staff/wallboard``: the large-screen board (supervisors, analysts, admins), no
  navigation; the page renders the state once, then follows "wallboard" messages on ``/ws``;
* ``GET /staff/wallboard/state``: that state as JSON;
* ``GET /staff/pause`` and ``POST /staff/pause``: an operator's pause with a reason (the
  form sends ``reason`` = a reason's id, or ``resume``); ``QueuePause`` over AMI with
  ``Reason``; the state shown comes back from Asterisk's QueueMemberPause event;
* ``GET /staff/pause/state``: the operator's pause as the live board knows it (JSON);
* ``GET/POST /staff/admin/pause-reasons``: the list of reasons (admins);
* ``GET /staff/admin/duty-contacts``, ``POST /staff/admin/duty-contacts/{department}``: each
  department's duty phone and e-mail and its head, called by the escalation chain (admins);
* ``GET /staff/wallboard/stats``: queue statistics per hour, day, queue or operator, with
  a chart; ``?format=csv`` for a spreadsheet.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.domain.queue_stats import DEFAULT_SERVICE_LEVEL_SECONDS, Grouping, grouped
from callcenter.domain.tickets import Role
from callcenter.services import SERVICES
from callcenter.telephony.api import AmiError
from callcenter.wallboard.escalation import BadContact
from callcenter.wallboard.reasons import BadReason
from callcenter.wallboard.wiring import WALLBOARD, WallboardSlice
from callcenter.web.auth import SUPERVISION_ROLES, current_user, require_roles
from callcenter.web.error_pages import wants_json
from callcenter.web.svg_charts import PALETTE, horizontal_bars

PAUSE_ROLES = (Role.OPERATOR, Role.SUPERVISOR)
MAX_STATS_DAYS = 92


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/staff/wallboard", wallboard_page, name="staff_wallboard")
    router.add_get("/staff/wallboard/state", wallboard_state, name="staff_wallboard_state")
    router.add_get("/staff/wallboard/stats", stats_page, name="staff_wallboard_stats")
    router.add_get("/staff/pause", pause_page, name="staff_pause")
    router.add_post("/staff/pause", pause_submit, name="staff_pause_submit")
    router.add_get("/staff/pause/state", pause_state, name="staff_pause_state")
    router.add_get("/staff/admin/pause-reasons", reasons_page, name="staff_admin_pause_reasons")
    router.add_post("/staff/admin/pause-reasons", reasons_submit, name="staff_admin_pause_reasons_submit")
    router.add_get("/staff/admin/duty-contacts", contacts_page, name="staff_admin_duty_contacts")
    router.add_post(
        r"/staff/admin/duty-contacts/{code:[a-z0-9_-]{1,64}}", contacts_submit, name="staff_admin_duty_save"
    )


def _slice(request: web.Request) -> WallboardSlice:
    return request.app[WALLBOARD]


# --- the wallboard -------------------------------------------------------------------------


@require_roles(*SUPERVISION_ROLES)
async def wallboard_page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template(
        "wallboard/wallboard.html", request, {"state": await _slice(request).board.state()}
    )


@require_roles(*SUPERVISION_ROLES)
async def wallboard_state(request: web.Request) -> web.Response:
    return web.json_response(await _slice(request).board.state())


# --- pause -----------------------------------------------------------------------------------


def _pause_view(request: web.Request) -> dict[str, Any]:
    user = current_user(request)
    op = _slice(request).board.operator_for(user.device)
    return {
        "device": user.device,
        "known": op is not None,
        "paused": bool(op and op.get("paused")),
        "reason": (op or {}).get("pause_reason") or "",
        "since": (op or {}).get("state_since"),
        "interface": (op or {}).get("interface") or user.device,
    }


@require_roles(*PAUSE_ROLES)
async def pause_page(request: web.Request) -> web.Response:
    return await _pause_page(request)


async def _pause_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    reasons = await _slice(request).reasons.all(active_only=True)
    response = aiohttp_jinja2.render_template(
        "wallboard/pause.html", request, {"pause": _pause_view(request), "reasons": reasons, "error": error}
    )
    response.set_status(status)
    return response


@require_roles(*PAUSE_ROLES)
async def pause_state(request: web.Request) -> web.Response:
    return web.json_response(_pause_view(request))


@require_roles(*PAUSE_ROLES)
async def pause_submit(request: web.Request) -> web.Response:
    form = await request.post()
    user = current_user(request)
    choice = str(form.get("reason", "")).strip()
    try:
        label = await _chosen_reason(request, choice)
        interface = _pause_view(request)["interface"]
        if not interface:
            raise BadReason("К вашей учётной записи не привязан телефон: пауза ставится на телефоне очереди.")
        await _queue_pause(request, interface, label)
    except (BadReason, PauseFailed) as err:
        status = 503 if isinstance(err, PauseFailed) else 400
        if wants_json(request):
            return web.json_response({"ok": False, "error": err.code, "message": err.message}, status=status)
        return await _pause_page(request, error=err.message, status=status)
    body = {"ok": True, "paused": label is not None, "reason": label or "", "user_id": user.id}
    if wants_json(request):
        return web.json_response(body)
    raise web.HTTPSeeOther("/staff/pause")


async def _chosen_reason(request: web.Request, choice: str) -> str | None:
    """None to end the pause, else the reason's label (an active reason of the list only)."""
    if choice == "resume":
        return None
    try:
        reason_id = int(choice)
    except ValueError:
        raise BadReason("Выберите причину паузы из списка.") from None
    reason = await _slice(request).reasons.get(reason_id)
    if reason is None or not reason.active:
        raise BadReason("Такой причины паузы нет в списке.")
    return reason.label


class PauseFailed(BadReason):
    code = "pause_failed"


async def _queue_pause(request: web.Request, interface: str, reason: str | None) -> None:
    """``QueuePause`` for every queue the phone is in; Asterisk's QueueMemberPause updates the boards."""
    ami = request.app[SERVICES].ami_actions  # this instance's link, or the AMI leader's
    if ami is None:
        raise PauseFailed("Телефония отключена: паузу сейчас поставить нельзя.")
    fields = {"Action": "QueuePause", "Interface": interface, "Paused": "false" if reason is None else "true"}
    if reason is not None:
        fields["Reason"] = reason
    try:
        result = await ami.send_action(fields, timeout=5.0)
    except (AmiError, TimeoutError) as err:
        raise PauseFailed("Нет связи с АТС: пауза не поставлена, попробуйте ещё раз.") from err
    if not result.ok:
        raise PauseFailed(f"АТС не приняла паузу: {result.message or 'нет такого оператора в очереди'}.")


# --- pause reasons (admins) -----------------------------------------------------------------


@require_roles(Role.ADMIN)
async def reasons_page(request: web.Request) -> web.Response:
    return await _reasons_page(request)


async def _reasons_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    reasons = await _slice(request).reasons.all()
    response = aiohttp_jinja2.render_template(
        "wallboard/pause_reasons.html", request, {"reasons": reasons, "error": error}
    )
    response.set_status(status)
    return response


@require_roles(Role.ADMIN)
async def reasons_submit(request: web.Request) -> web.Response:
    form = await request.post()
    reasons = _slice(request).reasons
    try:
        if form.get("id"):
            try:
                reason_id = int(str(form.get("id")))
            except ValueError:
                raise BadReason("Такой причины паузы нет.") from None
            await reasons.set_active(reason_id, form.get("active") == "1")
        else:
            await reasons.add(form.get("label"))
    except BadReason as err:
        return await _reasons_page(request, error=err.message, status=400)
    raise web.HTTPSeeOther("/staff/admin/pause-reasons")


# --- duty contacts (admins) ------------------------------------------------------------------


@require_roles(Role.ADMIN)
async def contacts_page(request: web.Request) -> web.Response:
    return await _contacts_page(request)


async def _contacts_page(
    request: web.Request, *, error: str = "", failed: str = "", typed: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    escalator = _slice(request).escalator
    response = aiohttp_jinja2.render_template(
        "wallboard/duty_contacts.html",
        request,
        {
            "contacts": await escalator.contacts.all(),
            "chain": escalator.chain,
            "error": error,
            "failed": failed,
            "typed": typed or {},
        },
    )
    response.set_status(status)
    return response


@require_roles(Role.ADMIN)
async def contacts_submit(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    form = await request.post()
    fields = {k: str(form.get(k, ""))[:300] for k in ("duty_phone", "duty_email", "head_name", "head_phone")}
    try:
        await _slice(request).escalator.contacts.save(code, fields)
    except BadContact as err:
        return await _contacts_page(request, error=err.message, failed=code, typed=fields, status=400)
    raise web.HTTPSeeOther("/staff/admin/duty-contacts")


# --- statistics ------------------------------------------------------------------------------

GROUP_LABELS = {
    Grouping.HOUR: "по часам",
    Grouping.DAY: "по дням",
    Grouping.QUEUE: "по очередям",
    Grouping.OPERATOR: "по операторам",
}


def _day(raw: str | None, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text="Дата в формате ГГГГ-ММ-ДД.") from None


@require_roles(*SUPERVISION_ROLES)
async def stats_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    zone = services.settings.zone
    today = datetime.now(zone).date()
    first = _day(request.query.get("from"), today)
    last = _day(request.query.get("to"), first)
    if last < first or (last - first).days > MAX_STATS_DAYS:
        raise web.HTTPBadRequest(text=f"Период: от начала до конца, не длиннее {MAX_STATS_DAYS} дней.")
    try:
        grouping = Grouping(request.query.get("by", "hour"))
    except ValueError:
        raise web.HTTPBadRequest(text="by: hour, day, queue или operator.") from None
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=zone).astimezone(UTC) + timedelta(days=1)
    board = _slice(request).board
    calls = await _slice(request).queue_calls(start, end)
    # Up to 92 days of calls: grouping them takes ~100 ms per 20,000 calls (bench/wallboard_figures.py),
    # too long for the event loop, so it runs in a worker thread (pure code over our own list).
    levels = {q: board.service_level_of(q) for q in {c.queue for c in calls}}
    groups = await asyncio.to_thread(
        grouped,
        calls,
        grouping,
        zone,
        service_level_seconds=lambda q: levels.get(q, DEFAULT_SERVICE_LEVEL_SECONDS),
        short_abandon_seconds=board.short_abandon_seconds,
    )
    rows = [(_label(key, grouping), figures) for key, figures in groups]
    if request.query.get("format") == "csv":
        return _csv(rows, grouping, first, last)
    chart = horizontal_bars(
        [(label, (f.service_level or 0) * 100, _percent(f.service_level)) for label, f in rows],
        title="Уровень обслуживания, %",
    )
    volume = horizontal_bars(
        [(label, f.offered, str(f.offered)) for label, f in rows], title="Поступило звонков", color=PALETTE[1]
    )
    return aiohttp_jinja2.render_template(
        "wallboard/stats.html",
        request,
        {
            "rows": rows,
            "chart": chart,
            "volume": volume,
            "grouping": grouping,
            "groupings": GROUP_LABELS,
            "first": first,
            "last": last,
            "short_abandon_seconds": board.short_abandon_seconds,
        },
    )


def _label(key: object, grouping: Grouping) -> str:
    if grouping is Grouping.HOUR and isinstance(key, datetime):
        return key.strftime("%d.%m %H:00")
    if grouping is Grouping.DAY and isinstance(key, date):
        return key.strftime("%d.%m.%Y")
    return str(key)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


CSV_COLUMNS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answered_in_time",
    "service_level",
    "abandoned_share",
    "asa_seconds",
    "aht_seconds",
    "abandoned_wait_seconds",
    "longest_wait_seconds",
)


def _csv(rows: list[tuple[str, Any]], grouping: Grouping, first: date, last: date) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([grouping.value, *CSV_COLUMNS])
    for label, figures in rows:
        data = figures.as_json()
        writer.writerow([label, *("" if data[c] is None else data[c] for c in CSV_COLUMNS)])
    name = f"queue-stats-{grouping.value}-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
