"""Puts the shared web layer on the app: sign-in sessions and CSRF, ``/login``, ``/logout``, ``/ws``.

Called once by the composition root (:func:`callcenter.app.init_app`) before any feature's
``setup``; features then protect their pages with :func:`callcenter.web.auth.require_roles`
and publish to the browsers through the event hub (the ``/ws`` socket forwards by type).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.audit import AuditLog
from callcenter.accounts.sessions import LoginThrottle, SessionStore
from callcenter.accounts.totp import TotpService
from callcenter.accounts.users import UserService
from callcenter.config import Settings
from callcenter.events import EventHub
from callcenter.web import live, login
from callcenter.web.auth import staff_middleware
from callcenter.web.context import WEB, WebContext
from callcenter.web.csrf import CsrfSigner
from callcenter.web.ratelimit import parse_networks


def install_web_layer(
    app: web.Application,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    users: UserService,
    hub: EventHub,
    secret: bytes,
) -> WebContext:
    """Build the web layer's context, add the session/CSRF middleware and the shared routes."""
    context = WebContext(
        sessions=SessionStore(sessions),
        throttle=LoginThrottle(sessions),
        csrf=CsrfSigner(secret),
        users=users,
        hub=hub,
        audit=AuditLog(sessions),
        totp=TotpService(sessions, grace=timedelta(days=settings.totp_grace_days)),
        secure_cookies=settings.public_url.startswith("https://"),
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )
    app[WEB] = context
    app.middlewares.append(staff_middleware)
    live.setup_live(app)
    app.router.add_get("/login", login.login_page, name="login")
    app.router.add_post("/login", login.login_submit)
    app.router.add_post("/login/code", login.code_submit, name="login_code")
    app.router.add_post("/logout", login.logout, name="logout")
    app.router.add_get("/ws", live.websocket, name="ws")
    return context
