"""The incidents feature in the app: supervisors' pages, the utilities' endpoint, the public list,
the "incident" messages of /ws, and ``callcenter incidents``. Built by the root (``services.incidents``)."""

from __future__ import annotations

from aiohttp import web

from callcenter.features import Command, Feature
from callcenter.incidents import web as pages
from callcenter.incidents.cli import IncidentsCommand
from callcenter.incidents.wiring import INCIDENTS
from callcenter.services import Services
from callcenter.web.live import Audience, add_message_type


def setup(app: web.Application, services: Services) -> None:
    feature = services.incidents
    if feature is None:
        return
    app[INCIDENTS] = feature
    add_message_type(app, "incident", Audience.SUPERVISORS)
    pages.add_routes(app.router)


_COMMAND = IncidentsCommand()
FEATURE = Feature(
    "incidents", setup, commands=(Command(_COMMAND.name, _COMMAND.register, _COMMAND.run, needs_database=True),)
)
