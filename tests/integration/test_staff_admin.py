"""Administration: staff accounts (role, department, phone device, active, sessions) and departments."""

from __future__ import annotations

import html
import re

from callcenter.domain.tickets import Role
from tests.conftest import LiveServer
from tests.integration.test_staff_support import PASSWORD, make_user, new_ticket, staff_client


async def test_a_bad_new_user_comes_back_with_messages_and_what_was_typed(live_server: LiveServer) -> None:
    await make_user(live_server.services, "root", Role.ADMIN)
    async with staff_client(live_server.url, "root") as admin:
        resp = await admin.post(
            "/staff/admin/users/new",
            {
                "login": "Вася!",
                "full_name": "Василий Петров",
                "role": "executor",
                "department": "",
                "device": "PJSIP/op9",
                "password": "short",
                "active": "1",
            },
        )
        body = html.unescape(await resp.text())
        assert resp.status == 422
        assert "Исполнителю нужно выбрать подразделение" in body
        assert "Пароль должен быть не короче 12 символов" in body
        assert 'value="Василий Петров"' in body and 'value="PJSIP/op9"' in body and 'value="Вася!"' in body
        assert 'value="short"' not in body  # a password is never echoed
        login = await admin.post(
            "/staff/admin/users/new",
            {
                "login": "Вася!",
                "full_name": "",
                "role": "operator",
                "department": "",
                "device": "",
                "password": PASSWORD,
                "active": "1",
            },
        )
        assert login.status == 422 and "Логин: 2–64 латинских буквы" in html.unescape(await login.text())


async def test_an_admin_creates_a_user_who_can_then_sign_in(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "root", Role.ADMIN)
    async with staff_client(live_server.url, "root") as admin:
        resp = await admin.post(
            "/staff/admin/users/new",
            {
                "login": "vera",
                "full_name": "Вера Водоканал",
                "role": "executor",
                "department": "vodokanal",
                "device": "",
                "password": PASSWORD,
                "active": "1",
            },
        )
        assert resp.status == 303
        again = await admin.post(
            "/staff/admin/users/new",
            {
                "login": "vera",
                "full_name": "",
                "role": "operator",
                "department": "",
                "device": "",
                "password": PASSWORD,
                "active": "1",
            },
        )
        assert again.status == 422 and "уже есть" in html.unescape(await again.text())
    async with staff_client(live_server.url, "vera") as vera:
        assert "Вера Водоканал" in await (await vera.get("/staff/queue")).text()


async def test_role_department_and_device_are_edited(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "root", Role.ADMIN)
    anna = await make_user(services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "root") as admin:
        form = html.unescape(await (await admin.get(f"/staff/admin/users/{anna.id}")).text())
        assert 'value="Тест anna"' in form
        resp = await admin.post(
            f"/staff/admin/users/{anna.id}",
            {
                "full_name": "Анна Сергеевна",
                "role": "supervisor",
                "department": "",
                "device": "PJSIP/op1",
                "password": "",
                "active": "1",
            },
        )
        assert resp.status == 303
    user = await services.users.by_device("PJSIP/op1")
    assert user is not None and user.id == anna.id and user.role is Role.SUPERVISOR
    assert user.full_name == "Анна Сергеевна"


async def test_deactivating_a_user_ends_their_sessions_and_logins(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "root", Role.ADMIN)
    anna = await make_user(services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as anna_client, staff_client(live_server.url, "root") as admin:
        assert (await anna_client.get("/staff/")).status == 200
        users = await (await admin.get("/staff/admin/users")).text()
        assert re.search(rf'href="/staff/admin/users/{anna.id}">anna</a>.*?<td>1</td>', users, re.S)
        resp = await admin.post(
            f"/staff/admin/users/{anna.id}",
            {"full_name": "", "role": "operator", "department": "", "device": "", "password": "", "active": ""},
        )
        assert resp.status == 303
        assert (await anna_client.get("/staff/")).status == 302
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        assert (await client.post("/login", {"login": "anna", "password": PASSWORD})).status == 401


async def test_revoking_sessions_signs_a_user_out_everywhere(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "root", Role.ADMIN)
    anna = await make_user(services, "anna", Role.OPERATOR)
    async with (
        staff_client(live_server.url, "anna") as phone,
        staff_client(live_server.url, "anna") as desk,
        staff_client(live_server.url, "root") as admin,
    ):
        resp = await admin.post(f"/staff/admin/users/{anna.id}/revoke")
        assert resp.status == 303 and resp.headers["Location"] == "/staff/admin/users?done=revoked"
        assert (await phone.get("/staff/")).status == 302 and (await desk.get("/staff/")).status == 302
        assert (await admin.get("/staff/admin/users")).status == 200  # the admin's own session lives on


async def test_an_admin_cannot_lock_themselves_out(live_server: LiveServer) -> None:
    root = await make_user(live_server.services, "root", Role.ADMIN)
    async with staff_client(live_server.url, "root") as admin:
        resp = await admin.post(
            f"/staff/admin/users/{root.id}",
            {"full_name": "", "role": "operator", "department": "", "device": "", "password": "", "active": "1"},
        )
        assert resp.status == 422 and "Нельзя снять с себя роль администратора" in await resp.text()
    assert (await live_server.services.users.get(root.id)).role is Role.ADMIN


async def test_an_inactive_department_is_not_offered_for_dispatch(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "root", Role.ADMIN)
    ticket = await new_ticket(services, category="road_pothole", description="Яма")
    async with staff_client(live_server.url, "root") as admin:
        page = await (await admin.get(f"/staff/tickets/{ticket.number}")).text()
        assert '<option value="gorsvet"' in page
        listing = await (await admin.get("/staff/admin/departments")).text()
        assert "ГУПС «Водоканал»" in html.unescape(listing)
        resp = await admin.post("/staff/admin/departments/gorsvet", {"active": ""})
        assert resp.status == 303
        page = await (await admin.get(f"/staff/tickets/{ticket.number}")).text()
        assert '<option value="gorsvet"' not in page
        assert (await admin.post("/staff/admin/departments/gorsvet", {"active": "1"})).status == 303
        assert '<option value="gorsvet"' in await (await admin.get(f"/staff/tickets/{ticket.number}")).text()
