"""Administration (`/staff/admin/...`): staff accounts and departments. Admins only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.accounts.users import MIN_PASSWORD, STAFF_ROLES, UserView, password_problem
from callcenter.domain.errors import DomainError
from callcenter.domain.tickets import ROLE_LABELS, Role
from callcenter.staff.pages import error_field, render, services, staff, text_fields
from callcenter.web.audit import audit
from callcenter.web.auth import current_user, require_roles
from callcenter.web.context import WEB

USER_FIELDS = ("login", "full_name", "role", "department", "device", "password", "active")
ROLE_CHOICES = [(r.value, ROLE_LABELS[r]) for r in STAFF_ROLES]


@require_roles(Role.ADMIN)
async def users_page(request: web.Request) -> web.Response:
    users = await services(request).users.all()
    return render(
        request,
        "staff/admin_users.html",
        {
            "users": users,
            "sessions": await staff(request).sessions.live_counts(),
            "departments": {d.code: d for d in await staff(request).departments.all()},
            "flash": request.query.get("done", ""),
        },
    )


async def _form_context(request: web.Request, typed: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "typed": typed,
        "roles": ROLE_CHOICES,
        "departments": await staff(request).departments.all(),
        "min_password": MIN_PASSWORD,
        **extra,
    }


@require_roles(Role.ADMIN)
async def new_user_page(request: web.Request) -> web.Response:
    typed = dict.fromkeys(USER_FIELDS, "") | {"role": Role.OPERATOR.value, "active": "1"}
    return render(request, "staff/admin_user.html", await _form_context(request, typed, user=None))


@require_roles(Role.ADMIN)
async def create_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    typed = text_fields(form, *USER_FIELDS) | {"password": _raw_password(form)}
    errors = _check_user(typed, new=True)
    if not errors:
        try:
            created = await services(request).users.create(
                typed["login"],
                typed["password"],
                typed["role"],
                department=typed["department"] or None,
                full_name=typed["full_name"],
                device=typed["device"] or None,
            )
        except DomainError as err:
            errors = {error_field(err, USER_FIELDS): err.message}
    if errors:
        typed["password"] = ""  # never echo a password back into the page
        return render(
            request, "staff/admin_user.html", await _form_context(request, typed, user=None, errors=errors), 422
        )
    await audit(request, "user_created", "user", created.id, login=created.login, role=created.role.value)
    raise web.HTTPSeeOther("/staff/admin/users?done=created")


@require_roles(Role.ADMIN)
async def edit_user_page(request: web.Request) -> web.Response:
    user = await _user(request)
    typed = {
        "login": user.login,
        "full_name": user.full_name,
        "role": user.role.value,
        "department": user.department or "",
        "device": user.device or "",
        "password": "",
        "active": "1" if user.active else "",
    }
    return render(
        request,
        "staff/admin_user.html",
        await _form_context(
            request,
            typed,
            user=user,
            user_sessions=await staff(request).sessions.list_for_user(user.id),
            user_totp=await request.app[WEB].totp.enrolled(user.id),
        ),
    )


@require_roles(Role.ADMIN)
async def revoke_one_session(request: web.Request) -> web.StreamResponse:
    """End one session of a user from the admin's session list (its /ws sockets close)."""
    user = await _user(request)
    session_id = request.match_info["session_id"]
    token_hash = await staff(request).sessions.revoke_one(user.id, int(session_id)) if len(session_id) < 19 else None
    if token_hash is None:
        raise web.HTTPNotFound()
    services(request).hub.publish({"type": "session", "change": "revoked", "user_id": user.id, "session": token_hash})
    await audit(request, "session_revoked", "user", user.id, login=user.login, session=int(session_id))
    raise web.HTTPSeeOther(f"/staff/admin/users/{user.id}#sessions")


@require_roles(Role.ADMIN)
async def reset_totp(request: web.Request) -> web.StreamResponse:
    """Remove a user's second factor (a lost phone); their sessions end, they enrol again."""
    user = await _user(request)
    await request.app[WEB].totp.reset(user.id)
    await _revoke(request, user.id)
    await audit(request, "totp_reset", "user", user.id, login=user.login)
    raise web.HTTPSeeOther(f"/staff/admin/users/{user.id}")


