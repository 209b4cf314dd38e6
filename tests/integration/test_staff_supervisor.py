"""The supervisors' board: counts, breached targets, server-side SVG charts, medians, bounded periods."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

from callcenter.domain.tickets import Channel, Role, Status
from callcenter.services import Services
from callcenter.staff.stats import BoardStats
from callcenter.staff.targets import TargetBook
from callcenter.tickets.service import TicketService
from callcenter.web.svg_charts import horizontal_bars, human_duration, nice_max, stacked_days
from tests.conftest import LiveServer
from tests.integration.test_staff_support import OPERATOR_ACTOR, leak, make_user, new_ticket, staff_client


def counts_row(body: str, label: str) -> list[int]:
    row = re.search(rf"<tr class=\"status-\w+\"><td>{label}</td>(.*?)</tr>", body, re.S).group(1)
    return [int(n) for n in re.findall(r'<td class="n">(?:<strong>)?(\d+)', row)]


def stats_for(services: Services) -> BoardStats:
    targets = TargetBook(services.reference, services.settings.dispatch_target_seconds)
    return BoardStats(services.sessions, targets, services.settings.zone, cache_seconds=0)


async def test_counts_by_status_and_channel_refresh_without_a_cache(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "sveta", Role.SUPERVISOR)
    await new_ticket(services, channel=Channel.PHONE)
    await new_ticket(services, channel=Channel.WEB)
    dispatched = await new_ticket(services, channel=Channel.WEB)
    await services.tickets.move(dispatched.number, Status.DISPATCHED, OPERATOR_ACTOR)
    async with staff_client(live_server.url, "sveta") as client:
        body = await (await client.get("/staff/board")).text()
        assert counts_row(body, "Новая") == [1, 0, 1, 0, 2]
        assert counts_row(body, "Направлена исполнителю") == [0, 0, 1, 0, 1]
        await new_ticket(services, channel=Channel.OPEN311)
        fragment = await (await client.get("/staff/board/counts")).text()
        assert counts_row(fragment, "Новая") == [1, 0, 1, 1, 3]


async def test_breaches_list_what_waits_past_its_target(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "sveta", Role.SUPERVISOR)
    clock = [datetime.now(UTC) - timedelta(minutes=30)]
    past = TicketService(services.sessions, services.hub, clock=lambda: clock[0])
    waiting_dispatch = await past.create(leak(), OPERATOR_ACTOR)  # new for 30 min (target 1 min)
    slow_accept = await past.create(leak(), OPERATOR_ACTOR)
    clock[0] += timedelta(minutes=5)
    await past.move(slow_accept.number, Status.DISPATCHED, OPERATOR_ACTOR)  # dispatched 25 min ago (target 10)
    patient = await past.create(leak(category="low_water_pressure"), OPERATOR_ACTOR)
    await past.move(patient.number, Status.DISPATCHED, OPERATOR_ACTOR)  # 25 min, target 60: fine
    fresh = await new_ticket(services)
    async with staff_client(live_server.url, "sveta") as client:
        body = html.unescape(await (await client.get("/staff/board")).text())
    breaches = body.split("Нарушены сроки", 1)[1].split("</section>", 1)[0]
    listed = re.findall(r'href="/staff/tickets/(\d+)"', breaches)
    assert listed == [waiting_dispatch.number, slow_accept.number]  # the longest overdue first
    assert patient.number not in listed and fresh.number not in listed
    assert '<span class="count-pill bad">2</span>' in breaches and "10 мин" in breaches


async def test_charts_are_server_side_svg_with_exact_figures(live_server: LiveServer) -> None:
    services = live_server.services
    await make_user(services, "ada", Role.ANALYST)
    for channel in (Channel.PHONE, Channel.PHONE, Channel.WEB):
        await new_ticket(services, channel=channel)
    today = datetime.now(services.settings.zone)
    async with staff_client(live_server.url, "ada") as client:
        body = html.unescape(await (await client.get("/staff/board")).text())
    assert body.count("<svg") >= 6 and '<script src="http' not in body
    assert f"{today:%d.%m}: Телефон — 2" in body and f"{today:%d.%m}: Портал — 1" in body
    assert f"{today:%d.%m}: Водоснабжение и канализация — 3" in body
    assert "Порыв водопровода: 3" in body


async def test_medians_per_department_and_stage(services: Services) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    clock = [start]
    tickets = TicketService(services.sessions, services.hub, clock=lambda: clock[0])
    for delay in (60, 600, 120):
        clock[0] = start
        view = await tickets.create(leak(), OPERATOR_ACTOR)
        clock[0] = start + timedelta(seconds=delay)
        await tickets.move(view.number, Status.DISPATCHED, OPERATOR_ACTOR)
    stats = stats_for(services)
    medians = await stats.medians(stats.period(None, None))
    found = {(m.department, m.stage): (round(m.seconds), m.tickets) for m in medians}
    assert found == {("vodokanal", Status.DISPATCHED): (120, 3)}


async def test_medians_take_the_middle_pair_the_first_reach_and_skip_other_periods(services: Services) -> None:
    """An even count averages the middle two; a later stage counts from creation; a period with
    no tickets gives no medians (the one-pass query over the period's id range, issue 19)."""
    start = datetime.now(UTC) - timedelta(hours=3)
    clock = [start]
    tickets = TicketService(services.sessions, services.hub, clock=lambda: clock[0])
    for delay in (60, 600, 120, 300):
        clock[0] = start
        view = await tickets.create(leak(), OPERATOR_ACTOR)
        clock[0] = start + timedelta(seconds=delay)
        await tickets.move(view.number, Status.DISPATCHED, OPERATOR_ACTOR)
        clock[0] = start + timedelta(seconds=delay + 1000)
        await tickets.move(view.number, Status.IN_PROGRESS, OPERATOR_ACTOR)
    stats = stats_for(services)
    medians = await stats.medians(stats.period(None, None))
    found = {(m.department, m.stage): (round(m.seconds), m.tickets, m.sampled) for m in medians}
    assert found == {
        ("vodokanal", Status.DISPATCHED): (210, 4, False),
        ("vodokanal", Status.IN_PROGRESS): (1210, 4, False),
    }
    long_ago = date.today() - timedelta(days=300)
    assert await stats.medians(stats.period(long_ago - timedelta(days=6), long_ago)) == []


async def test_the_duplicates_lookup_seeks_the_partial_index(services: Services) -> None:
    """Migration 0013: with every duplicate_of_id NULL the planner still seeks, never scans."""
    from sqlalchemy import text

    tickets = TicketService(services.sessions, services.hub)
    for _ in range(30):
        await tickets.create(leak(), OPERATOR_ACTOR)
    async with services.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
        if services.engine.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1])
                for row in await conn.execute(
                    text("EXPLAIN QUERY PLAN SELECT number FROM tickets WHERE duplicate_of_id = :i"), {"i": 1}
                )
            )
            assert "ix_tickets_duplicates" in plan, plan
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))  # 30 rows: a scan would win on cost
            plan = " ".join(
                str(row[0])
                for row in await conn.execute(
                    text("EXPLAIN SELECT number FROM tickets WHERE duplicate_of_id = :i"), {"i": 1}
                )
            )
            assert "ix_tickets_duplicates" in plan, plan
        indexes = {
            str(name)
            for (name,) in await conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
                    if services.engine.dialect.name == "sqlite"
                    else "SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'"
                )
            )
        }
        assert "ix_tickets_duplicate_of" not in indexes  # the full index is gone


