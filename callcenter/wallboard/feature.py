"""The wallboard feature in the app: the supervisors' large-screen board (``/staff/wallboard``),
operators' pauses with a reason, the pause reasons admins edit, and queue statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.features import Feature
from callcenter.services import Services
from callcenter.telephony.api import CallStore
from callcenter.wallboard import web as views
from callcenter.wallboard.board import Wallboard
from callcenter.wallboard.reasons import PauseReasons
from callcenter.wallboard.wiring import WALLBOARD, WallboardSlice
from callcenter.web.live import Audience, add_message_type


def setup(app: web.Application, services: Services) -> None:
    settings = services.settings
    calls = CallStore(services.sessions)
    board = Wallboard(
        services.hub,
        calls.queue_calls,
        services.users,
        settings.zone,
        service_level_seconds=settings.wallboard_service_level_seconds,
        wrapup_seconds=settings.wallboard_wrapup_seconds,
        short_abandon_seconds=settings.wallboard_short_abandon_seconds,
        publish=services.ami is not None,  # the instance with the AMI link publishes; others follow
    )
    app[WALLBOARD] = WallboardSlice(board, PauseReasons(services.sessions), calls.queue_calls)
    add_message_type(app, "wallboard", Audience.SUPERVISORS)
    add_message_type(app, "pause", Audience.ADDRESSEE)
    views.add_routes(app)
    app.cleanup_ctx.append(_wallboard_ctx)


async def _wallboard_ctx(app: web.Application) -> AsyncIterator[None]:
    board = app[WALLBOARD].board
    await board.start()
    try:
        yield
    finally:
        await board.close()


FEATURE = Feature("wallboard", setup)
