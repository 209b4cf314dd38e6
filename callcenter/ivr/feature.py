"""Wires the FastAGI server into the app: the menu, the route table and the store-backed port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.config import ListenError
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import RecordingSettings
from callcenter.ivr.menu import load_menu
from callcenter.ivr.scripts import IvrDependencies, build_routes
from callcenter.ivr.store_backend import StoreIvrBackend

logger = logging.getLogger(__name__)


class _CallbackOutcomesOf:
    """Hands callback outcomes to the callbacks feature, whichever order the features start in."""

    def __init__(self, services: Any) -> None:
        self._services = services

    async def record_callback_outcome(self, **kwargs: Any) -> None:
        callbacks = self._services.callbacks
        if callbacks is None:
            logger.error("callback outcome %s for ticket %s: the callbacks feature is not running",
                         kwargs.get("outcome"), kwargs.get("ticket_number"))
            return
        await callbacks.outcomes.record_callback_outcome(**kwargs)


def build_agi_server(services: Any) -> AgiServer:
    """The FastAGI server with the `ivr` and `callback` scripts (blocking: reads the menu files)."""
    settings = services.settings
    menu = load_menu(settings.ivr_menu_file, known_categories={c.code for c in services.reference.categories})
    backend = StoreIvrBackend(services.tickets, services.voice, _CallbackOutcomesOf(services))
    recordings = RecordingSettings(local_dir=settings.recordings_dir,
                                   asterisk_dir=settings.agi_recordings_dir or None)
    routes = build_routes(IvrDependencies(menu=menu, backend=backend, recordings=recordings))
    return AgiServer(settings.agi_host, settings.agi_port, routes, allowed_peers=settings.agi_allowed_peers)


def setup(app: web.Application, services: Any) -> None:
    if not services.settings.agi_enabled:
        return

    async def agi_ctx(_app: web.Application) -> AsyncIterator[None]:
        server = await asyncio.to_thread(build_agi_server, services)
        try:
            await server.start()
        except OSError as err:
            raise ListenError("agi_port", services.settings.agi_host, services.settings.agi_port, err) from err
        services.agi = server
        try:
            yield
        finally:
            services.agi = None
            await server.close()

    app.cleanup_ctx.append(agi_ctx)
