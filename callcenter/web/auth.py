"""Who is asking, and may they: the session/CSRF middleware and the ``require_roles`` decorator.

Other slices protect their staff pages the same way::

    from callcenter.web.auth import require_roles

    @require_roles(Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
    async def handler(request): user = request[CURRENT_USER] ...

Forms carry the ``csrf_token`` of the template context as a field named ``csrf_token``
(scripts send it as the ``X-CSRF-Token`` header). The token is an HMAC of the session
token (or, before login, of a random cookie), so it cannot be read or forged by another site.

A form with a photo (multipart) is not read here: ``request.post()`` would hold the whole body
and leave nothing for the handler's bounded stream reader. Its handler is marked with
:func:`csrf_checked_in_handler`, reads the body once with its own limits and calls
:func:`verify_form_csrf` before it acts; a marked handler that answers a multipart POST
without that check is refused here (403), so a forgotten check cannot pass silently.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import hdrs, web
from aiohttp_jinja2 import REQUEST_CONTEXT_KEY

from callcenter.accounts.users import STAFF_ROLES, UserView
from callcenter.domain.errors import PermissionDenied
from callcenter.domain.tickets import ROLE_LABELS, Role
from callcenter.web.context import WEB
from callcenter.web.csrf import CsrfSigner
from callcenter.web.error_pages import render_error, wants_json
from callcenter.web.ratelimit import client_address as forwarded_address
from callcenter.web.request_keys import CURRENT_USER

logger = logging.getLogger(__name__)

SESSION_COOKIE = "cc_session"
CSRF_COOKIE = "cc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TOKEN = web.RequestKey("staff_session_token", str)
CSRF_TOKEN = web.RequestKey("staff_csrf_token", str)
ENROLMENT_PATHS = ("/staff/account",)  # what a user who must enrol in two-factor sign-in may open
CSRF_BINDING = web.RequestKey("staff_csrf_binding", str)
CSRF_VERIFIED = web.RequestKey("staff_csrf_verified", bool)
CSRF_IN_HANDLER = "csrf_checked_in_handler"
CSRF_REFUSED = "Форма устарела или отправлена с чужого сайта. Обновите страницу и повторите."
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Everyone but executors works the whole city's tickets.
CITY_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
EDITOR_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)
SUPERVISION_ROLES = (Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_staff_path(path: str) -> bool:
    return path == "/staff" or path.startswith("/staff/")


def is_guarded(path: str) -> bool:
    """Paths whose unsafe requests must carry a CSRF token."""
    return is_staff_path(path) or path in ("/login", "/logout", "/login/code")


def login_redirect(request: web.Request) -> web.StreamResponse:
    """Where an anonymous visitor of a staff page goes: the login form (HTML) or a 401."""
    if request.method == "GET" and not wants_json(request) and request.headers.get(hdrs.UPGRADE) is None:
        raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/"))
    return render_error(request, 401, "Войдите в систему: сеанс не начат или завершён", "login_required")


def require_roles(*roles: Role) -> Callable[[Handler], Handler]:
    """Let the handler run only for a signed-in user with one of ``roles`` (403 otherwise)."""
    allowed = frozenset(roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = request.get(CURRENT_USER)
            if user is None:
                return login_redirect(request)
            if user.role not in allowed:
                raise PermissionDenied(
                    f"Раздел недоступен для роли «{ROLE_LABELS[user.role]}»", details={"role": user.role.value}
                )
            return await handler(request)

        guarded.staff_roles = allowed  # type: ignore[attr-defined]   # the route-walk test reads it
        return guarded

    return decorate


def current_user(request: web.Request) -> UserView:
    """The signed-in user of a handler behind ``require_roles``."""
    return request[CURRENT_USER]


def check_department(user: UserView, department: str | None) -> None:
    """Executors reach only their department's tickets; everyone else the whole city's."""
    if user.role is Role.EXECUTOR and department != user.department:
        raise PermissionDenied(
            "Эта заявка направлена другому исполнителю и вам недоступна", details={"department": department}
        )


@web.middleware
async def staff_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session cookie, expose ``current_user``/``csrf_token``, check CSRF, guard /staff."""
    if request.path.startswith("/static/"):
        return await handler(request)
    staff = request.app[WEB]
    token = request.cookies.get(SESSION_COOKIE)
    resolved = await staff.sessions.resolve(token) if token else None
    if resolved is not None and token:
        request[CURRENT_USER] = resolved.user
        request[SESSION_TOKEN] = token
    binding, fresh = _csrf_binding(request, token if resolved else None)
    request[CSRF_TOKEN] = staff.csrf.token(binding) if binding else ""
    request.setdefault(REQUEST_CONTEXT_KEY, {}).update(
        current_user=request.get(CURRENT_USER), csrf_token=request[CSRF_TOKEN]
    )
    if is_staff_path(request.path) and resolved is None:
        return login_redirect(request)
    if (
        resolved is not None
        and is_staff_path(request.path)
        and not request.path.startswith(ENROLMENT_PATHS)
        and staff.totp.must_enrol(resolved.user.role, resolved.second_factor, resolved.user_created_at)
    ):
        # Admins and supervisors past the grace period: nothing but enrolling in two-factor sign-in.
        if request.method == "GET" and not wants_json(request):
            raise web.HTTPFound("/staff/account?enrol=1#totp")
        return render_error(
            request, 403, "Подключите двухфакторный вход: Мой профиль → Двухфакторный вход", "totp_required"
        )
    if is_guarded(request.path) and request.method not in SAFE_METHODS:
        if _checked_in_handler(request):
            request[CSRF_BINDING] = binding or ""
            response = await _run_checked_in_handler(request, handler)
        else:
            await _check_csrf(request, staff.csrf, binding)
            response = await handler(request)
    else:
        response = await handler(request)
    if fresh:
        response.set_cookie(CSRF_COOKIE, fresh, httponly=True, samesite="Lax", secure=staff.secure_cookies, path="/")
    if token and resolved is None and not response.prepared:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _csrf_binding(request: web.Request, session_token: str | None) -> tuple[str | None, str | None]:
    """The value tokens are bound to, and a new pre-login cookie value when one must be issued."""
    if session_token:
        return session_token, None
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie:
        return cookie, None
    if request.path == "/login" and request.method == "GET":
        fresh = secrets.token_urlsafe(24)
        return fresh, fresh
    return None, None


