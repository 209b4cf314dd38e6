"""Small helpers every staff page uses: rendering with a status, the shared services, forms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from callcenter.domain.errors import DomainError
from callcenter.services import SERVICES, Services
from callcenter.staff.staff_services import STAFF, StaffServices
from callcenter.staff.targets import TargetBook
from callcenter.web.redirects import local_path

TARGETS = web.AppKey("staff_targets", TargetBook)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def staff(request: web.Request) -> StaffServices:
    return request.app[STAFF]


def targets(request: web.Request) -> TargetBook:
    return request.app[TARGETS]


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """Render a template with the board helpers (targets, reference) in its context."""
    shared = services(request)
    context.setdefault("errors", {})
    context.update(targets=targets(request), reference=shared.reference)
    response = aiohttp_jinja2.render_template(template, request, context)
    response.set_status(status)
    return response


def text_fields(form: MultiMapping[Any], *names: str) -> dict[str, str]:
    """The named fields as stripped strings ('' when missing or a file)."""
    values = {}
    for name in names:
        value = form.get(name, "")
        values[name] = value.replace("\x00", "").strip() if isinstance(value, str) else ""  # PostgreSQL refuses NUL
    return values


def error_field(err: DomainError, fields: Iterable[str] = ()) -> str:
    """The form field a domain error is about (MissingField/ValidationError carry one);
    "form" when it names none or one the form does not have, so the message is still shown."""
    name = str(err.details.get("field") or "form")
    return name if name in fields else "form"


def local_redirect(value: str | None, default: str) -> str:
    """Only a local path; anything else falls back to ``default``."""
    return local_path(value) or default
