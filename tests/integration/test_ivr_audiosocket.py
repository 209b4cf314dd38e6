"""The IVR records over AudioSocket inside the running app: a fake Asterisk answers FastAGI as in
asterisk-traces/agi-audiosocket-*.log and, on ``EXEC AudioSocket``, streams the recorded audio
(audiosocket-agi-*.bin) to the app's server. No folder is shared: the fake writes no file."""

from __future__ import annotations

import re
import wave

import pytest

from callcenter.audiosocket import protocol as p
from callcenter.ivr import channel_vars as cv
from tests.conftest import LiveServer
from tests.protocol.agi_peer import HANGUP, FakeAsterisk, Step, environment_lines, play, step
from tests.protocol.audiosocket_peer import Replayed, replay, shortened, trace

pytestmark = pytest.mark.timeout(120)
CALLER = "+79780001122"
EXEC_RE = re.compile(r"^EXEC AudioSocket ([0-9a-f-]{36}),(\S+)$")


class StreamingAsterisk(FakeAsterisk):
    """On ``EXEC AudioSocket`` it streams ``stream`` to the named address before replying,
    as Asterisk does (the command's reply comes once the socket is closed)."""

    def __init__(self, *args: object, stream: list[p.Message], hang_up: bool = False, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.stream = stream
        self.hang_up = hang_up
        self.replays: list[Replayed] = []
        self.execs: list[str] = []

    async def _write_recording(self, command: str, reply: list[str]) -> None:
        match = EXEC_RE.match(command)
        if match is not None:
            self.execs.append(command)
            self.replays.append(await replay(match.group(2), match.group(1), self.stream, hang_up=self.hang_up))
        await super()._write_recording(command, reply)


def caller(server: LiveServer, script: list[Step], stream: list[p.Message], **kw: object) -> StreamingAsterisk:
    agi = server.services.agi
    assert agi is not None and server.services.audiosocket is not None
    return StreamingAsterisk(
        "127.0.0.1",
        agi.port,
        env=environment_lines("ivr", callerid=CALLER),
        script=script,
        stream=stream,
        **kw,  # type: ignore[arg-type]
    )


def wav_frames(path: str) -> bytes:
    with wave.open(path, "rb") as wav:
        return wav.readframes(wav.getnframes())


async def test_voice_report_recorded_by_the_app(live_server: LiveServer) -> None:
    # 2 s of the recorded complaint then '#' (sent at once: within the flood allowance)
    stream = shortened(trace("report"), 2.0)
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "1"),
        play("record-after-beep"),
        step("EXEC AudioSocket ", "200 result=0"),
        play("report-accepted"),
        play("ticket-number"),
    ]
    peer = caller(live_server, script, stream, dead_after=True, auto_variables=True)
    result = await peer.run()
    assert not any(c.startswith("RECORD FILE") for c in result.commands)
    (replayed,) = peer.replays
    # the beep came back through the socket, then the app's hang-up message on '#'
    assert replayed.server_hung_up and replayed.received[0].kind is p.Kind.AUDIO
    (ticket,) = await live_server.services.tickets.tickets_for_phone(CALLER)
    assert ticket.is_draft and ticket.category == "water_leak"
    assert result.variables[cv.IVR_TICKET] == ticket.number
    detail = await live_server.services.tickets.detail(ticket.number)
    (attachment,) = detail.attachments
    audio = b"".join(m.payload for m in stream if m.kind is p.Kind.AUDIO)
    path = live_server.services.settings.data_dir / attachment.path
    assert attachment.kind == "recording" and wav_frames(str(path)) == audio


async def test_caller_hangs_up_while_speaking_the_report_is_kept(live_server: LiveServer) -> None:
    stream = shortened(trace("hangup"), 2.0)
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "5"),
        play("record-after-beep"),
        step("EXEC AudioSocket ", "200 result=-1"),
    ]
    peer = caller(live_server, script, stream, hang_up=True, dead_after=True, auto_variables=True)
    await peer.run()
    (replayed,) = peer.replays
    assert not replayed.server_hung_up
    (ticket,) = await live_server.services.tickets.tickets_for_phone(CALLER)
    assert ticket.is_draft and ticket.category == "road_pothole"
    detail = await live_server.services.tickets.detail(ticket.number)
    audio = b"".join(m.payload for m in stream if m.kind is p.Kind.AUDIO)
    assert wav_frames(str(live_server.services.settings.data_dir / detail.attachments[0].path)) == audio


async def test_asterisk_cannot_reach_the_server_record_file_is_the_fallback(live_server: LiveServer) -> None:
    """EXEC AudioSocket fails at once (no connection): RECORD FILE as before."""
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "2"),
        play("record-after-beep"),
        step("EXEC AudioSocket ", "200 result=-1"),
        step("RECORD FILE ", "200 result=35 (dtmf) endpos=16000"),
        play("report-accepted"),
        play("ticket-number"),
    ]
    peer = FakeAsterisk(
        "127.0.0.1",
        live_server.services.agi.port,  # type: ignore[union-attr]
        env=environment_lines("ivr", callerid=CALLER),
        script=script,
        recording_bytes=b"RIFF" + b"\0" * 400,
        dead_after=True,
        auto_variables=True,
    )
    result = await peer.run()
    assert result.script_left == 0, result.commands
    (ticket,) = await live_server.services.tickets.tickets_for_phone(CALLER)
    assert ticket.is_draft and ticket.category == "no_water"


async def test_caller_hangs_up_before_speaking_no_ticket(live_server: LiveServer) -> None:
    """The caller hangs up right after the beep: nothing to file, the session ends cleanly."""
    script = [
        step("ANSWER", "200 result=0"),
        play("greeting"),
        play("main-menu", "1"),
        play("report-category", "2"),
        play("record-after-beep"),
        step("EXEC AudioSocket ", HANGUP, "200 result=-1"),
    ]
    peer = caller(live_server, script, [], hang_up=True, dead_after=True, auto_variables=True)
    await peer.run()
    assert await live_server.services.tickets.tickets_for_phone(CALLER) == []
