"""The telephony feature in the app: with the AMI link (built by the root as ``services.ami``) it
writes call rows, sends screen pops and the supervisors' live board; always it serves
``/staff/calls`` and click-to-call, and follows other instances' boards."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.features import Feature
from callcenter.services import Services
from callcenter.telephony import web as views
from callcenter.telephony.board_messages import BoardCache
from callcenter.telephony.calls_store import CallStore
from callcenter.telephony.click_to_call import ClickToCall
from callcenter.telephony.wiring import TELEPHONY, Telephony, TelephonySlice
from callcenter.web.live import Audience, add_message_type


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
            incidents=services.incidents.service.caller_notes if services.incidents is not None else None,
        )
    calls = CallStore(services.sessions)
    dialer = ClickToCall(services.ami, calls, services.tickets, dial_context=services.settings.click_to_call_context)
    app[TELEPHONY] = TelephonySlice(live, calls, BoardCache(services.hub), dialer)
    app.cleanup_ctx.append(_telephony_ctx)
    add_message_type(app, "pop", Audience.ADDRESSEE)
    for kind in ("call", "board"):
        add_message_type(app, kind, Audience.SUPERVISORS)
    views.add_routes(app)


async def _telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    slice_ = app[TELEPHONY]
    await slice_.board_cache.start()
    if slice_.live is not None:
        await slice_.live.start()
    try:
        yield
    finally:
        if slice_.live is not None:
            await slice_.live.close()
        await slice_.board_cache.close()


FEATURE = Feature("telephony", setup)
