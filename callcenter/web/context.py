"""The shared web layer's own services, built once by :func:`callcenter.web.install.install_web_layer`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from callcenter.accounts.audit import AuditLog
    from callcenter.accounts.sessions import LoginThrottle, SessionStore
    from callcenter.accounts.totp import TotpService
    from callcenter.accounts.users import UserService
    from callcenter.events import EventHub
    from callcenter.web.csrf import CsrfSigner
    from callcenter.web.ratelimit import IPNetwork


@dataclass
class WebContext:
    """What the shared web layer (sign-in, CSRF, /ws) needs; features reach it through ``WEB``."""

    sessions: SessionStore
    throttle: LoginThrottle
    csrf: CsrfSigner
    users: UserService
    hub: EventHub
    audit: AuditLog  # append-only: who saw or changed what (callcenter/web/audit.py records)
    totp: TotpService  # two-factor sign-in (required for admins and supervisors)
    secure_cookies: bool = False
    trusted_proxies: tuple[IPNetwork, ...] = ()  # networks whose X-Forwarded-For is believed


WEB = web.AppKey("web", WebContext)
