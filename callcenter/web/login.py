"""Sign-in and sign-out pages (`/login`, `/logout`)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.accounts.audit import AuditActor
from callcenter.accounts.sessions import hash_token
from callcenter.accounts.users import UserView
from callcenter.domain.tickets import Role
from callcenter.web.audit import audit
from callcenter.web.auth import SESSION_COOKIE, SESSION_TOKEN, client_address
from callcenter.web.context import WEB
from callcenter.web.csrf import CsrfSigner
from callcenter.web.redirects import local_path
from callcenter.web.request_keys import CURRENT_USER

PENDING_COOKIE = "cc_2fa"  # between the password and the code: the signed user id and a deadline
PENDING_FOR = timedelta(minutes=5)
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
        await staff.audit.record(AuditActor(None, login[:64].lower(), "", address), "login_failed", "user", login[:64])
        context["errors"] = {"form": "Неверный логин или пароль, либо учётная запись отключена"}
        return _render(request, context, 401)
    await staff.throttle.succeeded(login, address)
    if await staff.totp.enrolled(user.id):
        # The password was right; the session opens only after the code from the app.
        response = _render(request, context | {"step": "code"})
        response.set_cookie(
            PENDING_COOKIE,
            _pending_value(staff.csrf, user.id, staff.totp.now()),
            httponly=True,
            samesite="Strict",
            secure=staff.secure_cookies,
            path="/login",
            max_age=int(PENDING_FOR.total_seconds()),
        )
        return response
    raise await _signed_in(request, user, context["next"])


async def code_submit(request: web.Request) -> web.StreamResponse:
    """The second step: the 6-digit code of an enrolled user's app (throttled like the password)."""
    form = await request.post()
    code = str(form.get("code", "")).strip()[:16]
    staff = request.app[WEB]
    context: dict[str, Any] = {"login": "", "next": safe_next(str(form.get("next", "")), ""), "step": "code"}
    user_id = _pending_user(staff.csrf, request.cookies.get(PENDING_COOKIE, ""), staff.totp.now())
    user = await staff.users.get(user_id) if user_id is not None else None
    if user is None or not user.active:
        context.update(step="", errors={"form": "Время на ввод кода истекло. Войдите ещё раз."})
        return _render(request, context, 401)
    address = client_address(request)
    wait = await staff.throttle.locked_for(user.login, address)
    if wait is not None:
        context["errors"] = {"form": f"Слишком много неудачных попыток входа. Повторите через {_wait_words(wait)}."}
        return _render(request, context, 429)
    if not await staff.totp.verify(user.id, code):
        await staff.throttle.failed(user.login, address)
        await audit(request, "totp_failed", "user", user.id, user=user)
        context["errors"] = {"code": "Неверный или уже использованный код. Введите код из приложения."}
        return _render(request, context, 401)
    await staff.throttle.succeeded(user.login, address)
    response = await _signed_in(request, user, context["next"])
    response.del_cookie(PENDING_COOKIE, path="/login")
    raise response


async def _signed_in(request: web.Request, user: UserView, next_path: str) -> web.HTTPSeeOther:
    """Open the session, audit the sign-in, and the redirect that sets the cookie."""
    staff = request.app[WEB]
    address = client_address(request)
    token = await staff.sessions.open(user.id, address=address, user_agent=request.headers.get("User-Agent", ""))
    await audit(request, "login", "user", user.id, user=user)
    response = web.HTTPSeeOther(safe_next(next_path, HOME_BY_ROLE.get(user.role, "/staff/")))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=staff.secure_cookies,
        path="/",
        max_age=int(staff.sessions.lifetime.total_seconds()),
    )
    return response


def _pending_value(signer: CsrfSigner, user_id: int, now: datetime) -> str:
    """``user.expiry.mac``: who passed the password step, until when (signed, so not forgeable)."""
    payload = f"{user_id}.{int((now + PENDING_FOR).timestamp())}"
    return f"{payload}.{signer.token('2fa:' + payload)}"


def _pending_user(signer: CsrfSigner, value: str, now: datetime) -> int | None:
    parts = value.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isalnum() for p in parts) or len(value) > 200:
        return None
    payload = f"{parts[0]}.{parts[1]}"
    if not signer.valid("2fa:" + payload, parts[2]) or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]) if int(parts[1]) > now.timestamp() else None


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.get(SESSION_TOKEN)
    if token:
        await request.app[WEB].sessions.revoke(token)
        user = request.get(CURRENT_USER)
        if user is not None:
            await audit(
                request, "logout", "user", user.id
            )  # this session's open /ws sockets close at once (other devices stay)
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
