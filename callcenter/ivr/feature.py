"""Wires the FastAGI server into the app: the menu, the route table and the store-backed port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import RecordingSettings
from callcenter.ivr.health import ivr_health, missing_prompts, recordings_problem
from callcenter.ivr.menu import load_menu, load_prompts
from callcenter.ivr.prompts import PromptGenerationError, generate_prompts
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


async def prepare_media(settings: Any, prompts: dict[str, str]) -> None:
    """At start: say if recordings cannot be written; make the missing prompts where Asterisk
    reads them (CALLCENTER_IVR_PROMPTS_DIR), keeping any file already there."""
    problem = await asyncio.to_thread(recordings_problem, settings.recordings_dir)
    if problem is not None:
        logger.error("IVR recordings folder unusable (%s): voice reports will go to the operators", problem)
    folder = settings.ivr_prompts_dir
    if folder is None:
        return
    if await asyncio.to_thread(missing_prompts, prompts, folder):
        try:
            report = await generate_prompts(prompts, folder, progress=False)
            logger.info("IVR prompts: %d placeholders made in %s", len(report.generated), folder)
        except (PromptGenerationError, OSError) as err:
            logger.error("IVR prompts could not be made in %s: %s", folder, err)
    missing = await asyncio.to_thread(missing_prompts, prompts, folder)
    if missing:
        logger.error("IVR prompts missing in %s (callers hear silence): %s", folder, ", ".join(missing))


def setup(app: web.Application, services: Any) -> None:
    if not services.settings.agi_enabled:
        return
    settings = services.settings
    prompts = load_prompts()

    async def health() -> dict[str, Any]:
        return await asyncio.to_thread(ivr_health, settings.recordings_dir, settings.ivr_prompts_dir, prompts)

    services.extras.setdefault("health", {})["ivr"] = health

    async def agi_ctx(_app: web.Application) -> AsyncIterator[None]:
        await prepare_media(settings, prompts)
        server = await asyncio.to_thread(build_agi_server, services)
        await server.start()
        services.agi = server
        try:
            yield
        finally:
            services.agi = None
            await server.close()

    app.cleanup_ctx.append(agi_ctx)
