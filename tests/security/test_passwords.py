"""Passwords: 12 characters at least, common ones refused, taken exactly as typed (never trimmed)."""

from __future__ import annotations

import pytest

from callcenter.domain.errors import ValidationError
from callcenter.domain.tickets import Role
from callcenter.services import Services
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, staff_client


@pytest.mark.parametrize(
    "password, reason",
    [
        ("короткий-11", "не короче 12"),
        ("qwerty123456", "слишком простой"),
        ("йцукенгшщзхъ", "слишком простой"),
        ("aaaaaaaaaaaaaaaa", "слишком простой"),
        ("my-vera.login-2026", "содержит логин"),
    ],
)
async def test_weak_passwords_are_refused(services: Services, password: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        await services.users.create("vera.login", password, Role.OPERATOR)
    assert reason in refused.value.message


async def test_a_password_set_by_the_admin_with_spaces_signs_in_as_typed(live_server: LiveServer) -> None:
    await make_user(live_server.services, "boss", Role.ADMIN)
    typed = "  пароль с пробелами 1563  "
    async with staff_client(live_server.url, "boss") as admin:
        await admin.refresh_csrf()
        resp = await admin.post(
            "/staff/admin/users/new",
            {"login": "nina", "full_name": "Нина", "role": "operator", "password": typed, "active": "1"},
        )
        assert resp.status == 303, await resp.text()
    async with staff_client(live_server.url) as nina:
        await nina.get("/login")
        assert (await nina.post("/login", {"login": "nina", "password": typed})).status == 303
    async with staff_client(live_server.url) as other:
        await other.get("/login")
        assert (await other.post("/login", {"login": "nina", "password": typed.strip()})).status == 401
