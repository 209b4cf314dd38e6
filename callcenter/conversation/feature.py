"""The live conversation feature: with CALLCENTER_LIVE_CONVERSATION on (off by default), AMI and the
AudioSocket server, every answered queue call is spied on (both legs, ChanSpy over an AudioSocket
channel), transcribed live into the operator's call panel (``conversation`` messages over /ws,
to that operator only) and kept on the call's row when it ends. See service.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.conversation.service import LiveConversations
from callcenter.conversation.transcript import MESSAGE_TYPE
from callcenter.features import HEALTH_CHECKS, Feature
from callcenter.services import Services
from callcenter.telephony.api import CallStore, OperatorDirectory
from callcenter.web.live import Audience, add_message_type

logger = logging.getLogger(__name__)

LIVE_CONVERSATIONS = web.AppKey("live_conversations", LiveConversations)


def setup(app: web.Application, services: Services) -> None:
    settings = services.settings
    if not settings.live_conversation:
        return
    if services.ami is None or services.audiosocket is None:
        logger.warning(
            "CALLCENTER_LIVE_CONVERSATION is on but %s: no live conversation transcript",
            "AMI is off (no CALLCENTER_AMI_HOST)" if services.ami is None else "the AudioSocket server is off",
        )
        return
    directory = OperatorDirectory(services.users)
    live = LiveConversations(
        services.ami,
        services.audiosocket,
        services.speech,
        services.hub,
        operators=directory.resolve,
        keep=CallStore(services.sessions).save_conversation,
        recordings_dir=settings.recordings_dir,
        context=settings.live_conversation_context,
        max_seconds=settings.live_conversation_max_seconds,
        max_calls=settings.live_conversation_max_calls,
    )
    app[LIVE_CONVERSATIONS] = live
    add_message_type(app, MESSAGE_TYPE, Audience.ADDRESSEE)

    async def health() -> dict[str, Any]:
        return {"live_conversation": {"active": len(live.spies.active), "saved": live.stats.saved}}

    app[HEALTH_CHECKS]["live_conversation"] = health

    async def conversation_ctx(_app: web.Application) -> AsyncIterator[None]:
        await live.start()
        try:
            yield
        finally:
            await live.close()

    app.cleanup_ctx.append(conversation_ctx)


FEATURE = Feature("conversation", setup)
