"""A fake Asterisk for AudioSocket: replays a recorded stream (asterisk-traces/audiosocket-*.bin)
with the UUID it was given, as ``EXEC AudioSocket <uuid>,<host>:<port>`` makes Asterisk do."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.audiosocket import protocol as p

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk-traces"


def parse(data: bytes) -> list[p.Message]:
    messages, offset = [], 0
    while offset < len(data):
        kind, length = struct.unpack_from("!BH", data, offset)
        messages.append(p.Message(p.Kind(kind), data[offset + 3 : offset + 3 + length]))
        offset += 3 + length
    return messages


def trace(name: str) -> list[p.Message]:
    """``report`` or ``hangup``: the messages of audiosocket-agi-NAME.bin."""
    return parse((TRACES / f"audiosocket-agi-{name}.bin").read_bytes())


def shortened(messages: list[p.Message], audio_seconds: float) -> list[p.Message]:
    """The trace with its audio cut to the first ``audio_seconds`` (keys and the rest kept)."""
    budget = int(audio_seconds * p.BYTES_PER_SECOND)
    kept = []
    for message in messages:
        if message.kind is p.Kind.AUDIO:
            if budget <= 0:
                continue
            budget -= len(message.payload)
        kept.append(message)
    return kept


@dataclass
class Replayed:
    received: list[p.Message] = field(default_factory=list)
    server_hung_up: bool = False


async def replay(
    address: str, call_id: str, messages: list[p.Message], *, pace: float | None = None, hang_up: bool = False
) -> Replayed:
    """Connect, send the UUID and ``messages`` (the trace's UUID replaced), ``pace`` seconds
    apart for audio (None: at once), then either wait for the server's hang-up message or,
    with ``hang_up``, close as a caller's hang-up does (no message)."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    result = Replayed()

    async def read() -> None:
        buffer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                buffer += chunk
        result.received = parse(buffer[: len(buffer) - _tail(buffer)])
        result.server_hung_up = p.Message(p.Kind.HANGUP, b"") in result.received

    reading = asyncio.create_task(read())
    try:
        writer.write(p.encode(p.Kind.UUID, uuid.UUID(call_id).bytes))
        for message in messages:
            if message.kind is p.Kind.UUID:
                continue
            if reading.done():
                break
            writer.write(p.encode(message.kind, message.payload))
            await writer.drain()
            if pace and message.kind is p.Kind.AUDIO:
                await asyncio.sleep(pace)
        if hang_up:
            writer.close()
        async with asyncio.timeout(30):
            await reading
    finally:
        writer.close()
    return result


def _tail(buffer: bytes) -> int:
    """Bytes of an incomplete last message (a cut connection)."""
    offset = 0
    while offset + 3 <= len(buffer):
        length = struct.unpack_from("!H", buffer, offset + 1)[0]
        if offset + 3 + length > len(buffer):
            break
        offset += 3 + length
    return len(buffer) - offset
