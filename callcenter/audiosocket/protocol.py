"""AudioSocket framing, exact to what Asterisk 22.10.1 sends (asterisk-traces/audiosocket-*).

Every message is ``kind (1 byte) | length (2 bytes, big-endian) | payload``
(res/res_audiosocket.c). Kinds from Asterisk: 0x01 the call's UUID (16 bytes, first),
0x03 one DTMF digit (ASCII), 0x10 audio (320 bytes = 20 ms of 8 kHz signed 16-bit LE mono),
0xff an error code. The server may send 0x10 audio (played to the caller) and 0x00 with
length 0 (hang up: ``AudioSocket()`` returns). A caller's hang-up closes the socket with no
message at all.
"""

from __future__ import annotations

import asyncio
import enum
import struct
import uuid
from dataclasses import dataclass

HEADER = struct.Struct("!BH")
SAMPLE_RATE = 8000
BYTES_PER_SAMPLE = 2
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * BYTES_PER_SAMPLE * FRAME_MS // 1000  # 320
BYTES_PER_SECOND = SAMPLE_RATE * BYTES_PER_SAMPLE
# res_audiosocket.c reads at most this much audio per message; anything longer is not Asterisk.
MAX_PAYLOAD = 8192


class Kind(enum.IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class AudioSocketError(Exception):
    """The peer broke the protocol or stalled; the message names what happened."""


class UnknownKind(AudioSocketError):
    pass


class Oversize(AudioSocketError):
    pass


class Stalled(AudioSocketError):
    """A message started but did not complete within the read timeout."""


class Idle(AudioSocketError):
    """No message began within the idle timeout (a Local channel sends nothing while silent)."""


class PeerClosed(AudioSocketError):
    """End of stream: a caller's hang-up when it falls between messages."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    payload: bytes

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    @property
    def digit(self) -> str:
        return self.payload[:1].decode("ascii", errors="replace")


def encode(kind: Kind, payload: bytes = b"") -> bytes:
    """One message as bytes (``encode(Kind.HANGUP)`` is ``b"\\x00\\x00\\x00"``)."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a 2-byte length")
    return HEADER.pack(int(kind), len(payload)) + payload


def audio(pcm: bytes) -> bytes:
    return encode(Kind.AUDIO, pcm)


HANGUP = encode(Kind.HANGUP)
_KINDS = {k.value: k for k in Kind}


async def read_message(
    reader: asyncio.StreamReader, *, idle_timeout: float | None, frame_timeout: float, max_payload: int = MAX_PAYLOAD
) -> Message:
    """The next message. ``idle_timeout`` bounds the wait for its first byte (None: no bound,
    the caller times silence itself); ``frame_timeout`` bounds the rest once it started.

    Raises PeerClosed at a clean end of stream, Idle, Stalled, UnknownKind, Oversize, or
    AudioSocketError for a stream cut mid-message."""
    try:
        async with asyncio.timeout(idle_timeout):
            first = await reader.read(1)
    except TimeoutError:
        raise Idle(f"no message within {idle_timeout:g} s") from None
    if not first:
        raise PeerClosed("peer closed the connection")
    kind = _KINDS.get(first[0])
    if kind is None:
        raise UnknownKind(f"unknown message kind 0x{first[0]:02x}")
    try:
        async with asyncio.timeout(frame_timeout):
            length = int.from_bytes(await reader.readexactly(2), "big")
            if length > max_payload:
                raise Oversize(f"{kind.name} message of {length} bytes (limit {max_payload})")
            payload = await reader.readexactly(length) if length else b""
    except TimeoutError:
        raise Stalled(f"{kind.name} message not complete within {frame_timeout:g} s") from None
    except asyncio.IncompleteReadError as err:
        raise AudioSocketError(
            f"connection closed inside a {kind.name} message ({len(err.partial)} bytes of it)"
        ) from None
    return Message(kind, payload)


def check_uuid(message: Message) -> uuid.UUID:
    if message.kind is not Kind.UUID:
        raise AudioSocketError(f"first message is {message.kind.name}, not the UUID")
    if len(message.payload) != 16:
        raise AudioSocketError(f"UUID message of {len(message.payload)} bytes, not 16")
    return message.uuid
