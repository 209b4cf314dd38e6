"""The callback pages on the full app over a real socket: roles, CSRF, the operators' list,
the supervisors' board and its decisions, CSV export, click-to-call through the fake Asterisk."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from callcenter.app import init_app
from callcenter.domain.tickets import Role, Status
from callcenter.services import SERVICES
from callcenter.store import models as m
from callcenter.telephony.ami_link import AmiLink, AmiSettings
from tests.integration.test_staff_support import OPERATOR_ACTOR, make_user, new_ticket, staff_client
from tests.protocol.fake_ami import FakeAmi

pytestmark = pytest.mark.timeout(120)


@asynccontextmanager
async def running_app(services: Any, **overrides: Any) -> AsyncIterator[tuple[str, Any]]:
    """The whole app with calling allowed round the clock and no delay, on a real port."""
    values = dict(
        callback_hours="00:00-24:00", callback_delay_seconds=0, callback_mode="operator", callback_tick_seconds=3600.0
    )
    values.update(overrides)
    settings = dataclasses.replace(services.settings, **values)
    app = init_app(settings, services=dataclasses.replace(services, settings=settings))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app[SERVICES]
    finally:
        await runner.cleanup()


async def read(response):
    """Read the whole answer (so the client's connection is released) and return the response."""
    await response.read()
    return response


async def done_ticket(services: Any, phone: str = "8 978 000-11-22"):
    ticket = await new_ticket(services, phone=phone)
    await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
    await services.tickets.move(ticket.number, Status.IN_PROGRESS, OPERATOR_ACTOR)
    return await services.tickets.move(ticket.number, Status.DONE, OPERATOR_ACTOR, note="Устранено")


async def only_callback(services: Any) -> m.Callback:
    async with services.sessions() as session:
        [cb] = (await session.execute(select(m.Callback))).scalars().all()
        return cb


async def test_board_is_for_supervisors_analysts_and_admins(services) -> None:
    async with running_app(services) as (url, svc):
        for login, role in (
            ("op", Role.OPERATOR),
            ("ex", Role.EXECUTOR),
            ("an", Role.ANALYST),
            ("sv", Role.SUPERVISOR),
        ):
            await make_user(svc, login, role)
        async with staff_client(url) as anonymous:
            resp = await read(await anonymous.get("/staff/callbacks"))
            assert resp.status == 302 and resp.headers["Location"].startswith("/login")
        for login, expected in (("op", 403), ("ex", 403), ("an", 200), ("sv", 200)):
            async with staff_client(url, login) as client:
                resp = await read(await client.get("/staff/callbacks"))
                assert resp.status == expected, login
                if expected == 200:
                    assert "Обратные звонки" in await resp.text()
                assert (await read(await client.get("/staff/callbacks/export.csv"))).status == expected
        async with staff_client(url, "an") as analyst:
            assert (await read(await analyst.get("/staff/callbacks/mine"))).status == 403


async def test_operator_records_outcomes_from_the_list(services) -> None:
    async with running_app(services) as (url, svc):
        await make_user(svc, "op", Role.OPERATOR)
        first = await done_ticket(svc)
        async with staff_client(url, "op") as client:
            page = await (await client.get("/staff/callbacks/mine")).text()
            assert first.number in page and "+7 978 000-11-22" in page
            cb = await only_callback(svc)
            resp = await read(
                await client.post(f"/staff/callbacks/{cb.id}/outcome", {"result": "not_satisfied", "comment": " "})
            )
            assert resp.status == 422
            assert "Запишите слова заявителя" in await resp.text()
            assert (await svc.tickets.get(first.number)).status is Status.DONE
            resp = await read(
                await client.post(
                    f"/staff/callbacks/{cb.id}/outcome", {"result": "not_satisfied", "comment": "Во дворе снова течёт"}
                )
            )
            assert resp.status == 303
            detail = await svc.tickets.detail(first.number)
            assert detail.ticket.status is Status.IN_PROGRESS
            assert detail.events[-1].note == "Заявитель не удовлетворён выполнением: Во дворе снова течёт"
            assert detail.events[-1].actor_name == "Тест op"

            await svc.tickets.move(first.number, Status.DONE, OPERATOR_ACTOR, note="Теперь точно устранено")
            async with svc.sessions() as session:
                second = (await session.execute(select(m.Callback).where(m.Callback.state == "planned"))).scalar_one()
            resp = await read(await client.post(f"/staff/callbacks/{second.id}/outcome", {"result": "satisfied"}))
            assert resp.status == 303
            assert (await svc.tickets.get(first.number)).status is Status.CLOSED
            page = await (await client.get("/staff/callbacks/mine")).text()
            assert "Сейчас звонить некому" in page


async def test_forms_without_the_csrf_token_change_nothing(services) -> None:
    async with running_app(services) as (url, svc):
        await make_user(svc, "op", Role.OPERATOR)
        ticket = await done_ticket(svc)
        cb = await only_callback(svc)
        async with staff_client(url, "op") as client:
            resp = await read(
                await client.post(f"/staff/callbacks/{cb.id}/outcome", {"result": "satisfied"}, csrf=False)
            )
            assert resp.status == 403
            resp = await read(await client.post(f"/staff/callbacks/{cb.id}/outcome", {"result": "happy"}))
            assert resp.status == 422 and "Неизвестный итог" in await resp.text()
        assert (await svc.tickets.get(ticket.number)).status is Status.DONE
        assert (await only_callback(svc)).attempts == 0


async def test_click_to_call_without_telephony_shows_the_number(services) -> None:
    async with running_app(services) as (url, svc):
        await make_user(svc, "op", Role.OPERATOR, device="PJSIP/op1")
        await done_ticket(svc)
        cb = await only_callback(svc)
        async with staff_client(url, "op") as client:
            resp = await read(await client.post(f"/staff/callbacks/{cb.id}/call"))
            assert resp.status == 303 and "dialling=0" in resp.headers["Location"]
            page = await (await client.get(resp.headers["Location"])).text()
            assert "Телефония отключена" in page
            assert re.search(r"Позвоните заявителю вручную: <strong[^>]*>\+7 978 000-11-22</strong>", page)
            assert "взят вами" in page
        async with svc.sessions() as session:
            assert (await session.execute(select(m.CallbackAttempt))).first() is None


async def test_click_to_call_rings_the_operator_through_the_fake_asterisk(services) -> None:
    fake = FakeAmi()
    await fake.start()
    link = AmiLink(
        AmiSettings(host="127.0.0.1", port=fake.port, username="callcenter", secret="labsecret", ping_interval=30)
    )
    try:
        await link.start()
        assert await link.wait_connected(5)
        async with running_app(
            services, ami_host="127.0.0.1", ami_port=fake.port, ami_secret="labsecret", click_to_call_context="outbound"
        ) as (url, svc):
            svc.ami = link
            await make_user(svc, "op", Role.OPERATOR, device="PJSIP/op1")
            ticket = await done_ticket(svc)
            cb = await only_callback(svc)
            assert cb.mode == "operator"  # CALLCENTER_CALLBACK_MODE=operator
            async with staff_client(url, "op") as client:
                resp = await read(await client.post(f"/staff/callbacks/{cb.id}/call"))
                assert resp.status == 303 and "dialling=1" in resp.headers["Location"]
                await fake.wait_for(lambda: fake.count("Originate") == 1)
                [action] = [a for a in fake.actions if a.get("Action") == "Originate"]
                assert (action["Channel"], action["Context"], action["Exten"]) == (
                    "PJSIP/op1",
                    "outbound",
                    "79780001122",
                )
                assert f"TICKET_ID={ticket.number}" in action["Variable"]
                await svc.callbacks.service.wait_background(5)
                async with svc.sessions() as session:
                    [attempt] = (await session.execute(select(m.CallbackAttempt))).scalars().all()
                assert (attempt.action_id, attempt.result) == (action["ActionID"], None)
                resp = await read(await client.post(f"/staff/callbacks/{cb.id}/outcome", {"result": "satisfied"}))
                assert resp.status == 303
            assert (await svc.tickets.get(ticket.number)).status is Status.CLOSED
    finally:
        await link.close()
        await fake.close()


async def _unreachable(svc: Any, operator) -> m.Callback:
    cb = await only_callback(svc)
    for _ in range(3):
        await svc.callbacks.service.record_operator_outcome(cb.id, operator, "no_answer")
    cb = await only_callback(svc)
    assert cb.state == "unreachable"
    return cb


async def test_supervisor_decides_on_unreachable_callbacks(services) -> None:
    async with running_app(services) as (url, svc):
        operator = await make_user(svc, "op", Role.OPERATOR)
        await make_user(svc, "sv", Role.SUPERVISOR)
        await make_user(svc, "an", Role.ANALYST)
        ticket = await done_ticket(svc)
        cb = await _unreachable(svc, operator)
        async with staff_client(url, "an") as analyst:
            page = await (await analyst.get("/staff/callbacks")).text()
            assert ticket.number in page and "Повторить сейчас" not in page
            assert (await read(await analyst.post(f"/staff/callbacks/{cb.id}/retry"))).status == 403
        async with staff_client(url, "sv") as supervisor:
            page = await (await supervisor.get("/staff/callbacks")).text()
            assert 'data-count="unreachable">1<' in page and "Повторить сейчас" in page
            # The only decisions offered; closing without the citizen's word is not one of them.
            assert set(re.findall(rf'action="/staff/callbacks/{cb.id}/([\w-]+)"', page)) == {
                "retry",
                "to-operator",
                "unreachable",
            }
            resp = await read(await supervisor.post(f"/staff/callbacks/{cb.id}/retry"))
            assert resp.status == 303
            assert ((await only_callback(svc)).state, (await only_callback(svc)).attempts) == ("planned", 0)
            await _unreachable(svc, operator)
            resp = await read(await supervisor.post(f"/staff/callbacks/{cb.id}/unreachable"))
            assert resp.status == 303
            page = await (await supervisor.get(resp.headers["Location"])).text()
            assert "Отмечено как недозвон" in page
        assert (await only_callback(svc)).state == "given_up"
        assert (await svc.tickets.get(ticket.number)).status is Status.DONE


async def test_board_figures_charts_and_csv(services) -> None:
    async with running_app(services) as (url, svc):
        operator = await make_user(svc, "op", Role.OPERATOR)
        await make_user(svc, "sv", Role.SUPERVISOR)
        ticket = await done_ticket(svc)
        cb = await only_callback(svc)
        await svc.callbacks.service.record_operator_outcome(cb.id, operator, "satisfied")
        await done_ticket(svc, phone="+79780009999")
        async with staff_client(url, "sv") as client:
            page = await (await client.get("/staff/callbacks")).text()
            assert 'data-count="done_today">1<' in page and 'data-count="due">1<' in page
            assert "Тест op" in page and "Водоканал" in page
            assert "100%" in page  # reached and satisfied
            for svg in page.split('<svg class="chart"')[1:]:
                ET.fromstring('<svg class="chart"' + svg.split("</svg>")[0] + "</svg>")  # well-formed
            assert page.count('<svg class="chart"') == 2
            bad = await read(await client.get("/staff/callbacks?date_from=вчера"))
            assert bad.status == 200 and "Дата в виде ГГГГ-ММ-ДД" in await bad.text()
            resp = await client.get("/staff/callbacks/export.csv")
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
            assert "attachment" in resp.headers["Content-Disposition"]
            body = await resp.read()
        assert body.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
        assert rows[0][:3] == ["Обратный звонок", "Заявка", "Исполнитель"]
        by_ticket = {r[1]: r for r in rows[1:]}
        assert len(rows) == 3
        confirmed = by_ticket[ticket.number]
        assert confirmed[3] == svc.reference.category(ticket.category).name  # the Russian name, not the code
        assert confirmed[5:8] == ["Завершён", "Доволен выполнением", "Оператор"]
        assert confirmed[13] == "Тест op"
