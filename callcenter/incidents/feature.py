"""The incidents feature in the app: supervisors' pages, the utilities' endpoint, the public list,
the "incident" messages of /ws, and ``callcenter incidents``. Built by the root (``services.incidents``)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from callcenter.features import Command, Feature
from callcenter.incidents import web as pages
from callcenter.incidents.cli import IncidentsCommand
from callcenter.incidents.service import IncidentService
from callcenter.incidents.wiring import INCIDENTS
from callcenter.services import Services
from callcenter.wallboard.api import Panel, add_panel
from callcenter.web.live import Audience, add_message_type


def setup(app: web.Application, services: Services) -> None:
    feature = services.incidents
    if feature is None:
        return
    app[INCIDENTS] = feature
    add_message_type(app, "incident", Audience.SUPERVISORS)
    pages.add_routes(app.router)
    add_panel(app, Panel("incidents", "Аварии", _WallboardLines(feature.service).fetch))


class _WallboardLines:
    """Active incidents as wallboard lines, read at most every ``ttl`` seconds (the board asks each second)."""

    def __init__(self, service: IncidentService, ttl: float = 5.0) -> None:
        self._service, self._ttl = service, ttl
        self._lines: list[dict[str, str]] = []
        self._read_at = float("-inf")

    async def fetch(self) -> list[dict[str, str]]:
        now = time.monotonic()
        if now - self._read_at >= self._ttl:
            self._lines = [_line(item) for item in await self._service.summary()]
            self._read_at = now
        return self._lines


def _line(item: dict[str, Any]) -> dict[str, str]:
    expected = f", восстановление к {item['expected_local']}" if item.get("expected_local") else ""
    text = (
        f"{item['title']} — {item['area']}{expected}. Звонков в IVR: {item['ivr_calls']}, "
        f"без оператора: {item['ivr_subscribed']}, подписано: {item['subscribers']}"
    )
    return {"text": text, "level": "alert"}


_COMMAND = IncidentsCommand()
FEATURE = Feature(
    "incidents", setup, commands=(Command(_COMMAND.name, _COMMAND.register, _COMMAND.run, needs_database=True),)
)
