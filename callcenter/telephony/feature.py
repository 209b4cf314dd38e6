"""The telephony feature in the app: with the AMI link (built by the root as ``services.ami``) it
writes call rows, sends screen pops and the supervisors' live board; always it serves
``/staff/calls`` and click-to-call, and follows other instances' boards."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from callcenter.features import Feature
from callcenter.services import SERVICES, Services
from callcenter.store.pg_hub_bridge import asyncpg_dsn
from callcenter.store.pg_leader import PgLeader
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.telephony import web as views
from callcenter.telephony.board_messages import BoardCache
from callcenter.telephony.calls_store import CallStore
from callcenter.telephony.click_to_call import ClickToCall
from callcenter.telephony.wiring import TELEPHONY, Telephony, TelephonySlice
from callcenter.web.live import Audience, add_message_type

logger = logging.getLogger(__name__)


def setup(app: web.Application, services: Services) -> None:
    """Build the slice; with AMI configured the link starts with the app (cleanup_ctx)."""
    live = None
    if services.ami is not None:
        live = Telephony(
            services.ami,
            hub=services.hub,
            users=services.users,
            sessions=services.sessions,
            tickets=services.tickets,
            reference=services.reference,
            incidents=services.incidents.service.callers_notes if services.incidents is not None else None,
        )
    calls = CallStore(services.sessions)
    # ami_actions: on a follower instance the AMI leader dials (telephony/relay.py).
    dialer = ClickToCall(
        services.ami_actions, calls, services.tickets, dial_context=services.settings.click_to_call_context
    )
    app[TELEPHONY] = TelephonySlice(live, calls, BoardCache(services.hub), dialer)
    app.cleanup_ctx.append(_telephony_ctx)
    add_message_type(app, "pop", Audience.ADDRESSEE)
    for kind in ("call", "board"):
        add_message_type(app, kind, Audience.SUPERVISORS)
    views.add_routes(app)


async def _telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    slice_ = app[TELEPHONY]
    await slice_.board_cache.start()
    leading = None
    if slice_.live is not None:
        dsn = asyncpg_dsn(app[SERVICES].settings.database_url)
        if dsn is None:
            await slice_.live.start()  # SQLite: one process, it is the leader
        else:
            leading = start_task(_lead(slice_.live, PgLeader(dsn)), name="ami-leadership", logger=logger)
    try:
        yield
    finally:
        await cancel_and_wait(leading)
        if slice_.live is not None:
            await slice_.live.close()
        await slice_.board_cache.close()


async def _lead(live: Telephony, leader: PgLeader, on_lost: Callable[[], None] | None = None) -> None:
    """Several instances on one PostgreSQL: only the holder of the advisory lock connects to AMI
    (callcenter/store/pg_leader.py says why); the others wait for it and take over when it dies."""
    try:
        await leader.acquire()
        logger.info("connecting to AMI: this instance leads")
        await live.start()
        await leader.hold()
        logger.critical("AMI leadership lost: this instance stops so that only one tracks calls")
        await live.close()
        (on_lost or _stop_this_process)()
    finally:
        await leader.release()


def _stop_this_process() -> None:
    """As a shutdown: systemd (Restart=always) starts it again, and it asks for the lock anew."""
    os.kill(os.getpid(), signal.SIGTERM)


FEATURE = Feature("telephony", setup)
