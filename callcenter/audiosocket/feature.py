"""The AudioSocket feature: the server Asterisk streams callers' audio to (built by the composition
root as ``services.audiosocket`` when CALLCENTER_IVR_RECORDER is "audiosocket"), started with the app
before the FastAGI server that hands calls to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.audiosocket.live import MESSAGE_TYPE
from callcenter.config import ListenError
from callcenter.features import HEALTH_CHECKS, Feature
from callcenter.services import Services
from callcenter.web.live import Audience, add_message_type


def setup(app: web.Application, services: Services) -> None:
    server = services.audiosocket
    if server is None:
        return
    settings = services.settings
    # Live transcripts on the supervisors' sockets; operators get theirs inside the screen pop.
    add_message_type(app, MESSAGE_TYPE, Audience.SUPERVISORS)

    async def health() -> dict[str, Any]:
        return {"audiosocket": {"listening": server.listening, "active": server.stats.active}}

    app[HEALTH_CHECKS]["audiosocket"] = health

    async def audiosocket_ctx(_app: web.Application) -> AsyncIterator[None]:
        try:
            await server.start()
        except OSError as err:
            raise ListenError("audiosocket_port", settings.audiosocket_host, settings.audiosocket_port, err) from err
        try:
            yield
        finally:
            await server.close()

    app.cleanup_ctx.append(audiosocket_ctx)


FEATURE = Feature("audiosocket", setup)