def csrf_checked_in_handler(handler: Handler) -> Handler:
    """Mark a handler that reads its own multipart body and calls :func:`verify_form_csrf`."""
    setattr(handler, CSRF_IN_HANDLER, True)
    return handler


def verify_form_csrf(request: web.Request, sent: object) -> None:
    """The CSRF check of a marked handler, on the ``csrf_token`` field it read (403 if wrong)."""
    if request.headers.get(CSRF_HEADER) is not None:
        sent = request.headers.get(CSRF_HEADER)
    binding = request.get(CSRF_BINDING) or None
    if not request.app[WEB].csrf.valid(binding, sent if isinstance(sent, str) else None):
        logger.warning("CSRF check failed for %s %s from %s", request.method, request.path, request.remote)
        raise PermissionDenied(CSRF_REFUSED, details={"reason": "csrf"})
    request[CSRF_VERIFIED] = True


def _checked_in_handler(request: web.Request) -> bool:
    if request.content_type != "multipart/form-data":
        return False  # url-encoded bodies are small: checked here as for every other form
    return bool(getattr(request.match_info.handler, CSRF_IN_HANDLER, False))


async def _run_checked_in_handler(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run a marked handler; if it answered "done" without verifying the token, refuse (a bug)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 and not request.get(CSRF_VERIFIED):
            logger.error("%s answered %d without its CSRF check", request.path, exc.status)
            raise PermissionDenied(CSRF_REFUSED, details={"reason": "csrf"}) from None
        raise
    if response.status < 400 and not request.get(CSRF_VERIFIED):
        logger.error("%s answered %d without its CSRF check", request.path, response.status)
        raise PermissionDenied(CSRF_REFUSED, details={"reason": "csrf"})
    return response


async def _check_csrf(request: web.Request, signer: CsrfSigner, binding: str | None) -> None:
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = (await request.post()).get(CSRF_FIELD)
    if not signer.valid(binding, sent if isinstance(sent, str) else None):
        logger.warning("CSRF check failed for %s %s from %s", request.method, request.path, request.remote)
        raise PermissionDenied(CSRF_REFUSED, details={"reason": "csrf"})


def client_address(request: web.Request) -> str:
    """The client's address for the lock-out: the peer, or the forwarded one behind a trusted proxy."""
    return forwarded_address(request, request.app[WEB].trusted_proxies)[:64]


__all__ = [
    "CITY_ROLES",
    "EDITOR_ROLES",
    "STAFF_ROLES",
    "SUPERVISION_ROLES",
    "check_department",
    "csrf_checked_in_handler",
    "current_user",
    "require_roles",
    "staff_middleware",
    "verify_form_csrf",
]
