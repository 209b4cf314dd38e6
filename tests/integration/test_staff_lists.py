"""The operators' board, the executors' queue, the archive, live row fragments and the CSV export."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.tickets.service import TicketService
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, leak, make_user, new_ticket, staff_client

EXECUTOR = Actor(role=Role.EXECUTOR, name="Водоканал", department="vodokanal")


def numbers_in(body: str) -> list[str]:
    return re.findall(r'<tr id="t-(\d+)"', body)


def row_of(body: str, number: str) -> str:
    return re.search(rf'<tr id="t-{number}"[^>]*>', body).group(0)


async def test_one_list_of_every_channel_newest_first(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    made = [await new_ticket(services, channel=channel) for channel in Channel]
    async with staff_client(live_server.url, "anna") as client:
        body = await (await client.get("/staff/")).text()
    assert numbers_in(body) == [t.number for t in reversed(made)]
    for label in ("Телефон", "Голосовое сообщение", "Портал", "Open311"):
        assert f">{label}</span>" in body


async def test_filters_each_narrow_the_list(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    leak1 = await new_ticket(services, channel=Channel.PHONE, district="Ленинский")
    pothole = await new_ticket(
        services,
        category="road_pothole",
        description="Огромная яма на проезжей части",
        channel=Channel.WEB,
        phone="+79780000001",
        district="Гагаринский",
    )
    await services.tickets.move(pothole.number, Status.DISPATCHED, OPERATOR_ACTOR)
    checks = {
        "status=dispatched": [pothole],
        "status=new": [leak1],
        "category=water_leak": [leak1],
        f"department={pothole.department}": [pothole],
        "channel=web": [pothole],
        "district=Гагаринский": [pothole],
        "phone=8+978+000-00-01": [pothole],
        "q=ямы": [pothole],
        "q=протечки+трубы": [],
        "q=затопило+подвал": [leak1],
        f"q={leak1.number}": [leak1],
        f"date_from={datetime.now(UTC).date():%d.%m.%Y}": [pothole, leak1],
        "date_to=2001-01-01": [],
    }
    async with staff_client(live_server.url, "anna") as client:
        for query, expected in checks.items():
            body = await (await client.get("/staff/?" + query)).text()
            assert numbers_in(body) == [t.number for t in expected], query


async def test_bad_filters_are_named_and_kept(live_server: LiveServer) -> None:
    await make_user(live_server.services, "anna", Role.OPERATOR)
    async with staff_client(live_server.url, "anna") as client:
        resp = await client.get("/staff/?date_from=31.02.2026&date_to=01.01.2026x&phone=123&category=nope&status=zzz")
        body = html.unescape(await resp.text())
    assert resp.status == 422
    assert 'value="31.02.2026"' in body and "Укажите дату как ДД.ММ.ГГГГ" in body
    assert "Номер телефона «123» не распознан" in body and "Такой категории нет" in body
    assert "Выберите статус из списка" in body


async def test_keyset_pages_neither_skip_nor_repeat(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    made = [await new_ticket(services) for _ in range(57)]
    seen: list[str] = []
    async with staff_client(live_server.url, "anna") as client:
        path = "/staff/?category=water_leak"
        while path:
            body = html.unescape(await (await client.get(path)).text())
            seen += numbers_in(body)
            more = re.search(r'href="\?([^"]*before=\d+[^"]*)">Более ранние', body)
            path = "/staff/?" + more.group(1) if more else ""
    assert seen == [t.number for t in reversed(made)]


async def test_done_is_green_and_past_target_is_red(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    past = datetime.now(UTC) - timedelta(minutes=5)
    old_service = TicketService(services.sessions, services.hub, clock=lambda: past)
    late = await old_service.create(leak(), OPERATOR_ACTOR)  # new for 5 minutes: dispatch target is 1
    fresh = await new_ticket(services)
    done = await new_ticket(services)
    for to, note in ((Status.DISPATCHED, None), (Status.IN_PROGRESS, None), (Status.DONE, "Сделано")):
        await services.tickets.move(
            done.number, to, EXECUTOR if to is not Status.DISPATCHED else OPERATOR_ACTOR, note=note
        )
    async with staff_client(live_server.url, "anna") as client:
        body = await (await client.get("/staff/")).text()
    assert "overdue" in row_of(body, late.number) and 'data-limit="60"' in row_of(body, late.number)
    assert "overdue" not in row_of(body, fresh.number)
    assert "status-done" in row_of(body, done.number) and "overdue" not in row_of(body, done.number)
    assert re.search(rf'id="t-{late.number}".*?class="timer" data-since="{re.escape(past.isoformat())}"', body, re.S)


async def test_a_row_fragment_follows_the_lists_filters(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    ticket = await new_ticket(services)
    async with staff_client(live_server.url, "anna") as client:
        row = await client.get(f"/staff/tickets/{ticket.number}/row?view=board&status=new")
        assert row.status == 200 and (await row.text()).lstrip().startswith(f'<tr id="t-{ticket.number}"')
        await services.tickets.move(ticket.number, Status.DISPATCHED, OPERATOR_ACTOR)
        gone = await client.get(f"/staff/tickets/{ticket.number}/row?view=board&status=new")
        assert gone.status == 204
        searched = await client.get(f"/staff/tickets/{ticket.number}/row?view=board&q=яма")
        assert searched.status == 204
        assert (await client.get(f"/staff/tickets/{ticket.number}/row?view=board&q=вода")).status == 200


async def test_the_queue_holds_only_dispatched_work_of_the_department(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "vera", Role.EXECUTOR, department="vodokanal")
    await make_user(services, "sveta", Role.SUPERVISOR)
    waiting = await new_ticket(services)
    await services.tickets.move(waiting.number, Status.DISPATCHED, OPERATOR_ACTOR)
    not_yet = await new_ticket(services)  # new: the operator has not dispatched it
    other = await new_ticket(services, category="road_pothole", description="яма")
    await services.tickets.move(other.number, Status.DISPATCHED, OPERATOR_ACTOR)
    async with staff_client(live_server.url, "vera") as vera:
        body = await (await vera.get("/staff/queue?department=" + other.department)).text()
        assert numbers_in(body) == [waiting.number]
        assert "ГУПС «Водоканал»" in body
    async with staff_client(live_server.url, "sveta") as sveta:
        prompt = await (await sveta.get("/staff/queue")).text()
        assert "Выберите подразделение" in prompt and not numbers_in(prompt)
        theirs = await (await sveta.get("/staff/queue?department=" + other.department)).text()
        assert numbers_in(theirs) == [other.number]
    assert not_yet.status is Status.NEW


async def test_the_archive_lists_finished_tickets_read_only(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "anna", Role.OPERATOR)
    open_one = await new_ticket(services)
    rejected = await new_ticket(services, description="Шумят соседи сверху")
    await services.tickets.move(rejected.number, Status.REJECTED, OPERATOR_ACTOR, note="Не компетенция службы")
    async with staff_client(live_server.url, "anna") as client:
        body = await (await client.get("/staff/archive")).text()
        assert numbers_in(body) == [rejected.number] and open_one.number not in body
        assert '<form method="post"' not in body.split("<table", 1)[1]
        assert numbers_in(await (await client.get("/staff/archive?q=соседи")).text()) == [rejected.number]
        assert numbers_in(await (await client.get("/staff/archive?q=яма")).text()) == []


async def test_csv_export_streams_the_filtered_list(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "sveta", Role.SUPERVISOR)
    tricky = await new_ticket(services, description='=HYPERLINK("http://x")', citizen_name="Ольга; «Кавычки»")
    pothole = await new_ticket(services, category="road_pothole", description="Яма")
    async with staff_client(live_server.url, "sveta") as client:
        resp = await client.get("/staff/export.csv?category=water_leak")
        raw = await resp.read()
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert "attachment" in resp.headers["Content-Disposition"]
        bad = await client.get("/staff/export.csv?date_from=вчера")
        assert bad.status == 422 and "Укажите дату как ДД.ММ.ГГГГ" in await bad.text()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Номер", "Создана", "Канал", "Статус"]
    assert [r[0] for r in rows[1:]] == [tricky.number]
    assert rows[1][9] == "Ольга; «Кавычки»" and rows[1][10] == '\'=HYPERLINK("http://x")'
    assert pothole.number not in raw.decode("utf-8-sig")


async def test_export_pages_through_more_than_one_chunk(live_server: LiveServer) -> None:
    live = live_server.services
    await make_user(live, "sveta", Role.SUPERVISOR)
    made = [await new_ticket(live) for _ in range(205)]
    async with staff_client(live_server.url, "sveta") as client:
        text = (await (await client.get("/staff/export.csv")).read()).decode("utf-8-sig")
    numbers = [r[0] for r in csv.reader(io.StringIO(text), delimiter=";")][1:]
    assert numbers == [t.number for t in reversed(made)]
