"""Server-side SVG charts of the callback board: no chart library, nothing from a CDN.

Pure functions from figures to markup; every text is escaped and every bar or point has a
<title> with the exact value, so hovering shows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from callcenter.callbacks.completion_board import DayFigures

SERIES = (("satisfied", "Доволен", "#1e8e3e"), ("not_satisfied", "Не удовлетворён", "#e37400"),
          ("unreachable", "Недозвон", "#c5221f"))
PLANNED_COLOR = "#1a5fb4"
FONT = 'font-family="system-ui, sans-serif" font-size="11" fill="#3c4043"'
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 1100, 240, 44, 12, 10, 52


def axis_max(value: float) -> float:
    """A round upper bound for a four-step axis: 4 times 1, 2, 2.5 or 5 times a power of ten (at least 4)."""
    step = max(value, 4.0) / 4
    power = 10 ** math.floor(math.log10(step))
    return 4 * next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= step)


def outcomes_per_day(days: Sequence[DayFigures]) -> Markup:
    """Stacked bars of concluded callbacks per day by outcome; a line of callbacks planned."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [d.satisfied + d.not_satisfied + d.unreachable for d in days]
    y_max = axis_max(max([*totals, *(d.planned for d in days)], default=0))
    slot = plot_w / max(len(days), 1)
    parts = [_open("Обратные звонки по дням"), *_grid(y_max, plot_w, plot_h, _hours)]
    for i, day in enumerate(days):
        parts += _stack(day, LEFT + i * slot + slot * 0.15, slot * 0.7, y_max, plot_h)
    points = [(LEFT + (i + 0.5) * slot, TOP + plot_h * (1 - d.planned / y_max), f"{d.day:%d.%m}: запланировано — {d.planned}")
              for i, d in enumerate(days)]
    parts += _polyline(points, PLANNED_COLOR)
    parts += _x_labels(days, slot, TOP + plot_h)
    parts += _legend([(label, color) for _, label, color in SERIES] + [("Запланировано", PLANNED_COLOR)])
    return Markup("".join([*parts, "</svg>"]))


def median_hours_per_day(days: Sequence[DayFigures]) -> Markup:
    """The median time from "done" to the citizen's confirmation, in hours, per day."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    hours = [d.median_to_confirm.total_seconds() / 3600 if d.median_to_confirm is not None else None for d in days]
    y_max = axis_max(max((h for h in hours if h is not None), default=0))
    slot = plot_w / max(len(days), 1)
    parts = [_open("Медиана: от выполнения до подтверждения, часов"), *_grid(y_max, plot_w, plot_h, _hours)]
    points = [(LEFT + (i + 0.5) * slot, TOP + plot_h * (1 - h / y_max), f"{d.day:%d.%m}: {_hours(h)} ч")
              for i, (d, h) in enumerate(zip(days, hours, strict=True)) if h is not None]
    parts += _polyline(points, "#1e8e3e")
    parts += _x_labels(days, slot, TOP + plot_h)
    return Markup("".join([*parts, "</svg>"]))


def _hours(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def _open(title: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>')


def _grid(y_max: float, plot_w: float, plot_h: float, fmt) -> list[str]:  # noqa: ANN001 - a formatter
    parts = []
    for k in range(5):
        value = y_max * k / 4
        y = TOP + plot_h * (1 - k / 4)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{escape(fmt(value))}</text>')
    return parts


def _stack(day: DayFigures, x: float, width: float, y_max: float, plot_h: float) -> list[str]:
    parts, y = [], TOP + plot_h
    for key, label, color in SERIES:
        value = getattr(day, key)
        height = plot_h * value / y_max
        if height > 0:
            y -= height
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{color}">'
                         f'<title>{escape(f"{day.day:%d.%m}: {label} — {value}")}</title></rect>')
    return parts


def _polyline(points: list[tuple[float, float, str]], color: str) -> list[str]:
    if not points:
        return []
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    parts = [f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>']
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(tip)}</title></circle>'
              for x, y, tip in points]
    return parts


def _x_labels(days: Sequence[DayFigures], slot: float, baseline: float) -> list[str]:
    every = max(1, math.ceil(len(days) / 15))   # at most about 15 labels, whatever the period
    return [f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{baseline + 14:.1f}" text-anchor="middle" {FONT}>'
            f'{d.day:%d.%m}</text>' for i, d in enumerate(days) if i % every == 0]


def _legend(entries: list[tuple[str, str]]) -> list[str]:
    parts, x = [], LEFT
    for label, color in entries:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 13}" {FONT}>{escape(label)}</text>')
        x += 24 + 7 * len(label)
    return parts
