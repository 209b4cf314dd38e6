"""The wallboard feature in the app: the supervisors' large-screen board (``/staff/wallboard``),
operators' pauses with a reason, the pause reasons admins edit, queue statistics, and the
escalation of late tickets (duty contacts per department, calls, the board's panel)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.features import Feature
from callcenter.services import Services
from callcenter.telephony.api import CallStore
from callcenter.wallboard import web as views
from callcenter.wallboard.board import Panel, Wallboard
from callcenter.wallboard.escalation import DutyContacts, Escalator
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
        # the instance that keeps the AMI link publishes; followers (several instances) do not
        publish=lambda: services.ami is not None and services.ami.running,
    )
    escalator = Escalator(
        services.sessions,
        services.tickets,
        services.reference,
        DutyContacts(services.sessions, services.reference),
        services.ami_actions,  # on a follower instance the AMI leader dials (telephony/relay.py)
        dial_template=settings.dial_template,
        chain=settings.escalation_chain,
        step_minutes=settings.escalation_step_minutes,
        tick_seconds=settings.escalation_tick_seconds,
        dispatch_target_seconds=settings.dispatch_target_seconds,
        on_change=board.changed,
    )
    board.panels.append(Panel("escalations", "Просроченные заявки", escalator.panel_lines))
    app[WALLBOARD] = WallboardSlice(board, PauseReasons(services.sessions), calls.queue_calls, escalator)
    add_message_type(app, "wallboard", Audience.SUPERVISORS)
    add_message_type(app, "pause", Audience.ADDRESSEE)
    views.add_routes(app)
    app.cleanup_ctx.append(_wallboard_ctx)


async def _wallboard_ctx(app: web.Application) -> AsyncIterator[None]:
    slice_ = app[WALLBOARD]
    await slice_.board.start()
    await slice_.escalator.start()
    try:
        yield
    finally:
        await slice_.escalator.close()
        await slice_.board.close()


FEATURE = Feature("wallboard", setup)
