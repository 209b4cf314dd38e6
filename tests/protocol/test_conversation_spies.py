"""Live conversation spies against a fake Asterisk: the recorded queue call is replayed over a
real AMI socket; each Originate of an ``AudioSocket/...`` channel is answered as chan_audiosocket
does (it connects to our AudioSocket server with the UUID and streams the recorded audio), and
AgentComplete ends both spies with the hang-up message. The recogniser is a stand-in that says one
word per second of audio, so the test is about the plumbing, not Vosk."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.audiosocket.api import AudioSocketServer
from callcenter.conversation.service import LiveConversations
from callcenter.events import EventHub
from callcenter.stt.api import LiveText, Transcript
from callcenter.telephony.ami_link import AmiLink
from tests.protocol import audiosocket_peer as peer
from tests.protocol.fake_ami import FakeAmi, load_trace
from tests.protocol.test_ami_link import settings_for

QUEUE_CALL = "1795979524.2"
LEGS = {"1795979524.3": "caller", "1795979526.4": "operator"}
SPY = re.compile(r"AudioSocket/(?P<address>[^/]+)/(?P<uuid>[0-9a-f-]{36})/c\(slin\)")


class WordPerSecond:
    """A recogniser stand-in: one final word per second of audio fed."""

    def __init__(self, on_update: Callable[[LiveText], None]) -> None:
        self.on_update = on_update
        self.bytes = 0
        self.words: list[str] = []
        self.dropped_bytes = 0

    @property
    def audio_seconds(self) -> float:
        return self.bytes / 16000

    def feed(self, pcm: bytes) -> None:
        if not any(pcm):
            return  # the silence a pause is filled with (transcript.py): no words in it
        self.bytes += len(pcm)
        if self.bytes // 16000 > len(self.words):
            self.words.append(f"слово{len(self.words) + 1}")
            self.on_update(LiveText(" ".join(self.words), "", self.audio_seconds))
        elif self.bytes % 16000 < 320:
            self.on_update(LiveText(" ".join(self.words), "сло", self.audio_seconds))

    async def finish(self) -> Transcript:
        return Transcript(" ".join(self.words), duration=self.audio_seconds, model="stand-in")


class StandInSpeech:
    available = True
    unavailable_reason = None

    def live(self, on_update: Callable[[LiveText], None]) -> WordPerSecond:
        return WordPerSecond(on_update)


class ChanAudioSocket(FakeAmi):
    """The fake Asterisk, with chan_audiosocket: an Originate of AudioSocket/<address>/<uuid>
    connects to <address>, sends the UUID and 3 s of the recorded caller's audio, then stays
    connected until the server hangs up (as the ChanSpy channel does)."""

    def __init__(self) -> None:
        super().__init__()
        self.spies: list[asyncio.Task[peer.Replayed]] = []
        self.audio = peer.shortened(peer.trace("report"), 3.0)

    async def _originate(self, writer, action: dict, action_id: str) -> None:
        found = SPY.fullmatch(str(action.get("Channel", "")))
        if found and not self.reject_originates:
            self.spies.append(asyncio.create_task(peer.replay(found["address"], found["uuid"], self.audio, pace=0.002)))
        await super()._originate(writer, action, action_id)


@pytest.fixture
async def fake():
    server = ChanAudioSocket()
    await server.start()
    yield server
    await server.close()


class Kept:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], datetime]] = []

    async def __call__(self, linkedid: str, record: dict[str, Any], started_at: datetime) -> None:
        self.calls.append((linkedid, record, started_at))


class Operator:
    id = 7


async def operators(interface: str) -> Operator | None:
    return Operator() if interface == "Local/op1@operators/n" else None


async def test_recorded_queue_call_spies_on_both_legs_streams_lines_and_keeps_them(
    fake: ChanAudioSocket, tmp_path: Path
) -> None:
    hub = EventHub()
    messages = hub.subscribe(lambda m: m.get("type") == "conversation", maxsize=1000)
    link = AmiLink(settings_for(fake))
    server = AudioSocketServer("127.0.0.1", 0, recordings_dir=tmp_path)
    kept = Kept()
    live = LiveConversations(
        link,
        server,
        StandInSpeech(),
        hub,
        operators=operators,
        keep=kept,
        recordings_dir=tmp_path,  # type: ignore[arg-type]
    )
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    connect = next(i for i, f in enumerate(events) if dict(f)["Event"] == "AgentConnect")
    async with server:
        await live.start()
        await link.start()
        try:
            assert await link.wait_connected(5)
            address = server.address
            await fake.replay(trace, 0, connect + 1)
            await fake.wait_for(lambda: fake.count("Originate") == 2)
            lines = await _lines(messages, 2 * 3)  # three words from each leg's 3 s of audio: all of it in
            await fake.replay(trace, connect + 1)  # ... to AgentComplete and the hang-ups
            replayed = await asyncio.wait_for(asyncio.gather(*fake.spies), 30)
            await live.wait_idle(30)
        finally:
            await live.close()
            await link.close()
            messages.close()

    originates = [a for a in fake.actions if a.get("Action") == "Originate"]
    assert {a["Context"] for a in originates} == {"conversation-spy"} and {a["Exten"] for a in originates} == {"s"}
    assert sorted(a["Variable"] for a in originates) == sorted(f"SPY_TARGET={u}" for u in LEGS)
    assert all(SPY.fullmatch(a["Channel"]) and SPY.fullmatch(a["Channel"])["address"] == address for a in originates)
    assert {m["party"] for m in lines} == {"caller", "operator"}
    assert {m["speaker"] for m in lines} == {"Абонент", "Оператор"}
    assert all(m["user_id"] == 7 and m["linkedid"] == QUEUE_CALL for m in lines)
    # AgentComplete: the app hung both spies up (the hang-up message on each socket).
    assert all(r.server_hung_up for r in replayed)
    [(linkedid, record, _)] = kept.calls
    assert linkedid == QUEUE_CALL and record["ended_by"] == "agent_complete" and record["operator_id"] == 7
    assert sorted(record["recordings"]) == ["caller", "operator"]
    for name in record["recordings"].values():
        assert (tmp_path / "conversations" / name).stat().st_size > 3 * 16000 - 1000
    words = [line for line in record["lines"] if line["party"] == "caller"]
    assert [w["text"] for w in words] == ["слово1", "слово2", "слово3"]
    assert live.stats.spies_placed == 2 and live.stats.saved == 1


async def _lines(messages: Any, count: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(lines) < count:
            message = await messages.get()
            if message["state"] == "line":
                lines.append(message)
    return lines


async def test_a_spy_asterisk_refuses_is_logged_and_the_call_goes_on(fake: ChanAudioSocket, tmp_path: Path) -> None:
    """No [conversation-spy] context, no chan_audiosocket, no originate right: Originate fails;
    nothing is kept, nothing waits, and a later call would be tried again."""
    fake.reject_originates = "Originate failed"
    hub = EventHub()
    link = AmiLink(settings_for(fake))
    server = AudioSocketServer("127.0.0.1", 0, recordings_dir=tmp_path)
    kept = Kept()
    live = LiveConversations(
        link,
        server,
        StandInSpeech(),
        hub,
        operators=operators,
        keep=kept,
        recordings_dir=tmp_path,  # type: ignore[arg-type]
    )
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    connect = next(i for i, f in enumerate(events) if dict(f)["Event"] == "AgentConnect")
    async with server:
        await live.start()
        await link.start()
        try:
            assert await link.wait_connected(5)
            await fake.replay(trace, 0, connect + 1)
            await fake.wait_for(lambda: fake.count("Originate") == 2)
            await live.wait_idle(10)
        finally:
            await live.close()
            await link.close()
    assert live.stats.spies_failed == 2 and kept.calls == [] and fake.spies == []
    assert QUEUE_CALL not in live.spies.active  # forgotten: a repeated AgentConnect may try again
