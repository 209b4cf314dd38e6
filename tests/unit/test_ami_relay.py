"""AMI actions relayed from a follower instance to the leader over the event hub (telephony/relay.py).

The two instances share one hub here (the PostgreSQL bridge's part is tested in
tests/integration/test_pg_hub_bridge*.py and, with two processes and the real Asterisk, in
tests/asterisk/test_instances.py); the links are stand-ins that record what they were asked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callcenter.domain.calls import OriginateOutcome, OriginateResult
from callcenter.events import EventHub
from callcenter.telephony.ami_link import ActionResult, LinkState
from callcenter.telephony.ami_protocol import AmiNotConnected
from callcenter.telephony.originate import click_to_call
from callcenter.telephony.relay import REQUEST, AmiActions


class Link:
    def __init__(self, state: LinkState) -> None:
        self.state = state
        self.originated: list[Any] = []
        self.actions: list[Any] = []

    async def originate(self, request: Any, *, timeout: float | None = None) -> OriginateResult:
        self.originated.append(request)
        return OriginateResult(request.request_id, OriginateOutcome.ANSWERED, uniqueid="1795979627.5", detail="ok")

    async def send_action(self, fields: Any, *, timeout: float | None = None) -> ActionResult:
        self.actions.append(dict(fields))
        return ActionResult(response={"Response": "Error", "Message": "Interface not found"})


def request() -> Any:
    return click_to_call(
        "c2c-0123456789abcdef0123",
        operator_interface="PJSIP/op1",
        citizen_number="+79780001122",
        dial_context="outbound",
        ticket_id="2600001",
    )


async def test_a_follower_originate_is_dialled_once_by_the_leader_and_the_result_comes_back() -> None:
    hub = EventHub()
    leader_link, follower_link = Link(LinkState.CONNECTED), Link(LinkState.DISCONNECTED)
    leader = AmiActions(leader_link, hub, relay=True)  # type: ignore[arg-type]
    follower = AmiActions(follower_link, hub, relay=True)  # type: ignore[arg-type]
    await leader.start()
    await follower.start()
    try:
        assert follower.state is LinkState.CONNECTED  # it may act: through the leader
        result = await follower.originate(request())
        assert result.outcome is OriginateOutcome.ANSWERED and result.uniqueid == "1795979627.5"
        assert result.request_id == "c2c-0123456789abcdef0123"
        assert len(leader_link.originated) == 1 and follower_link.originated == []
        assert leader_link.originated[0] == request()  # the same request, checked again by the leader
        pause = await follower.send_action({"Action": "QueuePause", "Interface": "PJSIP/op9", "Paused": "true"})
        assert not pause.ok and pause.message == "Interface not found"
        assert leader_link.actions == [{"Action": "QueuePause", "Interface": "PJSIP/op9", "Paused": "true"}]
        assert (follower.relayed, leader.served) == (2, 2)
    finally:
        await follower.close()
        await leader.close()


async def test_with_no_leader_nothing_is_dialled_and_the_caller_is_told_so() -> None:
    hub = EventHub()
    follower = AmiActions(Link(LinkState.DISCONNECTED), hub, relay=True, accept_timeout=0.2)  # type: ignore[arg-type]
    await follower.start()
    try:
        result = await follower.originate(request())
        assert result.outcome is OriginateOutcome.NOT_SENT
        with pytest.raises(AmiNotConnected):
            await follower.send_action({"Action": "QueuePause", "Interface": "PJSIP/op1", "Paused": "false"})
    finally:
        await follower.close()


async def test_a_request_past_its_deadline_is_refused_by_the_leader() -> None:
    hub = EventHub()
    link = Link(LinkState.CONNECTED)
    leader = AmiActions(link, hub, relay=True, clock=lambda: 2000.0)  # type: ignore[arg-type]
    await leader.start()
    try:
        fields = {"request_id": "c2c-0123456789abcdef0123", "channel": "PJSIP/op1", "context": "outbound"}
        hub.publish({"type": REQUEST, "id": "late", "op": "originate", "deadline": 1999.0, "request": fields})
        hub.publish({"type": REQUEST, "id": "bad", "op": "originate", "deadline": "soon", "request": fields})
        await asyncio.sleep(0.05)
        assert link.originated == [] and leader.served == 0
    finally:
        await leader.close()


async def test_a_malformed_request_gets_an_error_not_a_call() -> None:
    hub = EventHub()
    link = Link(LinkState.CONNECTED)
    leader = AmiActions(link, hub, relay=True)  # type: ignore[arg-type]
    replies = hub.subscribe(accepts=lambda m: m.get("type") == "ami_relay_reply")
    await leader.start()
    try:
        bad = {
            "request_id": "c2c-0123456789abcdef0123",
            "channel": "PJSIP/op1\r\nAction: Logoff",
            "context": "x",
            "exten": "1",
        }
        hub.publish({"type": REQUEST, "id": "evil", "op": "originate", "deadline": 9e18, "request": bad})
        accepted, done = await replies.get(), await asyncio.wait_for(replies.get(), 2)
        assert accepted["phase"] == "accepted" and "error" in done["result"] and link.originated == []
    finally:
        replies.close()
        await leader.close()


async def test_one_instance_uses_its_own_link_and_no_relay() -> None:
    hub = EventHub()
    link = Link(LinkState.DISCONNECTED)
    alone = AmiActions(link, hub, relay=False)  # type: ignore[arg-type]
    await alone.start()
    assert alone.state is LinkState.DISCONNECTED
    await alone.originate(request())
    assert len(link.originated) == 1 and alone.relayed == 0  # the link answers NOT_SENT itself
    await alone.close()
