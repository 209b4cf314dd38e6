"""Hostile or broken peers on the telephony links: AMI frames and the FastAGI environment."""

from __future__ import annotations

import asyncio

from callcenter.ivr.agi import AgiLimits, AgiServer
from callcenter.telephony.ami_protocol import AmiFrameParser
from callcenter.telephony.tracker import CallTracker
from tests.protocol.fake_ami import load_trace
from tests.protocol.test_ami_tracker import feed_all, upto
from tests.security.rawhttp import NO_ANSWER_BOUND


def test_a_varset_with_a_repeated_variable_header_is_applied_not_lost() -> None:
    events = [dict(f) for f in load_trace("ami-ivr-report.txt").events()]
    tracker = CallTracker()
    feed_all(tracker, upto(events, "VarSet"))
    choice = next(e for e in events if e.get("Variable") == "IVR_CHOICE")
    raw = "".join(f"{k}: {v}\r\n" for k, v in choice.items() if k != "Variable")
    raw += "Variable: SOMETHING_ELSE\r\nVariable: IVR_CHOICE\r\n\r\n"
    [frame] = AmiFrameParser().feed(raw.encode())
    assert frame["Variable"] == ["SOMETHING_ELSE", "IVR_CHOICE"]  # what the parser hands on
    tracker.feed(frame)  # raised TypeError before
    assert [c.ivr_choices for c in tracker.snapshot().in_ivr] == [(choice["Value"],)]


async def _refused_after(payload: bytes) -> AgiServer:
    """Send ``payload`` as an AGI environment that never ends; return the server once it hung up."""
    async with AgiServer("127.0.0.1", 0, {}) as agi:
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(payload)
        await writer.drain()
        # The server closes the connection by itself (EOF); it is never sent the blank line.
        assert await asyncio.wait_for(reader.read(), NO_ANSWER_BOUND) == b""
        writer.close()
        return agi


async def test_an_agi_environment_with_endless_lines_is_cut_at_the_line_cap() -> None:
    limits = AgiLimits()
    agi = await _refused_after(b"agi_x: y\n" * (limits.max_header_lines + 50))
    assert agi.stats.bad_header == 1 and agi.stats.completed == 0


async def test_an_agi_environment_over_its_byte_cap_is_cut() -> None:
    limits = AgiLimits()
    line = b"agi_x: " + b"y" * 8000 + b"\n"
    agi = await _refused_after(line * (limits.max_header_bytes // len(line) + 3))
    assert agi.stats.bad_header == 1


def test_an_ami_frame_over_the_limit_arriving_whole_in_one_read_is_refused() -> None:
    """A 300 KB frame with its blank line, in one read: skipped (it used to be parsed whole)."""
    parser = AmiFrameParser()  # the production limit: 256 KB a frame
    huge = b"Event: VarSet\r\nVariable: X\r\nValue: " + b"x" * (300 * 1024) + b"\r\n\r\n"
    following = b"Event: Hangup\r\nChannel: PJSIP/op1-0001\r\n\r\n"
    assert parser.feed(huge + following) == [{"Event": "Hangup", "Channel": "PJSIP/op1-0001"}]
    assert parser.malformed == 1 and parser.frames == 1


def test_the_frame_after_an_oversized_one_is_kept_when_the_blank_line_is_split_across_reads() -> None:
    """The oversized frame's blank line split ``\r\n\r`` | ``\n``: the next frame used to be lost."""
    parser = AmiFrameParser()
    huge = b"Event: VarSet\r\nVariable: X\r\nValue: " + b"x" * (300 * 1024) + b"\r\n\r"
    following = b"\nEvent: Hangup\r\nChannel: PJSIP/op1-0001\r\n\r\n"
    assert parser.feed(huge) == []
    assert parser.feed(following) == [{"Event": "Hangup", "Channel": "PJSIP/op1-0001"}]
    assert parser.malformed == 1 and parser.frames == 1
    assert len(parser._buffer) == 0  # noqa: SLF001 - nothing of the skipped frame stays buffered


def test_a_frame_at_the_limit_is_kept_when_its_blank_line_is_split_across_reads() -> None:
    """Its first blank-line bytes counted against the limit: the frame used to be dropped."""
    parser = AmiFrameParser(max_frame_bytes=64)
    frame = b"Event: Hangup\r\nChannel: " + b"P" * (64 - len(b"Event: Hangup\r\nChannel: "))
    assert parser.feed(frame + b"\r\n") == []
    assert parser.feed(b"\r\n") == [{"Event": "Hangup", "Channel": "P" * 40}]
    assert parser.malformed == 0
