"""The staff slice's own services, built once in :func:`callcenter.staff.routes.setup`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from callcenter.staff.auth import CsrfSigner
    from callcenter.staff.departments import DepartmentService
    from callcenter.staff.related import RelatedRecords
    from callcenter.staff.sessions import LoginThrottle, SessionStore
    from callcenter.staff.stats import BoardStats


@dataclass
class StaffServices:
    """What staff handlers need beyond the shared Services."""

    sessions: SessionStore
    throttle: LoginThrottle
    csrf: CsrfSigner
    departments: DepartmentService
    related: RelatedRecords
    stats: BoardStats
    secure_cookies: bool = False
    trusted_proxies: tuple[Any, ...] = ()   # networks whose X-Forwarded-For is believed


STAFF = web.AppKey("staff", StaffServices)
