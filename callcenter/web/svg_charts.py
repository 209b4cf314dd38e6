"""Server-side SVG charts for every board (no chart library, nothing from a CDN).

Pure functions from numbers to markup; every text is escaped. Each bar and point carries a
<title>, so hovering shows the exact figure. The supervisors' board and the callback board
both draw with these: stacked bars per day (with an optional line over them), a line per
day, horizontal bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

PALETTE = (
    "#1a5fb4",
    "#e37400",
    "#1e8e3e",
    "#9334e6",
    "#c5221f",
    "#12848f",
    "#795548",
    "#d01884",
    "#5f6368",
    "#b39500",
    "#5b8def",
    "#00a37a",
)
FONT = 'font-family="system-ui, sans-serif" font-size="11" fill="#3c4043"'


def nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value)


def axis_max(value: float) -> float:
    """A round upper bound for a four-step axis: 4 times 1, 2, 2.5 or 5 times a power of ten (at least 4)."""
    step = max(value, 4.0) / 4
    power = 10 ** math.floor(math.log10(step))
    return 4 * next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= step)


def stacked_days(
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    labels: Mapping[str, str],
    *,
    title: str,
    width: int = 1100,
    height: int = 220,
    colors: Mapping[str, str] | None = None,
    line: DayLine | None = None,
) -> Markup:
    """Stacked bars, one per day, one colour per series; an optional line over them (e.g. what was
    planned); a legend (wrapped to the width) below."""
    left, right, top, bottom = 40, 10, 10, 26
    palette = [(colors or {}).get(key, PALETTE[n % len(PALETTE)]) for n, key in enumerate(series)]
    names = [labels.get(k, k) for k in series]
    if line is not None:
        names, palette = [*names, line.label], [*palette, line.color]
    legend, legend_height = _legend(names, left, width - right, height + 6, palette)
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    drawn: list[float] = [*totals, *(v for v in (line.values if line else ()) if v is not None)]
    y_max = axis_max(max(drawn, default=0)) if line is not None else nice_max(max(drawn, default=0))
    slot = plot_w / max(len(days), 1)
    parts = [_open(width, height + legend_height, title), *_y_axis(left, top, plot_w, plot_h, y_max)]
    for i, day in enumerate(days):
        y: float = top + plot_h
        for n, (key, values) in enumerate(series.items()):
            h = plot_h * values[i] / y_max
            if h > 0:
                y -= h
                tip = f"{day:%d.%m}: {labels.get(key, key)} — {values[i]}"
                parts.append(
                    f'<rect x="{left + i * slot + slot * 0.12:.1f}" y="{y:.1f}" width="{slot * 0.76:.1f}" '
                    f'height="{h:.1f}" fill="{palette[n]}"><title>{escape(tip)}</title></rect>'
                )
    if line is not None:
        parts += _polyline(days, line, left, top, slot, plot_h, y_max)
    parts += _x_labels(days, left, slot, top + plot_h)
    parts += legend
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class DayLine:
    """One value per day (None: no point that day), drawn as a line with a point per day."""

    label: str
    values: Sequence[float | None]
    color: str = PALETTE[0]
    text: Callable[[float], str] = "{:g}".format  # the value as the point's tooltip shows it


def line_days(days: Sequence[date], line: DayLine, *, title: str, width: int = 1100, height: int = 220) -> Markup:
    """A line over the days (its axis from 0), for a per-day figure such as a median."""
    left, right, top, bottom = 40, 10, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = axis_max(max((v for v in line.values if v is not None), default=0))
    slot = plot_w / max(len(days), 1)
    parts = [_open(width, height, title), *_y_axis(left, top, plot_w, plot_h, y_max)]
    parts += _polyline(days, line, left, top, slot, plot_h, y_max)
    parts += _x_labels(days, left, slot, top + plot_h)
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(
    rows: Sequence[tuple[str, float, str]], *, title: str, color: str = PALETTE[0], width: int = 440
) -> Markup:
    """One labelled bar per row: (label, value, value as text)."""
    bar, gap, label_w = 16, 6, 210
    height = max(1, len(rows)) * (bar + gap) + 8
    x_max = nice_max(max((v for _, v, _ in rows), default=0))
    plot_w = width - label_w - 70
    parts = [_open(width, height, title)]
    for i, (label, value, text) in enumerate(rows):
        y = 4 + i * (bar + gap)
        w = max(1.0, plot_w * value / x_max) if value > 0 else 0
        short = label if len(label) <= 28 else label[:27] + "…"  # about 6.5 px a letter at 11 px
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" {FONT}>'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}" rx="2">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" {FONT}>{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )


def _y_axis(left: int, top: int, plot_w: float, plot_h: float, y_max: float) -> list[str]:
    parts = []
    for k in range(5):
        value = y_max * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e8eaed"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{value:g}</text>')
    return parts


def _x_labels(days: Sequence[date], left: int, slot: float, base: float) -> list[str]:
    every = max(1, math.ceil(len(days) / 12))
    return [
        f'<text x="{left + i * slot + slot / 2:.1f}" y="{base + 14:.1f}" text-anchor="middle" {FONT}>{day:%d.%m}</text>'
        for i, day in enumerate(days)
        if i % every == 0
    ]


def _polyline(
    days: Sequence[date], line: DayLine, left: int, top: int, slot: float, plot_h: float, y_max: float
) -> list[str]:
    points = [
        (left + (i + 0.5) * slot, top + plot_h * (1 - value / y_max), f"{day:%d.%m}: {line.label} — {line.text(value)}")
        for i, (day, value) in enumerate(zip(days, line.values, strict=True))
        if value is not None
    ]
    if not points:
        return []
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    parts = [f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="2"/>']
    parts += [
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{line.color}"><title>{escape(tip)}</title></circle>'
        for x, y, tip in points
    ]
    return parts


def _legend(
    names: Sequence[str], left: int, right: int, y: int, colors: Sequence[str] = PALETTE
) -> tuple[list[str], int]:
    """Legend items, wrapped into rows that fit; returns the markup and the height it takes."""
    parts, x, row = [], float(left), 0
    for n, name in enumerate(names):
        item_width = 24 + 7.0 * len(name)
        if x + item_width > right and x > left:
            x, row = float(left), row + 1
        base = y + row * 18 + 10
        parts.append(f'<rect x="{x:.1f}" y="{base - 9}" width="10" height="10" fill="{colors[n % len(colors)]}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{base}" {FONT}>{escape(name)}</text>')
        x += item_width
    return parts, (row + 1) * 18 + 8


def human_duration(seconds: float) -> str:
    """Short Russian durations for chart labels: 45 с, 12 мин, 3 ч 20 мин, 2 дн 4 ч."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} с"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} мин"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} ч {minutes} мин" if minutes else f"{hours} ч"
    days, hours = divmod(hours, 24)
    return f"{days} дн {hours} ч" if hours else f"{days} дн"
