"""Screen pops in a burst: the callers' histories load in a few rounds of queries (issue 19)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from callcenter.domain.calls import CallDirection, CallPhase, CallSnapshot, OperatorRinging
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.services import Services
from callcenter.telephony.board_messages import CallWording
from callcenter.telephony.pops import HISTORY_BATCH, PopService
from callcenter.tickets.schemas import NewTicket

ACTOR = Actor(role=Role.OPERATOR, name="Оператор из теста")


def phone(i: int) -> str:
    return f"+7978{600_0000 + i:07d}"


async def earlier(services: Services, number: str, count: int) -> list[str]:
    made = []
    for k in range(count):
        view = await services.tickets.create(
            NewTicket(
                channel=Channel.WEB if k % 2 else Channel.PHONE,
                phone=number,
                category="no_water",
                title=f"Нет воды {k}",
                description="Третий день",
                address="ул. Ленина, 5",
            ),
            ACTOR,
        )
        made.append(view.number)
    return made


async def test_tickets_for_phones_newest_first_limited_and_keyed_as_given(services: Services) -> None:
    many = await earlier(services, phone(1), 7)
    two = await earlier(services, phone(2), 2)
    national = "8" + phone(2)[2:]  # the same caller written the Russian way
    found = await services.tickets.tickets_for_phones([phone(1), national, phone(3)], limit=5)
    assert [t.number for t in found[phone(1)]] == many[::-1][:5]
    assert [t.number for t in found[national]] == two[::-1]
    assert found[phone(3)] == []
    single = await services.tickets.tickets_for_phone(phone(1), limit=5)
    assert [t.number for t in single] == [t.number for t in found[phone(1)]]  # the same answer as one by one


class CountingTickets:
    """The real service, counting the batched loads."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.batches: list[int] = []

    async def tickets_for_phones(self, phones: list[str], *, limit: int = 20) -> Any:
        self.batches.append(len(phones))
        return await self.real.tickets_for_phones(phones, limit=limit)

    async def get(self, number: str) -> Any:
        return await self.real.get(number)


class Directory:
    def cached(self, interface: str) -> tuple[bool, Any]:
        return True, SimpleNamespace(id=int(interface.rsplit("/", 1)[1]))


def ring(i: int) -> OperatorRinging:
    call = CallSnapshot(
        linkedid=f"burst-{i}",
        direction=CallDirection.INBOUND,
        phase=CallPhase.QUEUED,
        caller=phone(i),
        caller_raw=phone(i),
        caller_name=None,
        arrived_at=datetime.now(UTC),
        ivr_path="1>no_water",
        queue="hotline",
    )
    return OperatorRinging(call=call, interface=f"PJSIP/{i}", member_name=f"op{i}", caller=phone(i))


async def test_a_burst_of_rings_loads_histories_in_batches_after_every_first_frame(services: Services) -> None:
    callers = HISTORY_BATCH + 10
    for i in range(0, callers, 7):
        await earlier(services, phone(i), 1)
    tickets = CountingTickets(services.tickets)
    pops = PopService(services.hub, tickets, Directory(), services.reference, CallWording(services.reference))  # type: ignore[arg-type]
    with services.hub.subscribe() as sub:
        for i in range(callers):
            pops.ringing(ring(i))
        first = [sub.queue.get_nowait() for _ in range(callers)]  # all sent in the ring's own turn
        assert [m["complete"] for m in first] == [False] * callers
        assert tickets.batches == []  # no history query ran before the first frames left
        complete = [await asyncio.wait_for(sub.get(), 10) for _ in range(callers)]
    assert tickets.batches == [HISTORY_BATCH, 10]
    assert all(m["complete"] for m in complete)
    by_call = {m["linkedid"]: m for m in complete}
    assert [len(by_call[f"burst-{i}"]["tickets"]) for i in range(callers)] == [
        1 if i % 7 == 0 else 0 for i in range(callers)
    ]
    assert by_call["burst-7"]["tickets"][0]["title"] == "Нет воды 0"
    await pops.close()