@require_roles(Role.ADMIN)
async def update_user(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    form = await request.post()
    typed = text_fields(form, *USER_FIELDS) | {"login": user.login, "password": _raw_password(form)}
    errors = _check_user(typed, new=False)
    if user.id == current_user(request).id and (typed["role"] != Role.ADMIN.value or typed["active"] != "1"):
        errors["role"] = "Нельзя снять с себя роль администратора или отключить свою учётную запись"
    if not errors:
        errors = await _save_user(request, user, typed)
    if errors:
        typed["password"] = ""
        return render(
            request, "staff/admin_user.html", await _form_context(request, typed, user=user, errors=errors), 422
        )
    raise web.HTTPSeeOther("/staff/admin/users?done=saved")


async def _save_user(request: web.Request, user: UserView, typed: dict[str, str]) -> dict[str, str]:
    users = services(request).users
    try:
        updated = await users.update(
            user.id,
            full_name=typed["full_name"],
            role=typed["role"],
            department=typed["department"] or None,
            device=typed["device"] or None,
            active=typed["active"] == "1",
        )
        if typed["password"]:
            await users.set_password(user.id, typed["password"])
    except DomainError as err:
        return {error_field(err, USER_FIELDS): err.message}
    await audit(
        request,
        "user_updated",
        "user",
        user.id,
        login=user.login,
        role=updated.role.value,
        active=updated.active,
        password_set=bool(typed["password"]),
    )
    if not updated.active or typed["password"] or updated.role is not user.role:
        # A disabled account, a new password or another role: old sessions must not linger.
        await _revoke(request, user.id)
    return {}


@require_roles(Role.ADMIN)
async def revoke_sessions(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    await _revoke(request, user.id)
    await audit(request, "user_sessions_revoked", "user", user.id, login=user.login)
    raise web.HTTPSeeOther("/staff/admin/users?done=revoked")


async def _revoke(request: web.Request, user_id: int) -> None:
    await staff(request).sessions.revoke_user(user_id)
    # Open WebSockets of that user close themselves on this message (see live.py).
    services(request).hub.publish({"type": "session", "change": "revoked", "user_id": user_id})


def _raw_password(form: Any) -> str:
    """The password exactly as typed: sign-in does not trim it, so setting it must not either."""
    value = form.get("password", "")
    return value.replace("\x00", "") if isinstance(value, str) else ""


def _check_user(typed: dict[str, str], *, new: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if new and not typed["login"]:
        errors["login"] = "Укажите логин"
    if typed["role"] not in {r.value for r in STAFF_ROLES}:
        errors["role"] = "Выберите роль из списка"
    elif typed["role"] == Role.EXECUTOR.value and not typed["department"]:
        errors["department"] = "Исполнителю нужно выбрать подразделение"
    if (new or typed["password"]) and (problem := password_problem(typed["password"], typed["login"])):
        errors["password"] = problem
    if len(typed["full_name"]) > 200:
        errors["full_name"] = "Не больше 200 символов"
    if len(typed["device"]) > 120:
        errors["device"] = "Не больше 120 символов, например PJSIP/op1"
    return errors


async def _user(request: web.Request) -> UserView:
    user_id = request.match_info["user_id"]
    user = await services(request).users.get(int(user_id)) if user_id.isdigit() and len(user_id) < 19 else None
    if user is None:
        raise web.HTTPNotFound()
    return user


@require_roles(Role.ADMIN)
async def departments_page(request: web.Request) -> web.Response:
    return render(request, "staff/admin_departments.html", {"departments": await staff(request).departments.all()})


@require_roles(Role.ADMIN)
async def toggle_department(request: web.Request) -> web.StreamResponse:
    form = text_fields(await request.post(), "active")
    await staff(request).departments.set_active(request.match_info["code"], form["active"] == "1")
    await audit(request, "department_toggled", "department", request.match_info["code"], active=form["active"] == "1")
    raise web.HTTPSeeOther("/staff/admin/departments")
