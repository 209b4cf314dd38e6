"""Replay every recorded Asterisk 22 AMI trace through a real socket, the link and the tracker."""

from __future__ import annotations

import pytest
from panoramisk.message import Message

from callcenter.domain.calls import (
    CallAnswered,
    CallDirection,
    CallEnded,
    CallQueued,
    OperatorRinging,
    OperatorRingingStopped,
    OriginateOutcome,
)
from callcenter.telephony.ami_link import AmiLink, AmiSettings, LinkState, QueueSnapshot
from callcenter.telephony.ami_protocol import AmiFrameParser
from callcenter.telephony.originate import OriginateRequest
from callcenter.telephony.tracker import CallTracker
from callcenter.telephony.tracker_feed import TrackerFeed
from tests.protocol.fake_ami import FakeAmi, NoteSink, Trace, all_ami_traces, load_trace, next_item


@pytest.fixture
async def fake():
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


def settings_for(fake: FakeAmi, **overrides) -> AmiSettings:
    values = dict(
        host="127.0.0.1",
        port=fake.port,
        username="callcenter",
        secret="labsecret",
        backoff_initial=0.05,
        backoff_max=0.2,
        ping_interval=30.0,
    )
    values.update(overrides)
    return AmiSettings(**values)


@pytest.fixture
async def wired(fake):
    """A connected link with a tracker fed through TrackerFeed; notifications in a sink."""
    link = AmiLink(settings_for(fake))
    tracker = CallTracker()
    sink = NoteSink()
    feed = TrackerFeed(link, tracker, sink)
    await feed.start()
    await link.start()
    assert await link.wait_connected(5)
    # the resync after login has been applied once the tracker reports it
    await sink.wait_for(lambda n: type(n).__name__ == "BoardResynced")
    yield link, tracker, sink
    await feed.close()
    await link.close()


@pytest.mark.parametrize("path", all_ami_traces(), ids=lambda p: p.name)
async def test_every_trace_event_reaches_a_subscriber_intact(fake, path):
    trace = Trace.load(path)
    link = AmiLink(settings_for(fake))
    sub = link.subscribe()
    await link.start()
    try:
        assert await link.wait_connected(5)
        await next_item(sub, lambda i: isinstance(i, QueueSnapshot))  # login resync done
        await fake.replay(trace)
        sent = trace.events()
        received = []
        while len(received) < len(sent):
            item = await next_item(sub, lambda i: isinstance(i, dict))
            received.append(item)
        assert [r["Event"] for r in received] == [dict(f)["Event"] for f in sent]
        # every header, empty values included (panoramisk drops a trailing "Value: ")
        assert received == [_as_dict(f) for f in sent]
        assert link.state is LinkState.CONNECTED
        assert link.stats.malformed == 0
    finally:
        await link.close()


def _as_dict(frame):
    return {k: v for k, v in frame}


@pytest.mark.parametrize("path", all_ami_traces(), ids=lambda p: p.name)
def test_our_parser_agrees_with_panoramisk_on_every_recorded_frame(path):
    """panoramisk's Message.from_line as the reference, on the raw CRLF bytes of the trace."""
    trace = Trace.load(path)
    ours = AmiFrameParser().feed(trace.raw_server_bytes.split(b"\r\n", 1)[1])
    texts = trace.raw_server_bytes.split(b"\r\n", 1)[1].decode().split("\r\n\r\n")[:-1]
    theirs = [Message.from_line(text) for text in texts]
    assert len(ours) == len(theirs) > 0
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine == {k: v for k, v in ref.items() if k != "content"}


