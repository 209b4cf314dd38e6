"""The operator's screen pop says when the caller's known address is inside an active incident
(a fake Asterisk replaying a real queue call into the full app, as tests/integration/test_telephony_calls.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from callcenter.config import Settings
from callcenter.domain.incidents import Area, StreetPart, parse_houses
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.incidents.service import IncidentInput
from callcenter.telephony.wiring import TELEPHONY
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.integration.test_telephony_calls import split_at, the_call
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import OP1, TRACE_CALLER, make_user, signed_in, telephony_settings

ACTOR = Actor(role=Role.OPERATOR, name="Оператор")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def settings(database_url, tmp_path, fake) -> Settings:
    return telephony_settings(database_url, tmp_path, fake)


@pytest.mark.parametrize("inside", [True, False])
async def test_pop_names_the_incident_at_the_callers_address(
    live_server: LiveServer, fake: FakeAmi, inside: bool
) -> None:
    services = live_server.services
    live = live_server.app[TELEPHONY].live
    await live.directory.refresh()
    assert await live.link.wait_connected(5)
    await fake.wait_for(lambda: fake.count("QueueStatus") >= 1)
    op1 = await make_user(services, "op1", device=OP1)
    await live.directory.refresh()
    await services.tickets.create(
        NewTicket(
            channel=Channel.WEB, phone=TRACE_CALLER, category="no_water", title="Нет воды", address="ул. Ленина, 5"
        ),
        ACTOR,
    )
    service = services.incidents.service
    made = await service.create(
        IncidentInput(
            category="no_water",
            title="Порыв на Ленина",
            area=Area(streets=(StreetPart("улица Ленина", parse_houses("1-15" if inside else "20-30")),)),
            expected_at=service.now() + timedelta(hours=2),
        ),
        Actor(role=Role.SUPERVISOR, name="Руководитель"),
    )
    head, _tail = split_at(the_call(), "AgentCalled")
    async with signed_in(live_server.url, "op1") as one, one.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(head)
        pop = await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("complete"))
    assert pop["user_id"] == op1.id
    if inside:
        [note] = pop["incidents"]
        assert note["id"] == made.id and note["master_number"] == made.master_number
        assert note["address"] == "ул. Ленина, 5" and "улица Ленина" in note["area"]
    else:
        assert pop["incidents"] == []
