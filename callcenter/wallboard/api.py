"""The wallboard feature's public module: how another feature adds a panel to the wallboard.

In its ``setup(app, services)`` (listed after the wallboard in ``app.FEATURES``)::

    from callcenter.wallboard.api import Panel, add_panel
    add_panel(app, Panel("incidents", "Аварии", fetch_open_incidents))

``fetch()`` returns lines ``{"text": ..., "level": "info" | "warn" | "alert"}``; it is called
for every wallboard update (at most once a second), so it must answer from memory or one
small query; it is cut off after 2 s and a failure shows «нет данных» in that panel only.
"""

from __future__ import annotations

from aiohttp import web

from callcenter.wallboard.board import Panel
from callcenter.wallboard.wiring import WALLBOARD


def add_panel(app: web.Application, panel: Panel) -> bool:
    """Add ``panel`` to the wallboard; False when the wallboard feature is not in this app."""
    if WALLBOARD not in app:
        return False
    app[WALLBOARD].board.panels.append(panel)
    return True


def panels_changed(app: web.Application) -> None:
    """A panel's lines changed: the wallboard publishes again soon (never waits)."""
    if WALLBOARD in app:
        app[WALLBOARD].board.changed()


__all__ = ["Panel", "add_panel", "panels_changed"]
