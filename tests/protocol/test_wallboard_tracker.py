"""The tracker's operator and queue facts for the wallboard, from recorded Asterisk 22 events:
time in a state, wrap-up (LastCall), pause reasons (QueueMemberPause), queue parameters (QueueStatus)."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain.calls import OperatorState
from callcenter.telephony.tracker import CallTracker
from tests.protocol.fake_ami import frame_get, load_trace

OP1 = "Local/op1@operators/n"
START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def queue_events() -> list[dict[str, str]]:
    return [dict(f) for f in load_trace("ami-queue-operator.txt").events()]


def member_pause(paused: bool, reason: str, last_pause: int) -> dict[str, str]:
    """QueueMemberPause as Asterisk 22 sends it: the recorded QueueMemberStatus's fields."""
    status = next(e for e in queue_events() if e["Event"] == "QueueMemberStatus")
    return {
        **status,
        "Event": "QueueMemberPause",
        "Paused": "1" if paused else "0",
        "PausedReason": reason,
        "LastPause": str(last_pause),
    }


def op1(tracker: CallTracker):
    [op] = [o for o in tracker.snapshot().operators if o.interface == OP1]
    return op


def test_the_recorded_queue_call_moves_op1_ringing_talking_idle_with_times_and_last_call():
    clock = Clock()
    tracker = CallTracker(clock=clock)
    events = queue_events()
    called = next(i for i, e in enumerate(events) if e["Event"] == "AgentCalled")
    connect = next(i for i, e in enumerate(events) if e["Event"] == "AgentConnect")
    for e in events[: called + 1]:
        tracker.feed(e)
    ringing = op1(tracker)
    assert ringing.state is OperatorState.RINGING and ringing.queues == ("hotline",)
    assert ringing.state_since == datetime.fromtimestamp(START, UTC)
    clock.now += 7
    for e in events[called + 1 : connect + 1]:
        tracker.feed(e)
    talking = op1(tracker)
    assert talking.state is OperatorState.TALKING
    assert talking.state_since == datetime.fromtimestamp(START + 7, UTC)
    clock.now += 30
    assert op1(tracker).state_since == talking.state_since  # unchanged state keeps its start
    for e in events[connect + 1 :]:
        tracker.feed(e)
    done = op1(tracker)
    last_status = [e for e in events if e["Event"] == "QueueMemberStatus"][-1]
    assert done.state is OperatorState.IDLE and not done.paused
    assert done.last_call_ended_at == datetime.fromtimestamp(int(last_status["LastCall"]), UTC)
    assert done.calls_taken == 1 and done.state_since == datetime.fromtimestamp(START + 37, UTC)


def test_a_pause_shows_with_its_reason_and_since_asterisks_last_pause_then_ends():
    clock = Clock()
    tracker = CallTracker(clock=clock)
    for e in queue_events():
        tracker.feed(e)
    op1(tracker)
    clock.now += 100
    tracker.feed(member_pause(True, "Обед", int(START + 95)))
    paused = op1(tracker)
    assert paused.paused and paused.pause_reason == "Обед"
    assert paused.state_since == datetime.fromtimestamp(START + 95, UTC)
    clock.now += 60
    tracker.feed(member_pause(False, "", int(START + 95)))
    back = op1(tracker)
    assert not back.paused and back.pause_reason == ""
    assert back.state_since == datetime.fromtimestamp(START + 160, UTC)


def test_a_phone_made_pause_of_an_unknown_member_adds_it_paused():
    tracker = CallTracker(clock=Clock())
    tracker.feed(member_pause(True, "", int(START)))
    op = op1(tracker)
    assert op.paused and op.pause_reason == "" and op.name == "Operator One"


def test_queue_status_on_connect_gives_service_level_counters_and_keeps_time_in_state():
    trace = load_trace("ami-originate-callbacks.txt")
    [action] = [a for a in trace.client_actions() if frame_get(a, "Action") == "QueueStatus"]
    reply = [dict(f) for f in trace.reply_to(frame_get(action, "ActionID"))]
    params = [f for f in reply if f.get("Event") == "QueueParams"]
    members = [f for f in reply if f.get("Event") == "QueueMember"]
    clock = Clock()
    tracker = CallTracker(clock=clock)
    tracker.reconcile_queues(members, [], params)
    first = op1(tracker)
    clock.now += 20
    tracker.reconcile_queues(members, [], params)  # a second resync: nothing changed
    again = op1(tracker)
    [queue] = tracker.snapshot().queues
    assert (queue.name, queue.completed, queue.abandoned) == ("hotline", 1, 0)
    assert queue.service_level_seconds is None  # the lab's queue had no servicelevel: ServiceLevel 0
    assert again.state_since == first.state_since and again.calls_taken == 1
    assert again.last_call_ended_at == datetime.fromtimestamp(1795979531, UTC)
