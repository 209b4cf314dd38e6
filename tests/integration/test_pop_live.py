"""The live transcript in the screen pop: the recorded queue call replayed by the fake AMI, and
``voice_live`` messages (what the AudioSocket feature publishes while a caller speaks) for the
call's IVR leg. The ringing operator's socket gets them until the answer; nobody else does."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.integration.test_telephony_calls import fake, server, settings, split_at, the_call  # noqa: F401
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import IVR_LEG, OP1, OP2, QUEUE_CALL, TRACE_CALLER, make_user, signed_in


def voice(text: str, *, final: bool = False, uniqueid: str = IVR_LEG) -> dict[str, Any]:
    return {
        "type": "voice_live",
        "call_uniqueid": uniqueid,
        "phone": TRACE_CALLER,
        "kind": "ivr",
        "text": text,
        "final": final,
        "audio_seconds": 3.0,
        "suggestion": {
            "category": "water_leak",
            "category_name": "Протечка",
            "address": "ул. Ленина, д. 5",
            "house": "5",
            "flat": None,
            "lat": 44.6,
            "lon": 33.5,
            "confidence": 0.8,
        },
        "nearby": NEARBY if final else [],
    }


# An open ticket at the suggested place, as the live transcript's duplicates search lists it.
NEARBY = [
    {
        "number": "2600001",
        "url": "/staff/tickets/2600001",
        "category": "water_leak",
        "category_name": "Протечка",
        "address": "ул. Ленина, д. 5",
        "status": "new",
        "status_label": "Новая",
        "distance_m": 0,
        "same_address": True,
    }
]


async def test_ringing_operator_sees_the_transcript_live_until_answer(server: LiveServer, fake: FakeAmi) -> None:  # noqa: F811
    services = server.services
    await make_user(services, "op1", device=OP1)
    await make_user(services, "op2", device=OP2)
    services.hub.publish(voice("на улице ленина"))  # said before the queue: the pop starts with it
    head, tail = split_at(the_call(), "AgentCalled")
    async with (
        signed_in(server.url, "op1") as one,
        signed_in(server.url, "op2") as two,
        one.socket() as inbox1,
        two.socket() as inbox2,
    ):
        await inbox1.wait_for(lambda m: m["type"] == "hello")
        await inbox2.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(head)  # up to the ring, before the answer
        first = await inbox1.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ringing")
        assert first["live"]["text"] == "на улице ленина" and first["live"]["suggestion"]["category"] == "water_leak"
        assert first["live"]["nearby"] == []
        services.hub.publish(voice("на улице ленина дом пять течёт вода", final=True))
        update = await inbox1.wait_for(lambda m: m["type"] == "pop" and m.get("update") == "live")
        assert update["linkedid"] == QUEUE_CALL and update["state"] == "ringing"
        assert update["live"] == {
            "text": "на улице ленина дом пять течёт вода",
            "final": True,
            "audio_seconds": 3.0,
            "suggestion": voice("")["suggestion"],
            "nearby": NEARBY,
        }
        services.hub.publish(voice("другой звонок", uniqueid="not-this-call.1"))  # someone else's words
        await fake.send_frames(tail)  # answered, then over
        await inbox1.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ended")
        services.hub.publish(voice("после ответа"))  # too late: the operator is talking
        marker = await _marker(server)  # a ticket message to all: everything before it has arrived
        await inbox1.wait_for(lambda m: m["type"] == "ticket" and m.get("number") == marker)
        await inbox2.wait_for(lambda m: m["type"] == "ticket" and m.get("number") == marker)
    updates = [m["live"]["text"] for m in inbox1.of_type("pop") if m.get("update") == "live"]
    assert updates == ["на улице ленина дом пять течёт вода"]
    assert inbox2.of_type("pop") == []


async def _marker(server: LiveServer) -> str:
    from callcenter.domain.tickets import Actor, Channel, Role
    from callcenter.tickets.schemas import NewTicket

    view = await server.services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=None, category="other", description="метка", address="—"),
        Actor(role=Role.OPERATOR, name="тест"),
    )
    return view.number
