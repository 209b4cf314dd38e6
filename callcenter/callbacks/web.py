"""The callbacks feature's pages: the supervisors' board and the operators' list (routes in feature.py).

Pages:
  GET  /staff/callbacks                 board: due, in progress, overdue, done today, figures, charts
  GET  /staff/callbacks/export.csv      the period's callbacks, one row per covered ticket
  POST /staff/callbacks/{id}/retry      unreachable -> a new round of attempts (supervisor)
  POST /staff/callbacks/{id}/to-operator  unreachable -> the operators' list (supervisor)
  POST /staff/callbacks/{id}/unreachable  unreachable -> "недозвон" noted; the ticket stays done
  GET  /staff/callbacks/mine            the operators' callback list
  POST /staff/callbacks/{id}/call       click-to-call (or the number to dial by hand)
  POST /staff/callbacks/{id}/outcome    one click: satisfied / not satisfied (comment) / busy / no answer
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from callcenter.callbacks.completion_board import CSV_HEADER, DayFigures, csv_chunk
from callcenter.callbacks.wiring import CALLBACKS
from callcenter.domain.callbacks import OPERATOR_RESULTS, RESULT_LABELS
from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.phones import mask_phone
from callcenter.domain.tickets import Role
from callcenter.web.audit import audit, sees_full_phones
from callcenter.web.auth import current_user, require_roles
from callcenter.web.error_pages import status_for
from callcenter.web.request_keys import CURRENT_USER
from callcenter.web.svg_charts import DayLine, line_days, stacked_days

logger = logging.getLogger(__name__)

SUPERVISION = (Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
DECIDERS = (Role.SUPERVISOR, Role.ADMIN)
CALLERS = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)
MAX_PERIOD_DAYS = 366
ID = r"{callback_id:\d{1,18}}"


# ---------------------------------------------------------------------- the supervisors' board


@require_roles(*SUPERVISION)
@aiohttp_jinja2.template("staff/callbacks.html")
async def board_page(request: web.Request) -> dict[str, Any]:
    feature = request.app[CALLBACKS]
    now = feature.service.now()
    start, end, errors = _period(request, feature.board.today(now))
    snapshot = await feature.board.snapshot(now, start, end)
    return {
        "snap": snapshot,
        "errors": errors,
        "typed": dict(request.query),
        "charts": {"outcomes": outcomes_per_day(snapshot.days), "medians": median_hours_per_day(snapshot.days)},
        "can_decide": request[CURRENT_USER].role in DECIDERS,
        "done": request.query.get("done"),
        "export_query": f"date_from={start.isoformat()}&date_to={end.isoformat()}",
        "span": span_text,
        "percent": percent_text,
    }


OUTCOME_SERIES = (
    ("satisfied", "Доволен", "#1e8e3e"),
    ("not_satisfied", "Не удовлетворён", "#e37400"),
    ("unreachable", "Недозвон", "#c5221f"),
)


def outcomes_per_day(days: Sequence[DayFigures]) -> Markup:
    """Stacked bars of concluded callbacks per day by outcome; a line of callbacks planned."""
    series = {key: [getattr(d, key) for d in days] for key, _, _ in OUTCOME_SERIES}
    return stacked_days(
        [d.day for d in days],
        series,
        {key: label for key, label, _ in OUTCOME_SERIES},
        colors={key: color for key, _, color in OUTCOME_SERIES},
        title="Обратные звонки по дням",
        line=DayLine("Запланировано", [d.planned for d in days], "#1a5fb4"),
    )


def median_hours_per_day(days: Sequence[DayFigures]) -> Markup:
    """The median time from "done" to the citizen's confirmation, in hours, per day."""
    hours = [d.median_to_confirm.total_seconds() / 3600 if d.median_to_confirm is not None else None for d in days]
    return line_days(
        [d.day for d in days],
        DayLine("медиана", hours, "#1e8e3e", _hours_text),
        title="Медиана: от выполнения до подтверждения, часов",
    )


def _hours_text(value: float) -> str:
    return (f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))) + " ч"


def span_text(value: timedelta | None) -> str:
    """A duration as staff read it: "2 ч 05 мин", "3 дн. 4 ч"; "—" when unknown."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} дн. {hours} ч"
    return f"{hours} ч {minutes:02d} мин" if hours else f"{minutes} мин"


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _period(request: web.Request, today: date) -> tuple[date, date, dict[str, str]]:
    """The board's period from ``date_from``/``date_to``; bad values fall back with a message."""
    errors: dict[str, str] = {}
    end = _date_arg(request, "date_to", today, errors)
    start = _date_arg(request, "date_from", end - timedelta(days=29), errors)
    if start > end:
        errors["date_from"] = "Начало периода позже его конца"
        start = end - timedelta(days=29)
    if (end - start).days >= MAX_PERIOD_DAYS:
        errors["date_from"] = "Период не длиннее года"
        start = end - timedelta(days=MAX_PERIOD_DAYS - 1)
    return start, end, errors


