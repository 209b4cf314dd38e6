"""The full app fed by a fake Asterisk replaying a real queue call: rows, pops, health, failures.

The fake (tests/protocol/fake_ami.py) replays tests/fixtures/asterisk-traces/ami-queue-operator.txt
through a real socket into the app's AMI link; operators sign in through the login form
and listen on the real /ws. Events carry Timestamps as with ``timestampevents = yes``:
20 s in the IVR, 12 s in the queue, 60 s of talk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import aiosqlite
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from callcenter.config import Settings
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.store.db import sqlite_file
from callcenter.telephony.wiring import TELEPHONY
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (
    IVR_LEG,
    OP1,
    OP2,
    QUEUE_CALL,
    TRACE_CALLER,
    HubWatch,
    index_of,
    make_user,
    queue_events,
    signed_in,
    stamp,
    telephony_settings,
    varset_after,
)

ACTOR = Actor(role=Role.OPERATOR, name="Оператор из теста")
IVR_ACTOR = Actor(role=Role.OPERATOR, name="IVR")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def settings(database_url, tmp_path, fake) -> Settings:
    """The conftest's live_server runs the full app with these: AMI at the fake."""
    return telephony_settings(database_url, tmp_path, fake)


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    """The live server once its AMI link has logged in and listed the (empty) state."""
    live = live_server.app[TELEPHONY].live
    # On PostgreSQL live_server empties the tables after the app started: devices the
    # directory loaded then belong to users of an earlier test.
    await live.directory.refresh()
    link = live.link
    assert await link.wait_connected(5)
    await fake.wait_for(lambda: fake.count("QueueStatus") >= 1)
    return live_server


def the_call(path: str = "1>water_leak>record", ticket: str | None = None) -> list:
    events = varset_after(queue_events(), "IVR_PATH", path)
    if ticket:
        events = varset_after(events, "IVR_TICKET", ticket, after="IVR_PATH")
    return stamp(events, time.time() - 100)


def split_at(events: list, name: str) -> tuple[list, list]:
    cut = index_of(events, name) + 1
    return events[:cut], events[cut:]


async def history(services) -> tuple[list[str], str]:
    """Two earlier tickets of the trace's caller (portal and phone) and the IVR's draft."""
    web = await services.tickets.create(
        NewTicket(
            channel=Channel.WEB,
            phone=TRACE_CALLER,
            category="no_water",
            title="Нет воды",
            description="Третий день",
            address="ул. Ленина, 5",
            citizen_name="Мария Петрова",
        ),
        ACTOR,
    )
    phone = await services.tickets.create(
        NewTicket(
            channel=Channel.PHONE,
            phone=TRACE_CALLER,
            category="garbage",
            title="Мусор",
            description="Не вывозят",
            address="ул. Ленина, 5",
        ),
        ACTOR,
    )
    draft = await services.tickets.create(
        NewTicket(
            channel=Channel.IVR,
            phone=TRACE_CALLER,
            category="water_leak",
            title="Голосовое сообщение",
            is_draft=True,
            extra={"ivr_path": "1>water_leak>record", "call_uniqueid": IVR_LEG},
        ),
        IVR_ACTOR,
    )
    return [web.number, phone.number], draft.number


async def test_queue_call_pops_for_its_operator_only_and_is_stored(server: LiveServer, fake: FakeAmi):
    services = server.services
    op1 = await make_user(services, "op1", device=OP1, full_name="Оператор Один")
    await make_user(services, "op2", device=OP2)
    earlier, draft = await history(services)
    head, tail = split_at(the_call(), "AgentCalled")
    async with (
        signed_in(server.url, "op1") as one,
        signed_in(server.url, "op2") as two,
        one.socket() as inbox1,
        two.socket() as inbox2,
    ):
        await inbox1.wait_for(lambda m: m["type"] == "hello")
        await inbox2.wait_for(lambda m: m["type"] == "hello")
        with HubWatch(services, lambda m: m.get("type") == "call" and m["change"] == "ended") as ended:
            await fake.send_frames(head)
            pop = await inbox1.wait_for(lambda m: m["type"] == "pop" and m.get("complete"))
            await fake.send_frames(tail)
            await ended.next()
        await inbox1.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ended")
        # A ticket message goes to every operator after the pops: op2 has seen all it will get.
        await services.tickets.create(
            NewTicket(channel=Channel.PHONE, phone=None, category="other", description="метка", address="—"), ACTOR
        )
        await inbox2.wait_for(lambda m: m["type"] == "ticket")
        assert inbox2.of_type("pop") == []
    assert pop["user_id"] == op1.id and pop["linkedid"] == QUEUE_CALL and pop["interface"] == OP1
    assert pop["caller"] == TRACE_CALLER and pop["caller_display"] == "+7 978 000-33-30"
    assert pop["citizen"] == "Мария Петрова"
    assert pop["ivr_path"] == "1>water_leak>record"
    assert pop["ivr_steps"] == ["клавиша 1", services.reference.category("water_leak").name, "голосовое сообщение"]
    # The draft names the IVR leg's uniqueid (not the Linkedid): found through the call's legs.
    assert pop["draft"]["number"] == draft
    assert sorted(t["number"] for t in pop["tickets"]) == sorted(earlier)
    assert {t["channel"] for t in pop["tickets"]} == {"web", "phone"}
    assert pop["new_ticket_url"] == (f"/staff/tickets/new?phone=%2B79780003330&call={QUEUE_CALL}&category=water_leak")
    states = [m["state"] for m in inbox1.of_type("pop")]
    assert states[0] == "ringing" and "talking" in states and states[-1] == "ended" and "closed" not in states

    live = server.app[TELEPHONY].live
    assert await live.writer.wait_idle(10)
    row = await server.app[TELEPHONY].calls.get(QUEUE_CALL)
    assert (row.direction, row.caller, row.queue, row.agent_interface) == ("in", TRACE_CALLER, "hotline", OP1)
    assert row.operator_id == op1.id and row.abandoned is False
    assert row.ivr_path == "1>water_leak>record" and row.hangup_cause == "16 Normal Clearing"
    assert row.started_at < row.queued_at < row.answered_at < row.ended_at
    assert row.data["wait_seconds"] == pytest.approx(12.0, abs=0.1)
    assert row.data["talk_seconds"] == pytest.approx(60.0, abs=0.1)
    assert row.data["duration_seconds"] == pytest.approx(92.0, abs=0.2)
    assert row.ticket_id is None  # the IVR set no IVR_TICKET in this call


