"""The one API-key service both features use (callcenter/accounts/api_keys.py): Open311 partner
applications and the utilities' incident feeds; keys stored before the merge still work."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from callcenter.accounts.api_keys import ApiKeys
from callcenter.domain.errors import NotFound, ValidationError
from callcenter.incidents.api_keys import incident_keys
from callcenter.incidents.models import IncidentApiKey
from callcenter.open311.api_keys import open311_keys
from callcenter.open311.models import Open311ApiKey
from callcenter.services import Services


async def test_both_features_take_their_keys_from_the_one_service(services: Services) -> None:
    assert type(incident_keys(services.sessions)) is ApiKeys
    assert type(open311_keys(services.sessions)) is ApiKeys


async def test_keys_stored_before_the_merge_are_still_accepted(services: Services) -> None:
    department = services.reference.category("no_water").department
    old_open311, old_incident = "o311_" + "a" * 43, "inc_" + "b" * 43
    async with services.sessions.begin() as session:
        session.add(
            Open311ApiKey(
                name="Старое приложение",
                key_hash=hashlib.sha256(old_open311.encode()).hexdigest(),
                key_prefix=old_open311[:12],
                created_at=datetime.now(UTC),
            )
        )
        session.add(
            IncidentApiKey(
                department_code=department,
                key_hash=hashlib.sha256(old_incident.encode()).hexdigest(),
                key_prefix=old_incident[:12],
                created_at=datetime.now(UTC),
            )
        )
    found = await open311_keys(services.sessions).check(old_open311)
    assert found is not None and found.owner == "Старое приложение"
    found = await incident_keys(services.sessions).check(old_incident)
    assert found is not None and found.owner == department
    # A key of one feature is never a key of the other.
    assert await incident_keys(services.sessions).check(old_open311) is None
    assert await open311_keys(services.sessions).check(old_incident) is None


async def test_issue_touch_and_revoke_through_either_feature(services: Services) -> None:
    department = services.reference.category("no_water").department
    incidents, open311 = incident_keys(services.sessions), open311_keys(services.sessions)
    view, key = await incidents.add(department)
    assert key.startswith("inc_") and view.owner == department and view.last_used_at is None
    checked = await incidents.check(key)
    assert checked is not None and checked.last_used_at is None  # a check writes nothing
    await incidents.touch(view.id)
    async with services.sessions() as session:
        used = (await session.execute(select(IncidentApiKey.last_used_at))).scalar_one()
    assert used is not None
    await incidents.revoke(view.id)
    assert await incidents.check(key) is None
    with pytest.raises(NotFound):
        await incidents.revoke(view.id + 1000)
    with pytest.raises(ValidationError, match="Неизвестный исполнитель"):
        await incidents.add("no-such-department")

    view, key = await open311.add("  Городской помощник ")
    assert key.startswith("o311_") and view.owner == "Городской помощник"
    with pytest.raises(ValidationError, match="уже выдан"):
        await open311.add("Городской помощник")
    with pytest.raises(ValidationError, match="Имя приложения"):
        await open311.add("x")
    await open311.revoke_owner("Городской помощник")
    assert await open311.check(key) is None
    assert [k.owner for k in await open311.all()] == ["Городской помощник"]