async def test_queue_call_pops_on_ringing_then_answer_and_end(fake, wired):
    _, tracker, sink = wired
    await fake.replay(load_trace("ami-queue-operator.txt"))
    ended = await sink.wait_for(lambda n: isinstance(n, CallEnded))
    kinds = [type(n) for n in sink.notes if hasattr(n, "call")]
    assert kinds.index(CallQueued) < kinds.index(OperatorRinging) < kinds.index(CallAnswered)
    ring = sink.of_type(OperatorRinging)[0]
    assert (ring.interface, ring.member_name, ring.caller) == ("Local/op1@operators/n", "Operator One", "+79780003330")
    assert ring.call.ringing[0].channel == "Local/op1@operators-00000002;1"
    stopped = sink.of_type(OperatorRingingStopped)
    assert [(s.interface, s.reason) for s in stopped] == [("Local/op1@operators/n", "answered")]
    call = ended.call
    assert call.linkedid == "1795979524.2"
    assert call.direction is CallDirection.INBOUND
    assert call.caller == "+79780003330" and call.caller_name == "Citizen Two"
    assert call.ivr_route == "operator" and call.queue == "hotline"
    assert call.answered_by == "Local/op1@operators/n" and call.answered_by_name == "Operator One"
    assert call.hangup_cause == 16 and call.hangup_cause_text == "Normal Clearing"
    assert call.queue_wait_seconds is not None and call.duration_seconds is not None
    assert not call.abandoned and not call.needs_callback
    assert [r.interface for r in call.rang] == ["Local/op1@operators/n"]
    assert tracker.live_calls() == ()


async def test_ivr_report_call_keeps_its_ivr_path(fake, wired):
    _, _, sink = wired
    await fake.replay(load_trace("ami-ivr-report.txt"))
    call = (await sink.wait_for(lambda n: isinstance(n, CallEnded))).call
    assert call.caller == "+79780001122"
    assert call.ivr_choices == ("1",) and call.ivr_route == "done"
    assert call.queue is None and call.rang == () and not call.abandoned
    assert sink.of_type(OperatorRinging) == []


async def test_early_hangup_ends_the_call_only_when_every_leg_is_gone(fake, wired):
    _, _, sink = wired
    trace = load_trace("ami-hangup-early.txt")
    events = trace.events()
    first_hangup = next(i for i, f in enumerate(events) if dict(f)["Event"] == "Hangup")
    await fake.replay(trace, stop=first_hangup + 1)
    await fake.replay(trace, start=first_hangup + 1)
    call = (await sink.wait_for(lambda n: isinstance(n, CallEnded))).call
    assert call.caller == "+79780004444"
    assert call.hangup_cause == 16  # the citizen's leg hung up first
    assert call.ivr_choices == ("1",)  # set by the IVR after the citizen had gone
    assert len(sink.of_type(CallEnded)) == 1


@pytest.mark.parametrize(
    ("action_id", "outcome", "reason", "uniqueid"),
    [
        ("cb-satisfied", OriginateOutcome.ANSWERED, "4", "1795979556.6"),
        ("cb-busy", OriginateOutcome.BUSY, "5", None),
        ("cb-noanswer", OriginateOutcome.NO_ANSWER, "3", None),
        ("cb-nosuch", OriginateOutcome.FAILED, "0", None),
    ],
)
async def test_callback_originates_map_asterisks_reasons(fake, wired, action_id, outcome, reason, uniqueid):
    link, _, sink = wired
    fake.script_originates(load_trace("ami-originate-callbacks.txt"))
    request = OriginateRequest(
        request_id=action_id,
        channel="Local/x@callee",
        context="callback",
        exten="s",
        variables=(("TICKET_ID", "1042"),),
        ring_timeout=20,
    )
    result = await link.originate(request, timeout=5)
    assert (result.outcome, result.reason, result.uniqueid) == (outcome, reason, uniqueid)
    assert result.request_id == action_id and not result.repeated
    assert fake.count("Originate", action_id) == 1
    ended = (await sink.wait_for(lambda n: isinstance(n, CallEnded))).call
    assert ended.direction is CallDirection.OUTBOUND
    expected_causes = {"cb-satisfied": 16, "cb-busy": 17, "cb-noanswer": 19, "cb-nosuch": 0}
    assert ended.hangup_cause == expected_causes[action_id]
    expected_ticket = {"cb-satisfied": "1042", "cb-busy": "1043", "cb-noanswer": "1044", "cb-nosuch": None}
    assert ended.ticket_id == expected_ticket[action_id]