async def test_ticket_named_by_the_ivr_is_linked_to_the_row_and_is_the_pops_draft(server: LiveServer, fake: FakeAmi):
    services = server.services
    await make_user(services, "op1", device=OP1)
    draft = await services.tickets.create(
        NewTicket(
            channel=Channel.IVR,
            phone=TRACE_CALLER,
            category="no_heating",
            title="Голосовое сообщение",
            is_draft=True,
            extra={"call_uniqueid": "some-other-call"},
        ),
        IVR_ACTOR,
    )
    head, tail = split_at(the_call("1>no_heating>record", ticket=draft.number), "AgentCalled")
    async with signed_in(server.url, "op1") as one, one.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(head)
        pop = await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("complete"))
        assert pop["draft"]["number"] == draft.number and pop["ivr_ticket"] == draft.number
        assert pop["category"] == "no_heating" and pop["tickets"] == []
        await fake.send_frames(tail)
        await inbox.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ended")
    assert await server.app[TELEPHONY].live.writer.wait_idle(10)
    row = await server.app[TELEPHONY].calls.get(QUEUE_CALL)
    assert row.ticket_id == draft.id and row.data["ticket_number"] == draft.number


async def test_healthz_reports_the_link_and_the_board_follows_a_drop_mid_call(server: LiveServer, fake: FakeAmi):
    services = server.services
    op1 = await make_user(services, "op1", device=OP1)
    events = the_call()
    connect = index_of(events, "BridgeEnter") + 2  # both legs bridged: they talk
    async with aiohttp.ClientSession() as http:
        health = await (await http.get(server.url + "/healthz")).json()
        assert health["ami"] == "connected"
        with (
            HubWatch(services, lambda m: m.get("type") == "board" and m["link"] == "disconnected") as down,
            HubWatch(
                services,
                lambda m: (
                    m.get("type") == "board"
                    and m["link"] == "connected"
                    and any(c["linkedid"] == QUEUE_CALL for c in m["talking"])
                ),
            ) as back,
            HubWatch(services, lambda m: m.get("type") == "call" and m["change"] == "ended") as ended,
        ):
            await fake.send_frames(events[:connect])
            fake.drop()  # the network fails while the citizen talks to the operator
            await down.next()
            await fake.wait_for_logins(2)
            talking = await back.next()  # rebuilt from CoreShowChannels after the new login
            assert (await (await http.get(server.url + "/healthz")).json())["ami"] == "connected"
            await fake.send_frames(events[connect:])
            done = (await ended.next())["call"]
    assert talking["operators"][0]["state"] == "talking"
    assert done["operator_interface"] == OP1 and not done["abandoned"]
    live = server.app[TELEPHONY].live
    assert await live.writer.wait_idle(10)
    row = await server.app[TELEPHONY].calls.get(QUEUE_CALL)
    assert row.operator_id == op1.id and row.ended_at is not None and row.answered_at is not None


