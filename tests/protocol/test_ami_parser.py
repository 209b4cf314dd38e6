"""Framing and parsing of AMI bytes, and why panoramisk's parser was not reused.

Each panoramisk case runs its real AMIProtocol/Message code on the same bytes.
"""

from __future__ import annotations

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcenter.telephony.ami_protocol import AmiFrameParser, _parse_lines, parse_frame, serialize_action
from tests.protocol.fake_ami import Trace, all_ami_traces

VARSET = "Event: VarSet\r\nCallerIDName: Иван Петров\r\nVariable: QUEUEWAIT\r\nValue: \r\n\r\n".encode()


class _Dispatcher:
    """Stands in for panoramisk's Manager: it only collects dispatched events."""

    def __init__(self) -> None:
        self.events: list[Message] = []

    def dispatch(self, message: Message) -> None:
        self.events.append(message)


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def panoramisk_protocol() -> tuple[AMIProtocol, _Dispatcher]:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.encoding = "utf8"  # what panoramisk's Manager sets
    dispatcher = _Dispatcher()
    protocol.factory = dispatcher
    return protocol, dispatcher


def test_cyrillic_letter_split_across_reads_stays_whole():
    cut = VARSET.index("Петров".encode()) + 1
    parser = AmiFrameParser()
    assert parser.feed(VARSET[:cut]) == []
    [frame] = parser.feed(VARSET[cut:])
    assert frame["CallerIDName"] == "Иван Петров"
    protocol, dispatcher = panoramisk_protocol()
    protocol.data_received(VARSET[:cut])
    protocol.data_received(VARSET[cut:])
    assert dispatcher.events[0]["CallerIDName"] != "Иван Петров"  # panoramisk loses a letter


def test_empty_value_at_the_end_of_a_frame_is_kept():
    [frame] = AmiFrameParser().feed(VARSET)
    assert frame["Value"] == ""
    protocol, dispatcher = panoramisk_protocol()
    protocol.data_received(VARSET)
    assert "Value" not in dispatcher.events[0]  # panoramisk strips it away


def test_failure_response_keeps_its_message():
    text = "Response: Failure\r\nActionID: x\r\nMessage: Originate failed"
    fields, bad = parse_frame(text)
    assert fields == {"Response": "Failure", "ActionID": "x", "Message": "Originate failed"} and bad == 0
    assert "Message" not in Message.from_line(text)  # panoramisk moves it into content


def test_every_byte_split_of_a_trace_gives_the_same_frames():
    raw = Trace.load(all_ami_traces()[0]).raw_server_bytes.split(b"\r\n", 1)[1]
    whole = AmiFrameParser().feed(raw)
    for size in (1, 7, 64, 1000):
        parser = AmiFrameParser()
        frames = []
        for start in range(0, len(raw), size):
            frames.extend(parser.feed(raw[start : start + size]))
        assert frames == whole, size


def test_garbage_is_counted_and_skipped_and_the_next_frame_survives():
    parser = AmiFrameParser()
    frames = parser.feed(b"\x00\xff\r\n\r\nnot a header\r\n\r\n\r\n\r\nEvent: Hangup\r\nCause: 16\r\n\r\n")
    assert frames == [{"Event": "Hangup", "Cause": "16"}]
    assert parser.malformed == 2 and parser.frames == 1


def test_bad_lines_inside_a_frame_are_dropped_not_the_frame():
    parser = AmiFrameParser()
    [frame] = parser.feed(b"Event: Hangup\r\njunk line\r\nCause:\r\nOutput: a\r\nOutput: b\r\n\r\n")
    assert frame == {"Event": "Hangup", "Cause": "", "Output": ["a", "b"]}
    assert parser.bad_lines == 1


def test_endless_frame_is_bounded_and_the_stream_recovers():
    parser = AmiFrameParser(max_frame_bytes=1024)
    assert parser.feed(b"Event: Flood\r\n" + b"X: " + b"y" * 5000) == []
    assert parser.malformed == 1
    assert parser.feed(b"y" * 100 + b"\r\n\r\nEvent: Hangup\r\n\r\n") == [{"Event": "Hangup"}]
    protocol, _ = panoramisk_protocol()
    protocol.data_received(b"Event: Flood\r\n" + b"y" * 50_000)
    assert len(protocol.queue[0]) > 50_000  # panoramisk keeps buffering without limit


def test_actions_are_serialised_with_crlf_and_repeated_headers():
    wire = serialize_action({"Action": "Originate", "ActionID": "a1", "Variable": ["A=1", "B=2"]})
    assert wire == b"Action: Originate\r\nActionID: a1\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"


def test_the_fast_path_and_the_line_by_line_path_agree():
    """parse_frame takes a C-level path for the common frame; every odd frame falls back to
    the line-by-line one and gets the same headers and bad-line count as before (issue 19)."""
    frames = [
        "Event: AgentCalled\r\nQueue: 1563\r\nCallerIDName: Иван: Петрович",
        "Event: VarSet\r\nVariable: X\r\nValue:",
        "Event: VarSet\r\nValue: \r\nVariable: Y",
        "Response: Follows\r\nOutput: a\r\nOutput: b\r\nOutput: c",
        "Event: Odd\r\nBad Key: 1\r\nnot a header\r\n: no key\r\nGood: yes",
        "Event: Odd\r\n\r\nKey: 1",
    ]
    for text in frames:
        assert parse_frame(text) == _parse_lines(text.split("\r\n")), text
    assert parse_frame(frames[3])[0]["Output"] == ["a", "b", "c"]
    assert parse_frame(frames[4]) == ({"Event": "Odd", "Good": "yes"}, 3)
