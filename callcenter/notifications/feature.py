"""The notifications feature in the app: the outbox hook on ticket events, the sending worker,
the no-answer job, the citizens' link pages and the supervisors' page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.domain.tickets import Actor, Status
from callcenter.features import HEALTH_CHECKS, Feature
from callcenter.notifications.web import (
    TOKEN,
    answer_page,
    answer_submit,
    staff_page,
    staff_retry,
    unsubscribe_page,
    unsubscribe_submit,
)
from callcenter.notifications.wiring import NOTIFICATIONS, build_notifications
from callcenter.services import Services
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.tickets.schemas import TicketView

logger = logging.getLogger(__name__)

NO_ANSWER_EVERY_SECONDS = 3600.0


def setup(app: web.Application, services: Services) -> None:
    feature = build_notifications(
        services.settings, sessions=services.sessions, tickets=services.tickets, photos=services.photos
    )
    app[NOTIFICATIONS] = feature
    services.tickets.add_in_transaction_hook(feature.writer, feature.writer.kinds)

    async def wake(view: TicketView, from_status: Status, actor: Actor) -> Any:
        feature.worker.wake()

    services.tickets.on_status_change.append(wake)
    add_routes(app.router)
    app.cleanup_ctx.append(_worker_ctx)

    async def health() -> dict[str, Any]:
        channels = {name: "on" if name in feature.worker.channels else "off" for name in ("email", "sms")}
        return {"notifications": {**channels, **await feature.outbox.health(feature.answers.now())}}

    app[HEALTH_CHECKS]["notifications"] = health


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    feature = app[NOTIFICATIONS]
    feature.worker.start()
    job = start_task(_no_answer_loop(app), name="notifications-no-answer", logger=logger)
    try:
        yield
    finally:
        await cancel_and_wait(job)
        await feature.worker.close()


async def _no_answer_loop(app: web.Application) -> None:
    feature = app[NOTIFICATIONS]
    while True:
        try:
            closed = await feature.answers.apply_no_answer()
            if closed:
                logger.info("no-answer rule closed %d ticket(s)", closed)
        except Exception:  # noqa: BLE001 - retried at the next run
            logger.exception("no-answer job failed")
        await asyncio.sleep(NO_ANSWER_EVERY_SECONDS)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"/n/answer/{TOKEN}", answer_page, name="notify_answer")
    router.add_post(f"/n/answer/{TOKEN}", answer_submit)
    router.add_get(f"/n/unsubscribe/{TOKEN}", unsubscribe_page, name="notify_unsubscribe")
    router.add_post(f"/n/unsubscribe/{TOKEN}", unsubscribe_submit)
    router.add_get("/staff/notifications", staff_page, name="staff_notifications")
    router.add_post(r"/staff/notifications/{notification_id:\d{1,18}}/retry", staff_retry)


FEATURE = Feature("notifications", setup)