class DatabaseOutage:
    """Makes the app's database unusable and brings it back.

    PostgreSQL: new connections refused and the app's sessions killed (the server is
    "gone"). SQLite: another process holds the write lock (what an embedded database
    does when it is stuck); reads still work there, as they do in WAL mode.
    """

    def __init__(self, settings: Settings) -> None:
        self._url = settings.database_url
        self._lock: aiosqlite.Connection | None = None

    async def begin(self) -> None:
        path = sqlite_file(self._url)
        if path is not None:
            self._lock = await aiosqlite.connect(path)
            await self._lock.execute("BEGIN IMMEDIATE")
            return
        await self._admin(
            f'ALTER DATABASE "{self._name}" WITH ALLOW_CONNECTIONS false',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self._name}' AND pid <> pg_backend_pid()",
        )

    async def end(self) -> None:
        if self._lock is not None:
            await self._lock.rollback()
            await self._lock.close()
            self._lock = None
            return
        await self._admin(f'ALTER DATABASE "{self._name}" WITH ALLOW_CONNECTIONS true')

    @property
    def _name(self) -> str:
        return str(make_url(self._url).database)

    async def _admin(self, *statements: str) -> None:
        url = make_url(self._url).set(drivername="postgresql", database="postgres")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()


async def test_database_going_away_never_touches_the_link_and_rows_come_after(
    server: LiveServer, fake: FakeAmi, settings: Settings
):
    services = server.services
    await make_user(services, "op1", device=OP1)
    live = server.app[TELEPHONY].live
    await live.directory.refresh()  # the operator is known before the outage
    head, tail = split_at(the_call(), "AgentCalled")
    outage = DatabaseOutage(settings)
    await outage.begin()
    try:
        with (
            HubWatch(services, lambda m: m.get("type") == "call" and m["change"] == "ended") as ended,
            HubWatch(services, lambda m: m.get("type") == "pop" and m["state"] == "ringing") as ringing,
            HubWatch(services, lambda m: m.get("type") == "pop" and m["state"] == "talking") as talking,
        ):
            await fake.send_frames(head)
            await ringing.next()  # pops need no database once the operator is known
            await fake.send_frames(tail)
            await ended.next()
            await talking.next()
        assert live.writer.stats.written == 0  # the row waits in the writer's queue
        if sqlite_file(settings.database_url) is None:  # PostgreSQL refuses: the writer fails and retries
            assert await live.writer.wait_stats(lambda s: s.failures >= 2, 30)
        assert live.link.state.value == "connected" and fake.logins == 1
        assert live.feed.subscription.dropped == 0
    finally:
        await outage.end()
    assert await live.writer.wait_idle(60)
    row = await server.app[TELEPHONY].calls.get(QUEUE_CALL)
    assert row is not None and row.ended_at is not None and row.data["wait_seconds"] == pytest.approx(12.0, abs=0.1)
    assert fake.logins == 1 and live.link.state.value == "connected"


async def test_a_browser_that_stops_reading_slows_neither_others_nor_the_reader(server: LiveServer, fake: FakeAmi):
    services = server.services
    await make_user(services, "op1", device=OP1)
    await make_user(services, "boss", role=Role.SUPERVISOR)
    head, tail = split_at(the_call(), "AgentCalled")
    async with signed_in(server.url, "boss") as boss, signed_in(server.url, "op1") as one, one.socket() as inbox:
        async with boss.http.ws_connect(server.url.replace("http", "ws", 1) + "/ws") as _stuck:
            # The supervisor's browser hangs: it never reads, while 6 MB of board updates queue for it.
            for i in range(300):
                services.hub.publish({"type": "board", "filler": "x" * 20_000, "n": i})
            await fake.send_frames(head)
            pop = await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("complete"))
            await fake.send_frames(tail)
            await inbox.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ended")
            # The hung socket's queue overflowed (it lost its oldest messages), nobody else's did.
            assert max(s.dropped for s in services.hub._subscriptions) > 0
    assert pop["caller"] == TRACE_CALLER
    live = server.app[TELEPHONY].live
    assert live.feed.subscription.dropped == 0 and fake.logins == 1 and live.link.stats.dispatch_errors == 0
    assert await live.writer.wait_idle(10)
    assert (await server.app[TELEPHONY].calls.get(QUEUE_CALL)).ended_at is not None


async def test_a_ring_at_an_interface_nobody_has_pops_for_nobody(server: LiveServer, fake: FakeAmi):
    services = server.services
    await make_user(services, "op2", device=OP2)
    head, tail = split_at(the_call(), "AgentCalled")
    live = server.app[TELEPHONY].live
    async with signed_in(server.url, "op2") as two, two.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        with HubWatch(services, lambda m: m.get("type") == "call" and m["change"] == "ended") as ended:
            await fake.send_frames(head)
            await fake.send_frames(tail)
            await ended.next()
        await asyncio.wait_for(_settled(live), 10)
    assert live.pops.stats.unknown_operator == 1 and live.pops.stats.published == 0
    assert inbox.of_type("pop") == []


async def _settled(live) -> None:
    """Wait until the pop tasks finished (each is kept in the service's task set)."""
    while live.pops._tasks:
        await asyncio.gather(*live.pops._tasks, return_exceptions=True)
