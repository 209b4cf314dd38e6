"""The AMI wire protocol: frames cut at the blank line, parsed to headers, actions serialized.

Exact to the traces in tests/fixtures/asterisk-traces: bytes are split into frames before they
are decoded (a Cyrillic name split between two reads stays whole), an empty header value is
kept, repeated headers become lists. No I/O here: :mod:`callcenter.telephony.ami_link` reads
the socket and feeds :class:`AmiFrameParser`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any

from callcenter.telephony.originate import check_header_value

logger = logging.getLogger(__name__)

FRAME_END = b"\r\n\r\n"
Frame = dict[str, Any]  # header -> value; a repeated header (Output, ChanVariable) -> list


# --- errors ---------------------------------------------------------------------------


class AmiError(Exception):
    """Base of the AMI link's errors."""


class AmiNotConnected(AmiError):
    """The link is down (or disabled): the action was not sent, or its answer was lost."""


class AmiTimeout(AmiError):
    """Asterisk did not answer within the deadline."""


class AmiProtocolError(AmiError):
    """The peer does not speak AMI (bad banner) or broke the protocol."""


class AmiLoginFailed(AmiError):
    """Asterisk refused our username/secret."""


class AmiActionRefused(AmiError):
    """Asterisk answered an action we depend on with an error (permissions, module)."""


# --- framing and parsing --------------------------------------------------------------


def parse_frame(text: str) -> tuple[Frame, int]:
    """Parse one frame's text (without the blank line); return headers and bad-line count.

    ``Key: Value`` lines; ``Key:`` alone is an empty value; a repeated key collects a list.
    """
    lines = text.split("\r\n")
    # The common frame (every line ``Key: Value``, no key twice, none empty or with a space)
    # is parsed in C; anything else takes the line-by-line path below (issue 19: parsing
    # was a third of a burst of 200 AgentCalled).
    try:
        fields: Frame = dict(map(str.split, lines, repeat(": "), repeat(1)))
    except ValueError:
        return _parse_lines(lines)
    if len(fields) != len(lines) or "" in fields or " " in "".join(fields):
        return _parse_lines(lines)
    return fields, 0


def _parse_lines(lines: list[str]) -> tuple[Frame, int]:
    fields: Frame = {}
    bad = 0
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and len(line) > 1:
                key, value = line[:-1], ""
            else:
                bad += 1
                continue
        if not key or " " in key:
            bad += 1
            continue
        if key in fields:
            known = fields[key]
            if isinstance(known, list):
                known.append(value)
            else:
                fields[key] = [known, value]
        else:
            fields[key] = value
    return fields, bad


class AmiFrameParser:
    """Incremental AMI framing: bytes in, header dicts out; bad input is logged and skipped.

    Frames are cut on the blank line first and decoded afterwards, so a multi-byte UTF-8
    letter split across TCP reads stays whole. A frame larger than ``max_frame_bytes``
    (a peer that never sends the blank line) is discarded up to the next frame boundary.
    """

    def __init__(self, *, max_frame_bytes: int = 256 * 1024) -> None:
        self._buffer = bytearray()
        self._scan_from = 0
        self._skipping = False
        self._max = max_frame_bytes
        self.frames = 0
        self.malformed = 0  # frames skipped: no Event/Response, or oversized
        self.bad_lines = 0  # lines that were not ``Key: Value`` inside kept frames

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return every complete, well-formed frame they finish."""
        buf = self._buffer
        buf += data
        frames: list[Frame] = []
        start = 0
        while True:
            end = buf.find(FRAME_END, max(start, self._scan_from))
            if end < 0:
                break
            raw = bytes(buf[start:end])
            start = end + 4
            self._scan_from = 0
            if self._skipping:
                self._skipping = False
                continue
            if len(raw) > self._max:
                # A whole oversized frame in one read (its end included): refused like one without an end.
                self.malformed += 1
                logger.warning("AMI frame of %d bytes over the %d-byte limit: skipped", len(raw), self._max)
                continue
            frame = self._parse(raw)
            if frame is not None:
                frames.append(frame)
        if start:
            del buf[:start]
        self._scan_from = max(0, len(buf) - 3)
        # The start of a blank line may wait here for its end: it is not part of the frame, so a
        # frame of exactly the limit whose blank line is split across reads is still whole.
        if len(buf) > self._max + len(FRAME_END) - 1:
            self._drop_oversized()
        return frames

    def _drop_oversized(self) -> None:
        logger.warning("AMI frame longer than %d bytes without an end: skipped", self._max)
        self.malformed += 1
        # Keep the last three bytes: they may be the start of the blank line that ends the
        # skipped frame (``\r\n\r`` here, ``\n`` in the next read); dropping them would skip
        # the following, good frame as well.
        del self._buffer[: -(len(FRAME_END) - 1)]
        self._scan_from = 0
        self._skipping = True

    def _parse(self, raw: bytes) -> Frame | None:
        if not raw.strip():
            return None  # stray blank lines between frames are harmless
        text = raw.decode("utf-8", "replace")
        fields, bad = parse_frame(text)
        if "Event" not in fields and "Response" not in fields:
            self.malformed += 1
            logger.warning("AMI frame without Event or Response skipped: %.200r", text)
            return None
        if bad:
            self.bad_lines += bad
            logger.warning(
                "AMI %s frame had %d malformed line(s): %.200r",
                fields.get("Event") or fields.get("Response"),
                bad,
                text,
            )
        self.frames += 1
        return fields


def serialize_action(fields: Mapping[str, str | Iterable[str]]) -> bytes:
    """One action as wire bytes; a list value repeats its header (``Variable``)."""
    lines = []
    for key, value in fields.items():
        values = [value] if isinstance(value, str) else list(value)
        for item in values:
            check_header_value(key, item)
            lines.append(f"{check_header_value('header name', key)}: {item}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
