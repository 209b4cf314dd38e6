"""Jinja filters and globals shared by every page: local time, timers, status labels, phones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callcenter import __version__
from callcenter.config import Settings
from callcenter.domain.callbacks import RESULT_LABELS, AttemptResult
from callcenter.domain.phones import format_phone, mask_phone
from callcenter.domain.tickets import CHANNEL_LABELS, ROLE_LABELS, STATUS_LABELS, Channel, Role, Status, format_duration
from callcenter.reference import department_kind_label
from callcenter.web.request_keys import CURRENT_USER


def install_filters(app: web.Application, settings: Settings) -> None:
    env = aiohttp_jinja2.get_env(app)
    zone = settings.zone

    def localtime(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).strftime(fmt)

    env.filters.update(
        localtime=localtime,
        duration=lambda v: format_duration(v if isinstance(v, timedelta) or v is None else timedelta(seconds=v)),
        status_label=lambda s: STATUS_LABELS.get(Status(s), str(s)) if s else "",
        channel_label=lambda c: CHANNEL_LABELS.get(Channel(c), str(c)) if c else "",
        role_label=lambda r: ROLE_LABELS.get(Role(r), str(r)) if r else "",
        phone=_phone_for_reader,
        department_kind=department_kind_label,
        callback_result=_callback_result,
        isoformat=lambda v: v.astimezone(UTC).isoformat() if v else "",
    )
    env.globals.update(
        version=__version__,
        status_labels=STATUS_LABELS,
        channel_labels=CHANNEL_LABELS,
        tile_url=settings.tile_url,  # the staff layout's screen pop draws its small map with these tiles
    )


@jinja2.pass_context
def _phone_for_reader(context: Any, value: str | None) -> str:
    """A citizen's number as the signed-in reader may see it: analysts get it masked."""
    if not value:
        return ""
    user = context.get("current_user")
    return format_phone(value) if user is None or user.role is not Role.ANALYST else mask_phone(value)


def _callback_result(value: str | None) -> str:
    """A callback attempt's result as staff read it (the code itself if it is not a known one)."""
    if not value:
        return ""
    try:
        return RESULT_LABELS[AttemptResult(value)]
    except ValueError:
        return value


async def context_processor(request: web.Request) -> dict[str, Any]:
    return {"request": request, "now": datetime.now(UTC), "current_user": request.get(CURRENT_USER)}
