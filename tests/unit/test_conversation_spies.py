"""Which AMI events start and stop a live conversation's spies, on the recorded queue call."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.conversation.spies import CALLER, OPERATOR, ConversationSpies, Leg, Start, Stop
from callcenter.conversation.transcript import Conversation, PartyTranscript, new_words
from callcenter.events import EventHub
from callcenter.stt.api import LiveText
from tests.protocol.fake_ami import load_trace

QUEUE_CALL = "1795979524.2"
CALLER_LEG = Leg(CALLER, "1795979524.3", "Local/1563@hotline-00000001;2")
OPERATOR_LEG = Leg(OPERATOR, "1795979526.4", "Local/op1@operators-00000002;1")


def recorded_events() -> list[dict[str, str]]:
    return [dict(frame) for frame in load_trace("ami-queue-operator.txt").events()]


def decide(events: list[dict[str, str]], spies: ConversationSpies | None = None) -> list[tuple[int, object]]:
    spies = spies or ConversationSpies()
    return [(i, d) for i, event in enumerate(events) for d in spies.feed(event)]


def test_the_recorded_answer_starts_one_spy_per_leg_and_agent_complete_stops_them() -> None:
    events = recorded_events()
    decisions = decide(events)
    assert [type(d) for _, d in decisions] == [Start, Stop]
    (at_start, start), (at_stop, stop) = decisions
    assert events[at_start]["Event"] == "AgentConnect"
    assert start == Start(
        QUEUE_CALL, (CALLER_LEG, OPERATOR_LEG), "Local/op1@operators/n", "Operator One", "+79780003330"
    )
    # The operator hung up first: AgentComplete (before the operator leg's own Hangup) ends it.
    assert events[at_stop]["Event"] == "AgentComplete" and stop == Stop(QUEUE_CALL, "agent_complete")


def test_nothing_before_the_answer_starts_a_spy() -> None:
    """Ringing (AgentCalled), the IVR, the queue: no spy before AgentConnect."""
    events = recorded_events()
    connect = next(i for i, e in enumerate(events) if e["Event"] == "AgentConnect")
    assert decide(events[:connect]) == []


def test_hangup_of_a_spied_leg_stops_once_other_hangups_do_not() -> None:
    events = recorded_events()
    connect = next(e for e in events if e["Event"] == "AgentConnect")
    spies = ConversationSpies()
    assert len(spies.feed(connect)) == 1
    other = {"Event": "Hangup", "Uniqueid": "1795979526.5", "Linkedid": QUEUE_CALL, "Channel": "Local/op2@x;1"}
    assert spies.feed(other) == []  # a phone that rang too (ringall), not a spied leg
    caller_gone = {"Event": "Hangup", "Uniqueid": CALLER_LEG.uniqueid, "Linkedid": QUEUE_CALL, "Channel": "x"}
    assert spies.feed(caller_gone) == [Stop(QUEUE_CALL, "hangup")]
    operator_gone = {**caller_gone, "Uniqueid": OPERATOR_LEG.uniqueid}
    assert spies.feed(operator_gone) == []
    assert spies.active == frozenset()


def test_a_repeated_or_late_agent_connect_starts_nothing_twice() -> None:
    events = recorded_events()
    connect = next(e for e in events if e["Event"] == "AgentConnect")
    spies = ConversationSpies()
    assert len(spies.feed(connect)) == 1
    assert spies.feed(connect) == []  # the same event again (a repeated frame)
    spies.feed({"Event": "AgentComplete", "Linkedid": QUEUE_CALL})
    assert spies.feed(connect) == []  # after the end: the call is not listened to again


def test_a_start_that_failed_may_be_tried_again() -> None:
    connect = next(e for e in recorded_events() if e["Event"] == "AgentConnect")
    spies = ConversationSpies()
    spies.feed(connect)
    spies.forget(QUEUE_CALL)
    assert [type(d) for d in spies.feed(connect)] == [Start]


def test_our_own_spy_channels_are_never_spied_on_and_end_nothing() -> None:
    connect = next(e for e in recorded_events() if e["Event"] == "AgentConnect")
    spies = ConversationSpies()
    spies.feed(connect)
    spy_hangup = {
        "Event": "Hangup",
        "Channel": "AudioSocket/127.0.0.1:9092-0f2c...",
        "Uniqueid": CALLER_LEG.uniqueid,  # even if it named a leg, it is ours
        "Linkedid": QUEUE_CALL,
    }
    assert spies.feed(spy_hangup) == []
    assert spies.feed({**connect, "Channel": "AudioSocket/127.0.0.1:9092-x", "Linkedid": "other"}) == []


def test_an_agent_connect_without_legs_starts_nothing() -> None:
    assert ConversationSpies().feed({"Event": "AgentConnect", "Linkedid": "1.1"}) == []
    assert ConversationSpies().feed({"Event": "AgentConnect", "Uniqueid": "1.2", "Channel": "x"}) == []


def test_new_words_of_a_growing_transcript() -> None:
    assert new_words("", "안녕하세요") == "안녕하세요"
    assert new_words("안녕하세요", "안녕하세요 감사합니다") == "감사합니다"
    assert new_words("other", "감사합니다") == "감사합니다"


def test_the_call_tracker_does_not_count_a_spy_channel_as_a_call() -> None:
    from callcenter.telephony.tracker import CallTracker

    tracker = CallTracker()
    spy = {
        "Event": "Newchannel",
        "Channel": "AudioSocket/127.0.0.1:9092-3f1c6a0e-8a55-4d0e-9d3b-0e5b1b6c2f11",
        "Uniqueid": "cc-spy-1795979524.3",
        "Linkedid": "cc-spy-1795979524.3",
        "ChannelState": "6",
        "Context": "conversation-spy",
        "Exten": "s",
        "CallerIDNum": "",
    }
    assert tracker.feed(spy) == [] and tracker.live_calls() == ()
    tracker.reconcile_channels([{**spy, "Event": "CoreShowChannel"}])
    assert tracker.live_calls() == ()
    real = {**spy, "Channel": "Local/1563@hotline-00000009;2", "Uniqueid": "1.9", "Linkedid": "1.9"}
    assert tracker.feed(real) != [] and len(tracker.live_calls()) == 1


class _Heard:
    """A recogniser stand-in that keeps what it is fed."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.silence = asyncio.Event()

    def feed(self, pcm: bytes) -> None:
        self.chunks.append(pcm)
        if not any(pcm):
            self.silence.set()


