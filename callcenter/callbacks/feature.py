"""The callbacks feature in the app: the planner listens to ticket changes, the scheduler ticks,
and the boards' routes (handlers in callbacks/web.py). Built by the root (``services.callbacks``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.callbacks.dispatcher import CallbackScheduler
from callcenter.callbacks.web import (
    ID,
    board_page,
    export_csv,
    mark_unreachable,
    mine_page,
    record_outcome,
    retry_now,
    start_call,
    to_operator,
)
from callcenter.callbacks.wiring import CALLBACKS
from callcenter.features import Feature
from callcenter.services import Services
from callcenter.web.live import Audience, add_message_type


def setup(app: web.Application, services: Services) -> None:
    """Planner listener, routes, scheduler lifecycle, and the "callback" messages of /ws."""
    feature = services.callbacks
    if feature is None:
        return
    app[CALLBACKS] = feature
    services.tickets.on_status_change.append(feature.service.on_ticket_status)
    add_message_type(app, "callback", Audience.SUPERVISORS)
    add_routes(app.router)
    app.cleanup_ctx.append(_scheduler_ctx)


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    feature = app[CALLBACKS]
    scheduler = CallbackScheduler(
        tick=feature.dispatcher.tick,
        tick_seconds=feature.tick_seconds,
        reconcile=feature.service.plan_missing,
        archive=feature.archive.run_once,
    )
    await scheduler.start()
    try:
        yield
    finally:
        await scheduler.close()
        await feature.dispatcher.close()
        await feature.service.wait_background(5)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/callbacks", board_page, name="staff_callbacks")
    router.add_get("/staff/callbacks/export.csv", export_csv, name="staff_callbacks_export")
    router.add_get("/staff/callbacks/mine", mine_page, name="staff_callbacks_mine")
    router.add_post(f"/staff/callbacks/{ID}/retry", retry_now)
    router.add_post(f"/staff/callbacks/{ID}/to-operator", to_operator)
    router.add_post(f"/staff/callbacks/{ID}/unreachable", mark_unreachable)
    router.add_post(f"/staff/callbacks/{ID}/call", start_call)
    router.add_post(f"/staff/callbacks/{ID}/outcome", record_outcome)


FEATURE = Feature("callbacks", setup)
