"""Open311 API keys: one per partner application, named; issued with ``callcenter open311-key add NAME``.

The keys themselves are the shared service (callcenter/accounts/api_keys.py); this module says which
table, prefix and owner column are Open311's, and what a good application name is.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.api_keys import ApiKeys
from callcenter.domain.errors import ValidationError
from callcenter.open311.models import Open311ApiKey

KEY_PREFIX = "o311_"
_NAME = re.compile(r"^[\w .@-]{2,100}$")


async def _check_name(_session: AsyncSession, name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise ValidationError("Имя приложения: 2–100 букв, цифр, пробелов, точек, дефисов", field="name")
    return name


def open311_keys(sessions: async_sessionmaker[AsyncSession]) -> ApiKeys:
    """The Open311 keys (owner: the application's name, unique)."""
    return ApiKeys(sessions, Open311ApiKey, prefix=KEY_PREFIX, owner="name", check_owner=_check_name)