async def test_the_period_is_bounded_and_bad_dates_are_named(live_server: LiveServer) -> None:
    services = live_server.services
    stats = stats_for(services)
    period = stats.period(date(2001, 1, 1), None)
    assert (period.end - period.start).days == 365
    await make_user(services, "sveta", Role.SUPERVISOR)
    async with staff_client(live_server.url, "sveta") as client:
        resp = await client.get("/staff/board?date_from=32.01.2026")
        body = html.unescape(await resp.text())
    assert resp.status == 422 and 'value="32.01.2026"' in body and "Укажите дату как ДД.ММ.ГГГГ" in body


def test_chart_helpers_scale_escape_and_speak_russian() -> None:
    assert [nice_max(v) for v in (0, 3, 7, 12, 55, 99, 101)] == [1.0, 3, 8, 15, 60, 100, 150]
    svg = stacked_days(
        [date(2026, 3, 1), date(2026, 3, 2)],
        {"a": [1, 3], "b": [0, 1]},
        {"a": "<Телефон>", "b": "Портал"},
        title="Заявки & каналы",
    )
    assert "&lt;Телефон&gt;" in svg and "<Телефон>" not in svg and "Заявки &amp; каналы" in svg
    assert svg.count("<rect") == 3 + 2  # three bars, two legend swatches
    bars = horizontal_bars([("ГУПС «Водоканал»", 90.0, "1 мин")], title="t")
    assert "ГУПС «Водоканал»: 1 мин" in bars
    assert [human_duration(s) for s in (42, 600, 7500, 200000)] == ["42 с", "10 мин", "2 ч 5 мин", "2 дн 7 ч"]
