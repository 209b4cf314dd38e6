"""The staff pages' own services, built once in :func:`callcenter.staff.feature.setup`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from callcenter.accounts.departments import DepartmentService
    from callcenter.accounts.sessions import SessionStore
    from callcenter.staff.related import RelatedRecords
    from callcenter.staff.stats import BoardStats


@dataclass
class StaffServices:
    """What staff handlers need beyond the shared Services."""

    sessions: SessionStore  # the same store the web layer signs in with (admin: live counts, revoke)
    departments: DepartmentService
    related: RelatedRecords
    stats: BoardStats


STAFF = web.AppKey("staff", StaffServices)
