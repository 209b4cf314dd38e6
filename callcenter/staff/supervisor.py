"""The supervisors' board (`/staff/board`): live counts, breached targets, charts, export.

Everything covers tickets created in a period (the last 30 days unless chosen), so the
page stays fast however large the archive grows. Counts refresh live: the page's script
refetches `/staff/board/counts` when the WebSocket reports a change.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from typing import Any

from aiohttp import web
from markupsafe import Markup

from callcenter.domain.tickets import CHANNEL_LABELS, STATUS_LABELS, Channel, Status
from callcenter.staff.filters import parse_date
from callcenter.staff.pages import render, services, staff
from callcenter.staff.stats import MEDIAN_STAGES, BoardStats, Median, Period, series
from callcenter.web.auth import SUPERVISION_ROLES, require_roles
from callcenter.web.svg_charts import PALETTE, horizontal_bars, human_duration, stacked_days

TOP_CATEGORIES = 12
NO_GROUP = "Без категории"
TOP_DEPARTMENTS = 12
BREACHES_SHOWN = 50


def read_period(request: web.Request) -> tuple[Period, dict[str, str], dict[str, str]]:
    """The period from ?date_from=&date_to= (bad dates reported, the default used instead)."""
    typed = {name: request.query.get(name, "").strip()[:20] for name in ("date_from", "date_to")}
    errors = {}
    parsed = {}
    for name, value in typed.items():
        parsed[name] = parse_date(value) if value else None
        if value and parsed[name] is None:
            errors[name] = "Укажите дату как ДД.ММ.ГГГГ"
    period = staff(request).stats.period(parsed["date_from"], parsed["date_to"])
    return period, typed, errors


@require_roles(*SUPERVISION_ROLES)
async def supervisor_page(request: web.Request) -> web.Response:
    period, typed, errors = read_period(request)
    stats: BoardStats = staff(request).stats
    parts = (
        lambda: stats.counts(period),
        lambda: stats.breaches(period, limit=BREACHES_SHOWN),
        lambda: stats.per_day(period, "channel"),
        lambda: stats.per_day(period, "category"),
        lambda: stats.medians(period),
    )
    if services(request).engine.dialect.name == "postgresql":
        # Five independent aggregates, each on its own connection and server process: at once
        # (cache miss p50 118 -> 88 ms, issue 19). On SQLite they share this process's two
        # cores and the GIL through aiosqlite's threads, and at once was no faster (0.6-1.25x).
        results = await asyncio.gather(*(part() for part in parts))
    else:
        results = [await part() for part in parts]
    counts, breaches, by_channel, by_category, medians = results
    charts = _charts(request, period, by_channel, by_category, medians)
    context: dict[str, Any] = {
        "period": period,
        "typed": typed,
        "errors": errors,
        "counts": counts_table(counts),
        "breaches": breaches,
        "charts": charts,
        "export_query": f"date_from={period.start.isoformat()}&date_to={period.end.isoformat()}",
    }
    return render(request, "staff/supervisor.html", context, 422 if errors else 200)


@require_roles(*SUPERVISION_ROLES)
async def counts_fragment(request: web.Request) -> web.Response:
    period, _typed, _errors = read_period(request)
    table = counts_table(await staff(request).stats.counts(period))
    return render(request, "staff/_counts.html", {"counts": table, "period": period})


def counts_table(counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """Rows per status, columns per channel, with totals both ways."""
    channels = list(Channel)
    rows = []
    for status in Status:
        cells = [counts.get((status.value, c.value), 0) for c in channels]
        rows.append({"status": status, "label": STATUS_LABELS[status], "cells": cells, "total": sum(cells)})
    totals = [sum(r["cells"][i] for r in rows) for i in range(len(channels))]
    return {"channels": [CHANNEL_LABELS[c] for c in channels], "rows": rows, "totals": totals, "grand": sum(totals)}


def _charts(
    request: web.Request,
    period: Period,
    by_channel: dict[tuple[date, str], int],
    by_category: dict[tuple[date, str], int],
    medians: list[Median],
) -> dict[str, Any]:
    reference = services(request).reference
    days = period.days()
    groups = sorted({c.group for c in reference.categories}) + [NO_GROUP]
    group_of = {c.code: c.group for c in reference.categories}
    by_group: Counter[tuple[Any, str]] = Counter()
    totals: Counter[str] = Counter()
    for (day, code), n in by_category.items():
        by_group[(day, group_of.get(code, NO_GROUP))] += n
        totals[code] += n
    top = [(_category_name(reference, code), float(n), str(n)) for code, n in totals.most_common(TOP_CATEGORIES)]
    groups = [g for g in groups if any(group == g for (_day, group) in by_group)]
    return {
        "per_channel": stacked_days(
            days,
            series(by_channel, days, [c.value for c in Channel]),
            {c.value: CHANNEL_LABELS[c] for c in Channel},
            title="Заявки по дням и каналам",
        ),
        "per_group": stacked_days(
            days,
            series(dict(by_group), days, groups),
            {g: g for g in groups},
            title="Заявки по дням и группам категорий",
        ),
        "top_categories": horizontal_bars(top, title="Категории за период", width=560),
        "medians": _median_charts(request, medians),
    }


def _category_name(reference: Any, code: str) -> str:
    return reference.category(code).name if code and reference.has_category(code) else "Без категории"


def _median_charts(request: web.Request, medians: list[Median]) -> list[tuple[str, Markup]]:
    """One bar chart per stage (each on its own scale: minutes to dispatch, hours to done)."""
    reference = services(request).reference
    volume = Counter({m.department: m.tickets for m in medians if m.stage is Status.DISPATCHED})
    departments = [d for d, _ in volume.most_common(TOP_DEPARTMENTS)]

    def name(code: str | None) -> str:
        return reference.department(code).short_name if code and reference.has_department(code) else "Не назначен"

    charts = []
    for n, stage in enumerate(MEDIAN_STAGES):
        found = {m.department: m for m in medians if m.stage is stage}
        rows = [(name(d), found[d].seconds, human_duration(found[d].seconds)) for d in departments if d in found]
        title = f"До статуса «{STATUS_LABELS[stage]}»"
        charts.append((title, horizontal_bars(rows, title=title, color=PALETTE[n % len(PALETTE)])))
    return charts
