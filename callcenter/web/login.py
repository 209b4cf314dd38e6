"""Sign-in and sign-out pages (`/login`, `/logout`)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.accounts.sessions import hash_token
from callcenter.domain.tickets import Role
from callcenter.web.auth import SESSION_COOKIE, SESSION_TOKEN, client_address
from callcenter.web.context import WEB
from callcenter.web.redirects import local_path
from callcenter.web.request_keys import CURRENT_USER

HOME_BY_ROLE = {
    Role.EXECUTOR: "/staff/queue",
    Role.SUPERVISOR: "/staff/board",
    Role.ANALYST: "/staff/board",
}


def safe_next(value: str | None, default: str = "/staff/") -> str:
    """Only local paths: an open redirect would let a phishing link borrow our login page."""
    return local_path(value) or default


async def login_page(request: web.Request) -> web.StreamResponse:
    user = request.get(CURRENT_USER)
    if user is not None:
        raise web.HTTPFound(safe_next(request.query.get("next"), HOME_BY_ROLE.get(user.role, "/staff/")))
    return _render(request, {"login": "", "next": safe_next(request.query.get("next"), "")})


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    login = str(form.get("login", "")).strip()
    password = str(form.get("password", ""))
    context: dict[str, Any] = {"login": login, "next": safe_next(str(form.get("next", "")), "")}
    if not login or not password:
        context["errors"] = {"login" if not login else "password": "Введите логин и пароль"}
        return _render(request, context, 422)
    staff = request.app[WEB]
    address = client_address(request)
    wait = await staff.throttle.locked_for(login, address)
    if wait is not None:
        context["errors"] = {"form": f"Слишком много неудачных попыток входа. Повторите через {_wait_words(wait)}."}
        return _render(request, context, 429)
    user = await request.app[WEB].users.authenticate(login, password)
    if user is None:
        await staff.throttle.failed(login, address)
        context["errors"] = {"form": "Неверный логин или пароль, либо учётная запись отключена"}
        return _render(request, context, 401)
    await staff.throttle.succeeded(login, address)
    token = await staff.sessions.open(user.id, address=address, user_agent=request.headers.get("User-Agent", ""))
    response = web.HTTPSeeOther(safe_next(context["next"], HOME_BY_ROLE.get(user.role, "/staff/")))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=staff.secure_cookies,
        path="/",
        max_age=int(staff.sessions.lifetime.total_seconds()),
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.get(SESSION_TOKEN)
    if token:
        await request.app[WEB].sessions.revoke(token)
        user = request.get(CURRENT_USER)
        if user is not None:  # this session's open /ws sockets close at once (other devices stay)
            request.app[WEB].hub.publish(
                {"type": "session", "change": "logout", "user_id": user.id, "session": hash_token(token)}
            )
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _wait_words(wait: timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    return f"{seconds} с" if seconds < 60 else f"{math.ceil(seconds / 60)} мин"


def _render(request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    context.setdefault("errors", {})
    response = aiohttp_jinja2.render_template("login.html", request, context)
    response.set_status(status)
    return response