def _date_arg(request: web.Request, name: str, default: date, errors: dict[str, str]) -> date:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "Дата в виде ГГГГ-ММ-ДД, например 2026-12-01"
        return default


@require_roles(*SUPERVISION)
async def export_csv(request: web.Request) -> web.StreamResponse:
    feature = request.app[CALLBACKS]
    start, end, errors = _period(request, feature.board.today(feature.service.now()))
    if errors:
        raise ValidationError(next(iter(errors.values())), field=next(iter(errors)))
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="callbacks-{start.isoformat()}-{end.isoformat()}.csv"',
        }
    )
    full = sees_full_phones(current_user(request))  # analysts get the citizens' numbers masked
    phone_column = CSV_HEADER.index("Телефон")
    await response.prepare(request)
    try:
        try:
            await response.write(b"\xef\xbb\xbf" + csv_chunk([CSV_HEADER]))  # BOM: Excel reads UTF-8 then
            async with contextlib.aclosing(feature.board.export_rows(start, end)) as batches:
                async for rows in batches:
                    await response.write(csv_chunk(rows if full else [_masked_row(r, phone_column) for r in rows]))
        finally:
            # On record before the file ends, so a finished download has always been audited.
            await audit(
                request, "tickets_exported", "export", "callbacks-csv", full_phones=full, period=f"{start}..{end}"
            )
        await response.write_eof()
    except ConnectionResetError:
        logger.info("callback CSV export: the client left before the end")
    return response


def _masked_row(row: list[Any], column: int) -> list[Any]:
    masked = list(row)
    if isinstance(masked[column], str) and masked[column].startswith("+"):
        masked[column] = mask_phone(masked[column])
    return masked


async def _decide(request: web.Request, action: str) -> web.StreamResponse:
    feature = request.app[CALLBACKS]
    callback_id = int(request.match_info["callback_id"])
    actor = request[CURRENT_USER].actor()
    handlers = {
        "retry": feature.service.retry_now,
        "to-operator": feature.service.hand_to_operator,
        "unreachable": feature.service.mark_unreachable,
    }
    await handlers[action](callback_id, actor)
    raise web.HTTPSeeOther(f"/staff/callbacks?done={action}#unreachable")


@require_roles(*DECIDERS)
async def retry_now(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "retry")


@require_roles(*DECIDERS)
async def to_operator(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "to-operator")


@require_roles(*DECIDERS)
async def mark_unreachable(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "unreachable")


# ---------------------------------------------------------------------- the operators' list


@require_roles(*CALLERS)
async def mine_page(request: web.Request) -> web.StreamResponse:
    return await _render_mine(request)


async def _render_mine(
    request: web.Request, *, error: DomainError | None = None, form: dict[str, str] | None = None
) -> web.StreamResponse:
    feature = request.app[CALLBACKS]
    user = request[CURRENT_USER]
    now = feature.service.now()
    items = await feature.board.operator_list(user.id, now)
    context = {
        "items": items,
        "error": error,
        "form": form or {},
        "window": str(feature.service.policy.window),
        "results": [(r.value, RESULT_LABELS[r]) for r in OPERATOR_RESULTS],
        "called": request.query.get("call"),
        "dialling": request.query.get("dialling") == "1",
        "recorded": request.query.get("recorded"),
        "has_device": bool(user.device),
        "telephony_on": feature.dialer is not None,
        "link_up": feature.dialer is not None and feature.dialer.available,
    }
    response = aiohttp_jinja2.render_template("staff/callbacks_mine.html", request, context)
    if error is not None:
        response.set_status(status_for(error))
    return response


@require_roles(*CALLERS)
async def start_call(request: web.Request) -> web.StreamResponse:
    feature = request.app[CALLBACKS]
    callback_id = int(request.match_info["callback_id"])
    try:
        start = await feature.service.start_call(callback_id, request[CURRENT_USER], feature.dialer)
    except DomainError as err:
        return await _render_mine(request, error=err)
    raise web.HTTPSeeOther(f"/staff/callbacks/mine?call={callback_id}&dialling={int(start.dialling)}#cb-{callback_id}")


@require_roles(*CALLERS)
async def record_outcome(request: web.Request) -> web.StreamResponse:
    feature = request.app[CALLBACKS]
    callback_id = int(request.match_info["callback_id"])
    form = await request.post()
    result, comment = str(form.get("result", "")), str(form.get("comment", ""))
    try:
        await feature.service.record_operator_outcome(callback_id, request[CURRENT_USER], result, comment)
    except DomainError as err:
        return await _render_mine(request, error=err, form={"id": str(callback_id), "comment": comment})
    raise web.HTTPSeeOther(f"/staff/callbacks/mine?recorded={callback_id}")
