"""Recording audit events from a request, and who may read a citizen's full phone number.

Features call :func:`audit` after an action succeeds (or a page with personal data is shown);
the actor and the client address come from the request. Analysts work with statistics and
see phone numbers masked (``+7 978 ***-**-67``); everyone else who works tickets sees them whole,
and each page, export or board that shows them whole is an audit event.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from callcenter.accounts.audit import SYSTEM, AuditActor
from callcenter.accounts.users import UserView
from callcenter.domain.phones import mask_phone
from callcenter.domain.tickets import Role
from callcenter.web.context import WEB
from callcenter.web.ratelimit import client_address
from callcenter.web.request_keys import CURRENT_USER

logger = logging.getLogger(__name__)

MASKED_ROLES = frozenset({Role.ANALYST})


def sees_full_phones(user: UserView | None) -> bool:
    """Whether this user is shown citizens' phone numbers whole (analysts get them masked)."""
    return user is not None and user.role not in MASKED_ROLES


def shown_phone(user: UserView | None, phone: str | None) -> str | None:
    """The number as this user may see it: whole, or masked for analysts."""
    if not phone or sees_full_phones(user):
        return phone
    return mask_phone(phone)


# Keys of the live boards' JSON that carry a citizen's number (the calls board, missed calls, pops).
PHONE_KEYS = frozenset({"caller", "phone", "caller_raw"})
_DISPLAY_KEYS = {"caller_display": "caller"}


def mask_callers(value: Any) -> Any:
    """A copy of a board/hub message with every citizen's number masked (analysts' sockets and JSON)."""
    if isinstance(value, dict):
        out = {k: mask_callers(v) for k, v in value.items()}
        for key in PHONE_KEYS & out.keys():
            if isinstance(out[key], str) and out[key]:
                out[key] = _masked(out[key])
        for display, source in _DISPLAY_KEYS.items():
            if display in out and isinstance(value.get(source), str) and value.get(source):
                out[display] = _masked(value[source])
            elif display in out and isinstance(out[display], str) and any(ch.isdigit() for ch in out[display]):
                out[display] = "номер скрыт"
        return out
    if isinstance(value, list):
        return [mask_callers(v) for v in value]
    return value


def _masked(number: str) -> str:
    digits = sum(ch.isdigit() for ch in number)
    return mask_phone(number) if number.startswith("+") else ("*" * max(0, digits - 2) + number[-2:])


def request_actor(request: web.Request, user: UserView | None = None) -> AuditActor:
    """The signed-in user (or ``user`` before the session exists) and the client's address."""
    user = user or request.get(CURRENT_USER)
    address = client_address(request, request.app[WEB].trusted_proxies)[:64]
    if user is None:
        return AuditActor(address=address, login="")
    return AuditActor(user.id, user.login, user.role.value, address)


async def audit(
    request: web.Request,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    *,
    user: UserView | None = None,
    **details: Any,
) -> None:
    """Append one audit event for this request."""
    await request.app[WEB].audit.record(request_actor(request, user), action, object_type, object_id, **details)


__all__ = ["SYSTEM", "MASKED_ROLES", "audit", "mask_callers", "request_actor", "sees_full_phones", "shown_phone"]
