"""The audit log: who saw or changed what, when, from where; append-only; searchable by an admin."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from callcenter.accounts.audit import AuditActor, AuditLog, AuditQuery
from callcenter.domain.tickets import Role
from callcenter.services import Services
from callcenter.web.context import WEB
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, new_ticket, staff_client


async def test_the_log_has_no_update_or_delete_path_in_code() -> None:
    public = {name for name, _ in inspect.getmembers(AuditLog, inspect.isfunction) if not name.startswith("_")}
    assert public == {"record", "search", "count"}


async def test_the_database_refuses_to_change_or_remove_an_entry(services: Services) -> None:
    log = AuditLog(services.sessions)
    await log.record(AuditActor(7, "anna", "operator", "10.0.0.5"), "ticket_viewed", "ticket", "2600000001")
    for statement in ("UPDATE audit_events SET login = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises((DBAPIError, IntegrityError)) as refused:
            async with services.engine.begin() as conn:
                await conn.execute(text(statement))
        assert "append-only" in str(refused.value)
    [entry] = await log.search(AuditQuery())
    assert (entry.login, entry.action, entry.object_id, entry.address) == (
        "anna",
        "ticket_viewed",
        "2600000001",
        "10.0.0.5",
    )


async def test_search_by_user_ticket_action_and_dates(services: Services) -> None:
    clock = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]
    log = AuditLog(services.sessions, clock=lambda: clock[0])
    anna, boris = AuditActor(1, "anna", "operator"), AuditActor(2, "boris", "supervisor")
    await log.record(anna, "ticket_viewed", "ticket", "2600000001")
    clock[0] += timedelta(days=2)
    await log.record(boris, "ticket_moved", "ticket", "2600000001", to="dispatched")
    await log.record(boris, "tickets_exported", "export", "csv", rows=3)
    assert [e.action for e in await log.search(AuditQuery(login="boris"))] == ["tickets_exported", "ticket_moved"]
    assert [e.login for e in await log.search(AuditQuery(object_type="ticket", object_id="2600000001"))] == [
        "boris",
        "anna",
    ]
    assert [e.login for e in await log.search(AuditQuery(action="ticket_viewed"))] == ["anna"]
    day2 = datetime(2026, 12, 3, tzinfo=UTC)
    assert len(await log.search(AuditQuery(since=day2))) == 2
    assert [e.login for e in await log.search(AuditQuery(until=day2))] == ["anna"]


async def test_staff_actions_and_personal_data_views_are_recorded_and_shown_to_the_admin(
    live_server: LiveServer,
) -> None:
    services = live_server.services
    await make_user(services, "boss", Role.ADMIN)
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services, citizen_name="Иванова Мария")
    async with staff_client(live_server.url, "anna") as anna:
        assert (await anna.get(f"/staff/tickets/{ticket.number}")).status == 200
        await anna.post(f"/staff/tickets/{ticket.number}/note", {"note": "Позвонила, уточнила адрес", "public": "0"})
    async with staff_client(live_server.url, "boss") as boss:
        assert (await boss.get("/staff/export.csv")).status == 200
        page = await boss.get(f"/staff/admin/audit?ticket={ticket.number}")
        html = await page.text()
        assert page.status == 200
        assert "Журнал аудита" in html and "<td>Просмотр персональных данных в заявке</td>" in html
        assert "<td>Комментарий к заявке</td>" in html and "<td>anna</td>" in html
        assert "<td>Выгрузка CSV</td>" not in html  # filtered by ticket
        by_action = await (await boss.get("/staff/admin/audit?action=tickets_exported&login=boss")).text()
        assert "<td>Выгрузка CSV</td>" in by_action and "<td>Просмотр персональных" not in by_action
        assert (await boss.get("/staff/admin/audit?date_from=0001-01-01")).status == 422
        assert (await boss.get("/staff/admin/audit?action=drop_table")).status == 422
    actions = [e.action for e in await live_server.app[WEB].audit.search(AuditQuery())]
    assert {"login", "ticket_viewed", "ticket_note", "tickets_exported"} <= set(actions)
    async with staff_client(live_server.url, "anna") as anna:
        assert (await anna.get("/staff/admin/audit")).status == 403


async def test_failed_sign_ins_are_recorded_with_the_address(live_server: LiveServer) -> None:
    async with staff_client(live_server.url) as client:
        await client.get("/login")
        assert (await client.post("/login", {"login": "nobody", "password": "не-тот-пароль-1"})).status == 401
    [entry] = await live_server.app[WEB].audit.search(AuditQuery(action="login_failed"))
    assert entry.login == "nobody" and entry.address == "127.0.0.1" and entry.user_id is None
