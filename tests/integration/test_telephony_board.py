"""The supervisors' live calls board: access, live state over /ws, missed calls to call back."""

from __future__ import annotations

import time

import pytest

from callcenter.domain.tickets import Role
from callcenter.telephony.wiring import TELEPHONY
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi, frame_get
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    OP1,
    QUEUE_CALL,
    TRACE_CALLER,
    clone_call,
    connected,
    fake,
    index_of,
    make_user,
    queue_events,
    settings,
    signed_in,
    stamp,
    varset_after,
)


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    await connected(live_server, fake)
    await make_user(live_server.services, "boss", role=Role.SUPERVISOR)
    return live_server


def abandoned_call(events: list) -> list:
    """The recorded call, but the caller gives up while op1's phone rings (QueueCallerAbandon)."""
    head = events[: index_of(events, "AgentCalled") + 1]
    leave = events[index_of(events, "QueueCallerLeave")]
    abandon = [(k, "QueueCallerAbandon" if k == "Event" else v) for k, v in leave]
    abandon += [("OriginalPosition", "1"), ("HoldTime", "12")]
    hangups = [
        [
            ("Event", "Hangup"),
            ("Privilege", "call,all"),
            ("Channel", frame_get(f, "Channel")),
            ("Uniqueid", frame_get(f, "Uniqueid")),
            ("Linkedid", frame_get(f, "Linkedid")),
            ("Cause", "16"),
            ("Cause-txt", "Normal Clearing"),
        ]
        for f in head
        if frame_get(f, "Event") == "Newchannel"
    ]
    return head + [abandon] + hangups[::-1]


async def test_only_supervisors_analysts_and_admins_see_the_board(server: LiveServer):
    services = server.services
    await make_user(services, "op1", device=OP1)
    await make_user(services, "analyst", role=Role.ANALYST)
    async with signed_in(server.url, "boss") as boss:
        page = await boss.page("/staff/calls")
        state = await (await boss.get("/staff/calls/state")).json()
    assert 'id="calls-state"' in page and "/static/telephony/board.js" in page and "АТС на связи" in page
    assert state["board"]["link"] == "connected"
    assert [(o["interface"], o["name"], o["state"]) for o in state["board"]["operators"]] == [
        (OP1, "Operator One", "idle")
    ]  # learnt from QueueStatus at login
    async with signed_in(server.url, "analyst") as analyst:
        assert (await analyst.get("/staff/calls")).status == 200
    async with signed_in(server.url, "op1") as op1:
        assert (await op1.get("/staff/calls")).status == 403
        assert (await op1.get("/staff/calls/state")).status == 403


async def test_queued_call_shows_its_wait_and_the_ringing_operator(server: LiveServer, fake: FakeAmi):
    events = stamp(varset_after(queue_events(), "IVR_PATH", "0>operator"), time.time() - 50)
    head = events[: index_of(events, "AgentCalled") + 1]  # joined the queue 30 s ago; op1 rings
    async with signed_in(server.url, "boss") as boss, boss.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(head)
        board = await inbox.wait_for(lambda m: m["type"] == "board" and m["queued"])
        state = await (await boss.get("/staff/calls/state")).json()
    [call] = board["queued"]
    assert call["linkedid"] == QUEUE_CALL and call["caller"] == TRACE_CALLER and call["ivr_path"] == "0>operator"
    assert call["wait_seconds"] == pytest.approx(30, abs=3)
    assert call["ringing"] == [{"interface": OP1, "name": "Operator One"}]
    assert [(o["interface"], o["state"], o["state_label"]) for o in board["operators"]] == [
        (OP1, "ringing", "звонит телефон")
    ]
    assert board["link"] == "connected" and board["in_ivr"] == [] and board["talking"] == []
    assert [c["linkedid"] for c in state["board"]["queued"]] == [QUEUE_CALL]


async def test_a_caller_who_gives_up_is_listed_until_reached(server: LiveServer, fake: FakeAmi):
    async with signed_in(server.url, "boss") as boss, boss.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(stamp(abandoned_call(queue_events()), time.time() - 300))
        missed = await inbox.wait_for(lambda m: m["type"] == "call" and m["change"] == "missed")
        await inbox.wait_for(lambda m: m["type"] == "call" and m["change"] == "ended")
        live = server.app[TELEPHONY].live
        assert await live.writer.wait_idle(10)
        before = await (await boss.get("/staff/calls/state")).json()
        # The citizen calls again a minute later and reaches an operator.
        again = clone_call(queue_events(), 7, caller=TRACE_CALLER)
        await fake.send_frames(stamp(again, time.time() - 100))
        await inbox.wait_for(
            lambda m: m["type"] == "call" and m["change"] == "ended" and m["call"]["linkedid"] != QUEUE_CALL
        )
        assert await live.writer.wait_idle(10)
        after = await (await boss.get("/staff/calls/state")).json()
    assert missed["call"]["linkedid"] == QUEUE_CALL and missed["call"]["abandoned"]
    assert [(m["linkedid"], m["caller"], m["reached_at"]) for m in before["missed"]] == [
        (QUEUE_CALL, TRACE_CALLER, None)
    ]
    assert before["missed"][0]["caller_display"] == "+7 978 000-33-30"
    [reached] = after["missed"]
    assert reached["linkedid"] == QUEUE_CALL and reached["reached_at"] is not None
    row = await server.app[TELEPHONY].calls.get(QUEUE_CALL)
    assert row.abandoned and row.data["needs_callback"] and row.answered_at is None and row.operator_id is None
    assert len(inbox.of_type("call")) == 3  # missed once (not again at the end), two ends
