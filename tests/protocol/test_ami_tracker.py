"""The call tracker fed with recorded Asterisk 22 events (and variations built from them)."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain.calls import (
    CallAbandoned,
    CallAnswered,
    CallDirection,
    CallEnded,
    CallPhase,
    CallStarted,
    OperatorRinging,
    OperatorRingingStopped,
    OperatorState,
)
from callcenter.telephony.tracker import CallTracker, device_of_channel, device_of_interface
from tests.protocol.fake_ami import load_trace

QUEUE_CALL = "1795979524.2"
START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def queue_events() -> list[dict[str, str]]:
    return [dict(f) for f in load_trace("ami-queue-operator.txt").events()]


def stamped(events, start: float = START, step: float = 1.0) -> list[dict[str, str]]:
    """Give each event a Timestamp header (manager.conf timestampevents = yes)."""
    return [{**e, "Timestamp": f"{start + i * step:.6f}"} for i, e in enumerate(events)]


def feed_all(tracker: CallTracker, events) -> list:
    notes = []
    for event in events:
        notes.extend(tracker.feed(event))
    return notes


def upto(events, name: str, inclusive: bool = True) -> list[dict[str, str]]:
    index = next(i for i, e in enumerate(events) if e["Event"] == name)
    return events[: index + 1 if inclusive else index]


def hangups(events) -> list[dict[str, str]]:
    """A Hangup for every channel the events created, in creation order."""
    return [
        {
            "Event": "Hangup",
            "Channel": e["Channel"],
            "Uniqueid": e["Uniqueid"],
            "Linkedid": e["Linkedid"],
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        }
        for e in events
        if e["Event"] == "Newchannel"
    ]


def test_caller_who_hangs_up_while_ringing_is_abandoned_and_flagged_for_callback():
    events = queue_events()
    head = upto(events, "AgentCalled")
    leave = next(e for e in events if e["Event"] == "QueueCallerLeave")
    abandon = {**leave, "Event": "QueueCallerAbandon", "OriginalPosition": "1", "HoldTime": "12"}
    tracker = CallTracker()
    notes = feed_all(tracker, stamped([*head, abandon, *hangups(head)]))
    stopped = [n for n in notes if isinstance(n, OperatorRingingStopped)]
    assert [(s.interface, s.reason) for s in stopped] == [("Local/op1@operators/n", "caller_left")]
    assert len([n for n in notes if isinstance(n, CallAbandoned)]) == 1
    ended = [n for n in notes if isinstance(n, CallEnded)][0].call
    assert ended.abandoned and ended.needs_callback and ended.answered_by is None
    assert ended.caller == "+79780003330" and ended.queue == "hotline"
    assert ended.queue_wait_seconds is not None and ended.queue_wait_seconds > 0


def test_queue_timeout_without_agent_connect_counts_as_abandoned_at_the_end():
    events = queue_events()
    head = upto(events, "AgentCalled")
    leave = next(e for e in events if e["Event"] == "QueueCallerLeave")
    no_answer = {
        "Event": "AgentRingNoAnswer",
        "Linkedid": QUEUE_CALL,
        "Uniqueid": "1795979524.3",
        "Interface": "Local/op1@operators/n",
        "MemberName": "Operator One",
        "RingTime": "15",
    }
    tracker = CallTracker()
    feed_all(tracker, stamped([*head, no_answer]))
    assert tracker.call(QUEUE_CALL).ringing == ()
    feed_all(tracker, [leave])
    assert tracker.call(QUEUE_CALL).phase is CallPhase.IVR  # back in the dialplan
    notes = feed_all(tracker, hangups(head))
    kinds = [type(n) for n in notes]
    assert kinds == [CallAbandoned, CallEnded]
    assert notes[-1].call.needs_callback


def test_answered_call_is_not_abandoned_although_queue_leave_comes_first():
    events = queue_events()
    leave = next(i for i, e in enumerate(events) if e["Event"] == "QueueCallerLeave")
    connect = next(i for i, e in enumerate(events) if e["Event"] == "AgentConnect")
    assert leave < connect  # what Asterisk 22 really does
    notes = feed_all(CallTracker(), events)
    assert not [n for n in notes if isinstance(n, CallAbandoned)]
    assert [n for n in notes if isinstance(n, CallEnded)][0].call.answered_by == "Local/op1@operators/n"


def test_board_shows_queue_wait_ringing_and_talking_operator():
    clock = Clock()
    events = stamped(queue_events(), start=START, step=0.5)
    tracker = CallTracker(clock=clock)
    feed_all(tracker, upto(events, "QueueCallerJoin"))
    joined = float(upto(events, "QueueCallerJoin")[-1]["Timestamp"])
    clock.now = joined + 42
    board = tracker.snapshot()
    assert board.taken_at == datetime.fromtimestamp(joined + 42, UTC)
    assert [c.linkedid for c in board.queued] == [QUEUE_CALL] and board.in_ivr == ()
    assert board.queued[0].queue_wait_seconds == 42
    feed_all(tracker, upto(events, "AgentCalled")[len(upto(events, "QueueCallerJoin")) :])
    operators = {o.interface: o for o in tracker.snapshot().operators}
    assert operators["Local/op1@operators/n"].state is OperatorState.RINGING
    assert operators["Local/op1@operators/n"].linkedid == QUEUE_CALL
    feed_all(tracker, upto(events, "BridgeEnter")[len(upto(events, "AgentCalled")) :])
    board = tracker.snapshot()
    assert [c.linkedid for c in board.talking] == [QUEUE_CALL] and board.queued == ()
    assert board.operators[0].state is OperatorState.TALKING
    feed_all(tracker, events[len(upto(events, "BridgeEnter")) :])
    board = tracker.snapshot()
    assert board.talking == () and board.operators[0].state is OperatorState.IDLE


def test_call_times_come_from_event_timestamps():
    events = stamped(queue_events(), start=START, step=1.0)
    notes = feed_all(CallTracker(clock=Clock(0.0)), events)
    started = [n for n in notes if isinstance(n, CallStarted)][0].call
    ended = [n for n in notes if isinstance(n, CallEnded)][0].call
    assert started.arrived_at == datetime.fromtimestamp(START, UTC)
    assert ended.duration_seconds == len(events) - 1 - 0 - _extra_tail(events)
    answered = [n for n in notes if isinstance(n, CallAnswered)][0].call
    assert answered.answered_at > answered.queued_at > answered.arrived_at


def _extra_tail(events) -> int:
    """Events after the last Hangup (DeviceStateChange) do not lengthen the call."""
    last = max(i for i, e in enumerate(events) if e["Event"] == "Hangup")
    return len(events) - 1 - last


def test_ivr_call_sits_in_the_ivr_column_with_its_choices():
    events = [dict(f) for f in load_trace("ami-ivr-report.txt").events()]
    tracker = CallTracker()
    feed_all(tracker, upto(events, "VarSet") + [e for e in events if e.get("Variable") == "IVR_CHOICE"])
    board = tracker.snapshot()
    assert [c.ivr_choices for c in board.in_ivr] == [("1",)]
    assert board.in_ivr[0].caller == "+79780001122"


def test_caller_ids_are_normalised_and_the_raw_form_kept():
    for raw, expected in [
        ("89780003330", "+79780003330"),
        ("9780003330", "+79780003330"),
        ("+7 (978) 000-33-30", "+79780003330"),
        ("Anonymous", None),
        ("1563", None),
    ]:
        events = [{**e, "CallerIDNum": raw} if "CallerIDNum" in e else e for e in queue_events()]
        ringing = [n for n in feed_all(CallTracker(), events) if isinstance(n, OperatorRinging)][0]
        assert ringing.caller == expected, raw
        assert ringing.call.caller_raw == (None if raw == "Anonymous" else raw)


def test_injected_normaliser_is_used():
    seen = []

    def normalise(raw: str) -> str | None:
        seen.append(raw)
        return "+70000000000"

    notes = feed_all(CallTracker(normalize_phone=normalise), queue_events())
    assert seen == ["+79780003330"]
    assert [n for n in notes if isinstance(n, CallEnded)][0].call.caller == "+70000000000"


def test_odd_events_change_nothing_and_never_raise():
    tracker = CallTracker()
    odd = [
        {},
        {"Event": "Hangup"},
        {"Event": "Hangup", "Linkedid": "nope", "Uniqueid": "nope", "Cause": "x"},
        {"Event": "Newstate", "Uniqueid": "9.9", "Linkedid": "9.9", "ChannelState": "up?"},
        {"Event": "AgentConnect", "Linkedid": "9.9"},
        {"Event": "VarSet", "Variable": "IVR_CHOICE"},
        {"Event": "QueueCallerJoin", "Uniqueid": "9.9", "Linkedid": "9.9", "Timestamp": "soon"},
        {"Event": "SomethingNew", "Linkedid": "9.9"},
    ]
    for event in odd:
        tracker.feed(event)
    assert [c.linkedid for c in tracker.live_calls()] == ["9.9"]
    tracker.feed({"Event": "Hangup", "Uniqueid": "9.9", "Linkedid": "9.9", "Cause": "zz"})
    assert tracker.live_calls() == ()


def test_a_repeated_hangup_is_harmless():
    events = queue_events()
    tracker = CallTracker()
    notes = feed_all(tracker, events)
    again = feed_all(tracker, [e for e in events if e["Event"] == "Hangup"])
    assert again == [] and len([n for n in notes if isinstance(n, CallEnded)]) == 1


def test_click_to_call_is_outbound_with_its_request_and_operator_talking():
    tracker = CallTracker()
    tracker.feed(
        {
            "Event": "QueueMemberStatus",
            "Queue": "hotline",
            "Interface": "PJSIP/op1",
            "MemberName": "Operator One",
            "Status": "1",
            "Paused": "0",
        }
    )
    op = {
        "Channel": "PJSIP/op1-00000007",
        "Uniqueid": "cc-c2c-9",
        "Linkedid": "cc-c2c-9",
        "Context": "dial-citizen",
        "CallerIDNum": "+79780001122",
    }
    out = {
        "Channel": "PJSIP/city-trunk-00000008",
        "Uniqueid": "1.8",
        "Linkedid": "cc-c2c-9",
        "Context": "dial-citizen",
        "CallerIDNum": "1563",
    }
    notes = feed_all(
        tracker,
        [
            {"Event": "Newchannel", **op, "ChannelState": "5"},
            {"Event": "VarSet", **op, "Variable": "CITIZEN_NUMBER", "Value": "+79780001122"},
        ],
    )
    call = notes[-1].call
    assert (call.direction, call.phase, call.request_id, call.caller) == (
        CallDirection.OUTBOUND,
        CallPhase.DIALING,
        "c2c-9",
        "+79780001122",
    )
    assert tracker.snapshot().operators[0].state is OperatorState.RINGING
    feed_all(
        tracker,
        [
            {"Event": "Newstate", **op, "ChannelState": "6"},
            {"Event": "Newchannel", **out, "ChannelState": "0"},
            {"Event": "Newstate", **out, "ChannelState": "6"},
            {"Event": "BridgeEnter", **op, "BridgeUniqueid": "b1"},
            {"Event": "BridgeEnter", **out, "BridgeUniqueid": "b1"},
        ],
    )
    board = tracker.snapshot()
    assert [c.request_id for c in board.talking] == ["c2c-9"]
    assert board.operators[0].state is OperatorState.TALKING
    assert board.operators[0].linkedid == "cc-c2c-9"


def test_reconcile_ends_vanished_calls_and_keeps_listed_ones():
    events = queue_events()
    tracker = CallTracker()
    feed_all(tracker, upto(events, "AgentCalled"))
    notes = tracker.reconcile_channels([])
    kinds = [type(n).__name__ for n in notes]
    assert kinds == ["OperatorRingingStopped", "CallAbandoned", "CallEnded", "BoardResynced"]
    assert notes[-1].ended_calls == (QUEUE_CALL,)


def test_devices_of_channels_and_interfaces():
    assert device_of_channel("PJSIP/op1-0000001a") == "PJSIP/op1"
    assert device_of_channel("Local/op1@operators-00000002;1") == "Local/op1@operators"
    assert device_of_interface("Local/op1@operators/n") == "Local/op1@operators"
    assert device_of_interface("PJSIP/op1") == "PJSIP/op1"


def test_a_stale_channel_list_does_not_revive_a_call_that_hung_up():
    """Asterisk may write a Hangup before the end of a list that still names the channel."""
    events = queue_events()
    tracker = CallTracker()
    feed_all(tracker, upto(events, "QueueCallerJoin"))
    stale = [
        {
            "Event": "CoreShowChannel",
            "Channel": e["Channel"],
            "Uniqueid": e["Uniqueid"],
            "Linkedid": e["Linkedid"],
            "Context": e["Context"],
            "ChannelState": "6",
            "Application": "Queue",
            "ApplicationData": "hotline,,,,30",
            "Duration": "00:00:09",
        }
        for e in events
        if e["Event"] == "Newchannel"
    ][:2]
    tracker.begin_resync()
    notes = feed_all(tracker, hangups(upto(events, "QueueCallerJoin")))
    assert len([n for n in notes if isinstance(n, CallEnded)]) == 1
    tracker.reconcile_channels(stale)
    assert tracker.live_calls() == ()


def test_a_call_that_starts_during_a_resync_survives_the_older_list():
    events = queue_events()
    tracker = CallTracker()
    tracker.begin_resync()
    feed_all(tracker, upto(events, "QueueCallerJoin"))
    notes = tracker.reconcile_channels([])  # listed before the call began
    assert not [n for n in notes if isinstance(n, CallEnded)]
    assert [c.linkedid for c in tracker.live_calls()] == [QUEUE_CALL]


def test_ivr_path_and_ticket_variables_reach_the_call():
    events = [dict(f) for f in load_trace("ami-ivr-report.txt").events()]
    choice = next(e for e in events if e.get("Variable") == "IVR_CHOICE")
    tracker = CallTracker()
    feed_all(tracker, upto(events, "NewCallerid"))
    notes = feed_all(
        tracker,
        [
            {**choice, "Variable": "IVR_PATH", "Value": "1>water_leak>record"},
            {**choice, "Variable": "IVR_TICKET", "Value": "2026-001042"},
        ],
    )
    call = notes[-1].call
    assert (call.ivr_path, call.ticket_id) == ("1>water_leak>record", "2026-001042")
    assert len(notes) == 2
