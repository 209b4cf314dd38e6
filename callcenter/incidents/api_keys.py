"""API keys of the utilities' own systems, one (or more) per department; a key posts incidents for
its own department only.

The keys themselves are the shared service (callcenter/accounts/api_keys.py); this module says which
table, prefix and owner column are the incidents', and that the owner must be a known department.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.api_keys import ApiKeys
from callcenter.domain.errors import ValidationError
from callcenter.incidents.models import IncidentApiKey
from callcenter.store import models as m

KEY_PREFIX = "inc_"


async def _check_department(session: AsyncSession, department: str) -> str:
    if await session.get(m.Department, department) is None:
        raise ValidationError(f"Неизвестный исполнитель «{department}»", field="department")
    return department


def incident_keys(sessions: async_sessionmaker[AsyncSession]) -> ApiKeys:
    """The utilities' keys (owner: the department's code)."""
    return ApiKeys(sessions, IncidentApiKey, prefix=KEY_PREFIX, owner="department_code", check_owner=_check_department)
