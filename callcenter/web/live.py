"""The one WebSocket (`/ws`): live ticket rows, screen pops and supervisors' updates.

Each socket subscribes to the event hub with a filter made from its user and the message
types registered on the app: "ticket" for all staff (executors only their department's) and
"session" for the user it names are the web layer's own; a feature adds its types in its
``setup`` with :func:`add_message_type` ("pop" for the user it names, "call"/"board"/"callback"
for supervisors, analysts and admins). A sender task per
socket drains its bounded queue, so a slow browser only loses its own oldest messages and
never holds up the hub (whose publisher may be the AMI reader).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from callcenter.accounts.sessions import hash_token
from callcenter.accounts.users import UserView
from callcenter.domain.errors import PermissionDenied
from callcenter.domain.tickets import Role
from callcenter.events import HubSubscription, Message
from callcenter.tasks import supervise
from callcenter.web.audit import mask_callers, sees_full_phones
from callcenter.web.auth import SESSION_TOKEN, STAFF_ROLES, SUPERVISION_ROLES, current_user, require_roles
from callcenter.web.context import WEB

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0  # a browser that cannot take one message in this long is dropped
QUEUE_SIZE = 256
HEARTBEAT = 30.0
CLOSE_REVOKED = 4001
OPEN_SOCKETS = web.AppKey("staff_open_sockets", weakref.WeakSet[web.WebSocketResponse])


class Audience(enum.Enum):
    """Who receives a message type over /ws."""

    STAFF = "staff"  # every signed-in staff user (executors: their department's tickets)
    SUPERVISORS = "supervisors"  # supervisors, analysts and admins
    ADDRESSEE = "addressee"  # only the user whose id the message names (``user_id``)


MESSAGE_TYPES = web.AppKey("ws_message_types", dict[str, Audience])


def setup_live(app: web.Application) -> None:
    """Track open sockets so a shutdown closes them at once instead of waiting for browsers."""
    app[OPEN_SOCKETS] = weakref.WeakSet()
    app[ENCODER] = MessageEncoder()
    app[MESSAGE_TYPES] = {"ticket": Audience.STAFF, "session": Audience.ADDRESSEE}
    app.on_shutdown.append(close_all)


def add_message_type(app: web.Application, kind: str, audience: Audience) -> None:
    """Let the hub messages of type ``kind`` reach ``audience``'s sockets (a feature's ``setup`` calls it)."""
    app[MESSAGE_TYPES][kind] = audience


async def close_all(app: web.Application) -> None:
    open_sockets = app[OPEN_SOCKETS]
    sockets = list(open_sockets)
    for ws in sockets:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
    if sockets:
        logger.info("closed %d live sockets for shutdown", len(sockets))


def audience(user: UserView, types: dict[str, Audience]) -> Callable[[Message], bool]:
    """Which hub messages this user's sockets receive."""
    supervises = user.role in SUPERVISION_ROLES

    def accepts(message: Message) -> bool:
        kind = types.get(str(message.get("type")))
        if kind is Audience.STAFF:
            return user.role is not Role.EXECUTOR or message.get("department") == user.department
        if kind is Audience.ADDRESSEE:
            return message.get("user_id") == user.id
        return kind is Audience.SUPERVISORS and supervises

    return accepts


@require_roles(*STAFF_ROLES)
async def websocket(request: web.Request) -> web.StreamResponse:
    _check_origin(request)
    user = current_user(request)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=4096)
    await ws.prepare(request)
    request.app[OPEN_SOCKETS].add(ws)
    hub, types = request.app[WEB].hub, request.app[MESSAGE_TYPES]
    hub.route_by_user(*(kind for kind, who in types.items() if who is Audience.ADDRESSEE))
    with hub.subscribe(accepts=audience(user, types), maxsize=QUEUE_SIZE, user_id=user.id) as sub:
        # Tell the browser it is subscribed: nothing published from now on is missed.
        await ws.send_str(json.dumps({"type": "hello", "user_id": user.id}))
        token = request.get(SESSION_TOKEN)
        session = hash_token(token) if token else None
        # Analysts' sockets get callers' numbers masked (their own encoding: the shared one is unmasked).
        encoder = request.app[ENCODER] if sees_full_phones(user) else MaskingEncoder()
        sender = asyncio.create_task(
            _send_loop(ws, sub, request.transport, encoder, session), name=f"ws-send-{user.login}"
        )
        supervise(sender, logger)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    logger.info("websocket of %s failed: %s", user.login, ws.exception())
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            if sub.dropped:
                logger.warning("websocket of %s fell behind and lost %d messages", user.login, sub.dropped)
    return ws


async def _send_loop(
    ws: web.WebSocketResponse,
    sub: HubSubscription,
    transport: asyncio.Transport | None,
    encoder: MessageEncoder,
    session: str | None = None,
) -> None:
    while not ws.closed:
        message = await sub.get()
        if message.get("type") == "session":
            if message.get("session") not in (None, session):
                continue  # another of this user's sessions signed out: not this socket
            if message.get("keep") is not None and message.get("keep") == session:
                continue  # "every session but this one" (a password change): this one stays
            await ws.close(code=CLOSE_REVOKED, message=b"session revoked")
            return
        try:
            # asyncio.timeout, not wait_for: no extra task per message (thousands of sockets).
            async with asyncio.timeout(SEND_TIMEOUT):
                await ws.send_str(encoder.encode(message))
        except TimeoutError:
            # A closing handshake would wait on the same full buffers: drop the connection;
            # the page's script reconnects and reloads what it shows.
            logger.warning("websocket client took over %ss for one message; disconnecting it", SEND_TIMEOUT)
            if transport is not None:
                transport.abort()
            return
        except ConnectionError:
            return


class MessageEncoder:
    """JSON of a hub message, made once however many sockets send it (the same dict reaches all)."""

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._recent: dict[int, tuple[Message, str]] = {}

    def encode(self, message: Message) -> str:
        hit = self._recent.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        text = json.dumps(message, default=_plain, ensure_ascii=False)
        if len(self._recent) >= self._size:
            self._recent.pop(next(iter(self._recent)))  # the oldest: dicts keep insertion order
        # Keeping the message itself pins its id, so a new dict can never be mistaken for it.
        self._recent[id(message)] = (message, text)
        return text


class MaskingEncoder(MessageEncoder):
    """The encoder of an analyst's socket: every citizen's number masked before it leaves."""

    def encode(self, message: Message) -> str:
        return json.dumps(mask_callers(message), default=_plain, ensure_ascii=False)


ENCODER = web.AppKey("staff_message_encoder", MessageEncoder)


def _plain(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _check_origin(request: web.Request) -> None:
    """Browsers send Origin on WebSocket handshakes; another site's page must not ride our cookie."""
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise PermissionDenied("Подключение с чужого сайта запрещено", details={"origin": origin})
