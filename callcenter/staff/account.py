"""The signed-in user's own account (`/staff/account`): password, sessions, two-factor sign-in.

* ``POST /staff/account/password``: the current password is required; the new one follows the
  same rules as an admin-set one (12+ characters, not a common one, taken exactly as typed).
  Every other session of the user ends and its ``/ws`` sockets close; this one stays.
* ``POST /staff/account/sessions/{id}/revoke``: end one of the user's own sessions (its sockets close).
* ``POST /staff/account/totp`` (start) and ``/staff/account/totp/confirm``: TOTP enrolment.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup

from callcenter.accounts.sessions import hash_token
from callcenter.accounts.totp import provisioning_uri, qr_svg
from callcenter.accounts.users import MIN_PASSWORD
from callcenter.domain.errors import DomainError
from callcenter.staff.pages import error_field, render, services, staff
from callcenter.web.audit import audit
from callcenter.web.auth import SESSION_TOKEN, STAFF_ROLES, current_user, require_roles
from callcenter.web.context import WEB

PASSWORD_FIELDS = ("current", "password", "password2")


async def account_context(request: web.Request, **extra: Any) -> dict[str, Any]:
    user = current_user(request)
    token = request.get(SESSION_TOKEN) or ""
    web_context = request.app[WEB]
    totp = web_context.totp
    return {
        "sessions_list": await staff(request).sessions.list_for_user(user.id),
        "this_session": hash_token(token) if token else "",
        "min_password": MIN_PASSWORD,
        "typed": {},
        "totp_enrolled": await totp.enrolled(user.id) if totp else False,
        "totp_required": totp.required_for(user.role) if totp else False,
        "flash": request.query.get("done", ""),
        **extra,
    }


@require_roles(*STAFF_ROLES)
async def account_page(request: web.Request) -> web.Response:
    return render(request, "staff/account.html", await account_context(request))


@require_roles(*STAFF_ROLES)
async def change_password(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    # Exactly as typed, like sign-in (NUL bytes only are dropped, as everywhere in forms).
    typed = {name: _raw(form.get(name)) for name in PASSWORD_FIELDS}
    errors: dict[str, str] = {}
    if not typed["current"]:
        errors["current"] = "Введите текущий пароль"
    elif typed["password"] != typed["password2"]:
        errors["password2"] = "Пароли не совпадают"
    if not errors:
        try:
            await services(request).users.change_own_password(user.id, typed["current"], typed["password"])
        except DomainError as err:
            errors = {error_field(err, PASSWORD_FIELDS): err.message}
    if errors:
        return render(request, "staff/account.html", await account_context(request, errors=errors), 422)
    token = request[SESSION_TOKEN]
    ended = await staff(request).sessions.revoke_others(user.id, token)
    # Sockets of every other session of this user close; this one's stay open.
    services(request).hub.publish(
        {"type": "session", "change": "password", "user_id": user.id, "keep": hash_token(token)}
    )
    await audit(request, "password_changed", "user", user.id, other_sessions_ended=ended)
    raise web.HTTPSeeOther("/staff/account?done=password")


@require_roles(*STAFF_ROLES)
async def revoke_session(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    session_id = request.match_info["session_id"]
    token_hash = await staff(request).sessions.revoke_one(user.id, int(session_id)) if len(session_id) < 19 else None
    if token_hash is None:
        raise web.HTTPNotFound()
    services(request).hub.publish({"type": "session", "change": "revoked", "user_id": user.id, "session": token_hash})
    await audit(request, "session_revoked", "user", user.id, session=int(session_id))
    raise web.HTTPSeeOther("/staff/account?done=revoked")


def _raw(value: object) -> str:
    return value.replace("\x00", "") if isinstance(value, str) else ""


@require_roles(*STAFF_ROLES)
async def start_totp(request: web.Request) -> web.StreamResponse:
    """A new secret, shown this once: as a QR code (inline SVG), as text and as the otpauth:// link."""
    user = current_user(request)
    totp = request.app[WEB].totp
    if await totp.enrolled(user.id):
        raise web.HTTPSeeOther("/staff/account#totp")
    secret = await totp.start(user.id)
    uri = provisioning_uri(secret, user.login)
    # segno's own markup from our own string (the login is escaped by segno as XML text): safe to embed.
    context = await account_context(request, totp_secret=_grouped(secret), totp_uri=uri, totp_qr=Markup(qr_svg(uri)))
    return render(request, "staff/account.html", context)


@require_roles(*STAFF_ROLES)
async def confirm_totp(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    code = str(form.get("code", ""))[:16]
    if not await request.app[WEB].totp.confirm(user.id, code):
        errors = {"code": "Код не подошёл. Проверьте время на телефоне и введите новый код, или начните заново."}
        return render(request, "staff/account.html", await account_context(request, errors=errors), 422)
    await audit(request, "totp_enrolled", "user", user.id)
    raise web.HTTPSeeOther("/staff/account?done=totp")


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/account", account_page, name="staff_account")
    router.add_post("/staff/account/password", change_password, name="staff_account_password")
    router.add_post(r"/staff/account/sessions/{session_id:\d+}/revoke", revoke_session, name="staff_session_revoke")
    router.add_post("/staff/account/totp", start_totp, name="staff_account_totp")
    router.add_post("/staff/account/totp/confirm", confirm_totp, name="staff_account_totp_confirm")