class _Speech:
    def __init__(self) -> None:
        self.heard = _Heard()
        self.updates: list[Any] = []

    def live(self, on_update: Any) -> _Heard:
        self.updates.append(on_update)
        return self.heard


async def test_a_pause_with_no_frames_is_heard_as_silence_once() -> None:
    """ChanSpy on a Local channel sends nothing while that side is silent: the recogniser gets
    one stretch of silence per pause, so the phrase before it ends (a line for the operator)."""
    speech = _Speech()
    hub = EventHub()
    party = PartyTranscript(Conversation("1.1", hub, 7, "Local/op1@operators/n", "+79780000000"), CALLER, speech)  # type: ignore[arg-type]
    frame = b"\x01\x02" * 160
    party.feed(frame)
    await asyncio.wait_for(speech.heard.silence.wait(), 10)
    assert speech.heard.chunks[0] == frame and len(speech.heard.chunks) == 2 and not any(speech.heard.chunks[1])
    assert len(speech.heard.chunks[1]) == 16000  # a second of 8 kHz slin16
    party.feed(frame)  # speech again: a frame, and the next pause is filled once more
    assert speech.heard.chunks[2] == frame and party.pauses == 1


def test_lines_and_partials_go_to_the_operator_with_the_speaker() -> None:
    hub = EventHub()
    seen = hub.subscribe(lambda m: m.get("type") == "conversation", maxsize=100)
    conversation = Conversation("1.1", hub, 7, "Local/op1@operators/n", "+79780000000")
    party = PartyTranscript(conversation, OPERATOR, _Speech(), clock=lambda: 100.0)  # type: ignore[arg-type]
    party.update(LiveText("", "служба", 0.5))
    party.update(LiveText("служба 1563 слушаю", "", 1.5))
    party.update(LiveText("служба 1563 слушаю", "что", 2.0))  # same clock: a partial too soon is skipped
    messages = [seen.queue.get_nowait() for _ in range(seen.queue.qsize())]
    assert [(m["state"], m["text"], m["speaker"], m["user_id"]) for m in messages] == [
        ("partial", "служба", "Оператор", 7),
        ("line", "служба 1563 слушаю", "Оператор", 7),
    ]
    assert [(line["party"], line["text"]) for line in conversation.lines] == [(OPERATOR, "служба 1563 слушаю")]


def test_no_operator_no_messages_but_the_lines_are_kept() -> None:
    hub = EventHub()
    seen = hub.subscribe(lambda m: True, maxsize=100)
    conversation = Conversation("1.1", hub, None, "Local/op9@operators/n", "")
    conversation.line(CALLER, "  алло  ")
    conversation.line(CALLER, "   ")
    assert seen.queue.qsize() == 0 and [line["text"] for line in conversation.lines] == ["алло"]
