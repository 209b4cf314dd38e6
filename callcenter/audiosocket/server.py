"""The AudioSocket server: Asterisk streams a caller's audio here, the application records it.

The IVR asks for a recording with :meth:`AudioSocketServer.expect` (a fresh UUID and what
ends the message), then runs ``EXEC AudioSocket <uuid>,<address>`` over FastAGI. Asterisk
connects, sends the UUID, then 20 ms audio frames and DTMF. The session:

* writes the WAV as frames arrive (8 kHz mono 16-bit, what RECORD FILE wrote);
* plays a beep back through the socket first, as RECORD FILE's ``BEEP`` did;
* ends the message itself on an end digit (``#``), on ``silence_seconds`` of silence
  measured on the audio *and* on the wall clock (a Local channel sends no frames at all
  while the other side is silent; a SIP call sends them all the time), or at the length
  limit, by sending the hang-up message (``AudioSocket()`` returns ``result=0``);
* hands each frame to an optional listener (the live transcript) that never blocks it.

Bad input ends one session cleanly with a log line: no UUID, an unknown kind, a length over
the limit, garbage, a stall mid-message (read timeout), audio arriving faster than real
time (flood). What was received is kept as a recording. Every read has a deadline, memory
per session is bounded, nothing holds the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import math
import struct
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from callcenter.audiosocket import protocol as p
from callcenter.tasks import close_server

logger = logging.getLogger(__name__)

END_DTMF = "dtmf"
END_SILENCE = "silence"
END_MAX_LENGTH = "max_length"
END_HANGUP = "hangup"  # the caller hung up: Asterisk closed the socket
END_ERROR = "error"  # the peer broke the protocol, stalled or flooded
END_CANCELLED = "cancelled"  # the application stopped (shutdown) or gave up waiting


@dataclass(frozen=True)
class AudioSocketLimits:
    """Deadlines (seconds) and caps that keep one misbehaving peer to one session."""

    uuid_timeout: float = 5.0  # from connect to the UUID message
    frame_timeout: float = 2.0  # from a message's first byte to its last
    max_payload: int = p.MAX_PAYLOAD
    # Audio this far ahead of the wall clock (counted from the connection) is a flood. Generous:
    # a loaded loop that reads late sees what the kernel buffered meanwhile arrive at once.
    max_ahead_seconds: float | None = 10.0
    max_sessions: int = 500
    keepalive_seconds: float = 0.5  # 20 ms of silence to the caller this often (Asterisk's 2 s timeout)
    orphan_max_seconds: float = 300.0  # a session nobody expects is still recorded, this long
    shutdown_grace: float = 2.0


@dataclass(frozen=True)
class MessageSpec:
    """What one recording is: where it goes and what ends it."""

    path: Path
    max_seconds: float = 120.0
    silence_seconds: float = 5.0
    end_digits: str = "#"
    beep: bool = True
    call_uniqueid: str = ""
    phone: str = ""
    kind: str = "ivr"
    # Peak-to-peak amplitude (16-bit) below which a frame counts as silence: line noise on a
    # phone call is far under it, speech far over it.
    silence_threshold: int = 1200


@dataclass(frozen=True)
class RecordingOutcome:
    """How a streamed recording ended. ``speech`` says whether anything above the silence
    threshold was heard (an empty message is offered again, as with RECORD FILE)."""

    path: Path
    reason: str
    digit: str | None
    audio_bytes: int
    speech: bool
    error: str | None = None
    # The live transcript, when one is being made: an asyncio.Task giving the stt Transcript
    # (it may still be decoding the last audio when the outcome is settled).
    transcript: asyncio.Task[Any] | None = None

    @property
    def seconds(self) -> float:
        return self.audio_bytes / p.BYTES_PER_SECOND

    @property
    def recorded(self) -> bool:
        return self.audio_bytes > 0 and self.speech

    @property
    def hung_up(self) -> bool:
        return self.reason == END_HANGUP


class FrameListener(Protocol):
    """Gets the audio of one session as it arrives (the live transcript). ``feed`` must not
    block: queue and return."""

    def feed(self, pcm: bytes) -> None: ...

    async def finish(self, outcome: RecordingOutcome) -> Any: ...


ListenerFactory = Callable[[MessageSpec], FrameListener | None]


@dataclass
class AudioSocketStats:
    accepted: int = 0
    refused: int = 0
    completed: int = 0
    errors: int = 0
    orphans: int = 0
    frames: int = 0
    active: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class Expected:
    """A recording the IVR asked for, until Asterisk connects with its UUID and it ends."""

    def __init__(self, spec: MessageSpec, listeners: ListenerFactory | None = None) -> None:
        self.spec = spec
        self.uuid = uuid.uuid4()
        self.connected = asyncio.Event()
        self.listeners = listeners  # this session's frame listener, instead of the server's
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._ended = False
        self._outcome: asyncio.Future[RecordingOutcome] = asyncio.get_running_loop().create_future()

    def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The session's socket, once Asterisk connected with this UUID."""
        self._reader, self._writer = reader, writer
        if self._ended:
            self.hang_up()

    def hang_up(self) -> None:
        """End the session from the application: the hang-up message makes Asterisk hang the
        AudioSocket channel up (or return from ``AudioSocket()``), and the session ends now,
        as on a caller's hang-up, without waiting for Asterisk to close. Safe to call before
        the session connects (it then ends as soon as it does) and more than once."""
        self._ended = True
        writer, reader = self._writer, self._reader
        if writer is None or reader is None or writer.is_closing() or self.done:
            return
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.write(p.HANGUP)
        # What is still unread is dropped (the conversation is over): no more reads, then EOF.
        transport = writer.transport
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        reader.feed_eof()

    def settle(self, outcome: RecordingOutcome) -> None:
        if not self._outcome.done():
            self._outcome.set_result(outcome)

    def settle_cancelled(self, why: str) -> None:
        self.settle(RecordingOutcome(self.spec.path, END_CANCELLED, None, 0, False, error=why))

    @property
    def done(self) -> bool:
        return self._outcome.done()

    async def outcome(self, timeout: float) -> RecordingOutcome:
        """The outcome; a session that never came (or does not end in time) is cancelled."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._outcome)
        except TimeoutError:
            self.settle(
                RecordingOutcome(
                    self.spec.path, END_CANCELLED, None, 0, False, error=f"no AudioSocket outcome in {timeout:g} s"
                )
            )
            return self._outcome.result()


def beep_pcm(freq: float = 1000.0, seconds: float = 0.25, amplitude: int = 8000) -> bytes:
    """A short tone (slin16, 8 kHz), as RECORD FILE's BEEP."""
    per_frame = p.FRAME_BYTES // p.BYTES_PER_SAMPLE
    count = -(-int(p.SAMPLE_RATE * seconds) // per_frame) * per_frame  # whole 20 ms frames
    samples = (int(amplitude * math.sin(2 * math.pi * freq * n / p.SAMPLE_RATE)) for n in range(count))
    return struct.pack(f"<{count}h", *samples)


def peak_to_peak(pcm: bytes) -> int:
    """Peak-to-peak amplitude of slin16 audio (an odd trailing byte is ignored)."""
    usable = len(pcm) - len(pcm) % 2
    if not usable:
        return 0
    samples = memoryview(pcm)[:usable].cast("h")
    return max(samples) - min(samples)


class _WavSink:
    """The recording on disk, written as frames arrive (buffered writes of a few hundred
    bytes: microseconds on the loop; opening and closing run in a thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wav: wave.Wave_write | None = None
        self.bytes = 0

    async def open(self) -> None:
        def _open() -> wave.Wave_write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
            wav.setnchannels(1)
            wav.setsampwidth(p.BYTES_PER_SAMPLE)
            wav.setframerate(p.SAMPLE_RATE)
            return wav

        self._wav = await asyncio.to_thread(_open)

    def write(self, pcm: bytes) -> None:
        if self._wav is not None and pcm:
            usable = pcm[: len(pcm) - len(pcm) % 2]
            self._wav.writeframesraw(usable)
            self.bytes += len(usable)

    async def close(self) -> None:
        wav, self._wav = self._wav, None
        if wav is not None:
            await asyncio.to_thread(wav.close)


class _Session:
    """One connection: read the UUID, then record until something ends the message."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        server: AudioSocketServer,
        peer: str,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.server = server
        self.peer = peer
        self.limits = server.limits
        self.digit: str | None = None
        self.speech = False
        self.connected_at = time.monotonic()
        self._player: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            first = await p.read_message(
                self.reader,
                idle_timeout=self.limits.uuid_timeout,
                frame_timeout=self.limits.frame_timeout,
                max_payload=self.limits.max_payload,
            )
        except p.AudioSocketError as err:
            self.server.stats.errors += 1
            logger.warning("AudioSocket peer %s: %s before the UUID; session closed", self.peer, err)
            return
        try:
            call_id = p.check_uuid(first)
        except p.AudioSocketError as err:
            self.server.stats.errors += 1
            logger.warning("AudioSocket peer %s: %s; session closed", self.peer, err)
            if first.kind is p.Kind.AUDIO:  # audio instead of the UUID is kept all the same
                await self._keep_orphan(first.payload, "nouuid")
            return
        expected = self.server._claim(call_id)
        if expected is None:
            self.server.stats.orphans += 1
            spec = self.server.orphan_spec(call_id)
            logger.warning(
                "AudioSocket %s from %s: no recording expects this UUID; recording it to %s",
                call_id,
                self.peer,
                spec.path,
            )
        else:
            spec = expected.spec
            expected.attach(self.reader, self.writer)
            expected.connected.set()
        outcome = await self._record(spec, expected.listeners if expected is not None else None)
        self.server.stats.by_reason[outcome.reason] = self.server.stats.by_reason.get(outcome.reason, 0) + 1
        if expected is not None:
            expected.settle(outcome)

    async def _keep_orphan(self, pcm: bytes, tag: str) -> None:
        sink = _WavSink(self.server.orphan_spec(None, tag).path)
        await sink.open()
        sink.write(pcm)
        await sink.close()
        logger.warning("AudioSocket peer %s: %d bytes received kept in %s", self.peer, sink.bytes, sink.path)

    async def _record(self, spec: MessageSpec, listeners: ListenerFactory | None = None) -> RecordingOutcome:
        sink = _WavSink(spec.path)
        listener = self.server.listener_for(spec, listeners)
        reason, error = END_ERROR, None
        await sink.open()
        try:
            reason, error = await self._loop(spec, sink, listener)
        except asyncio.CancelledError:
            reason, error = END_CANCELLED, "application shutting down"
            raise
        finally:
            await sink.close()
            if self._player is not None:
                self._player.cancel()
                await asyncio.gather(self._player, return_exceptions=True)
            outcome = RecordingOutcome(spec.path, reason, self.digit, sink.bytes, self.speech, error)
            if reason != END_HANGUP and reason != END_CANCELLED:
                await self._send_hangup()
            self._log(spec, outcome)
            if listener is not None:
                # The outcome is settled now; the live transcript follows when its last chunk
                # is decoded (a loaded machine must not make the IVR wait for it).
                outcome = dataclasses.replace(outcome, transcript=self.server._finish_later(listener, outcome))
        return outcome

    def _log(self, spec: MessageSpec, outcome: RecordingOutcome) -> None:
        if outcome.reason == END_ERROR:
            self.server.stats.errors += 1
            logger.warning(
                "AudioSocket call %s from %s: %s; session ended, %.2f s kept in %s",
                spec.call_uniqueid or "?",
                self.peer,
                outcome.error,
                outcome.seconds,
                spec.path,
            )
        else:
            self.server.stats.completed += 1
            logger.info(
                "AudioSocket recording %s (call %s) ended by %s%s: %.2f s",
                spec.path,
                spec.call_uniqueid or "?",
                outcome.reason,
                f" ({outcome.digit})" if outcome.digit else "",
                outcome.seconds,
            )

    async def _loop(self, spec: MessageSpec, sink: _WavSink, listener: FrameListener | None) -> tuple[str, str | None]:
        started = time.monotonic()
        beep = beep_pcm() if spec.beep else b""
        self._player = asyncio.get_running_loop().create_task(self._play(beep), name="audiosocket-player")
        # Silence is counted from the end of the beep, by the frames and by the clock.
        last_voice = started + len(beep) / p.BYTES_PER_SECOND
        silent_bytes = 0  # silence measured on the audio: a SIP call sends silent frames
        while True:
            now = time.monotonic()
            silence_left = spec.silence_seconds - (now - last_voice)
            length_left = spec.max_seconds - sink.bytes / p.BYTES_PER_SECOND
            wall_left = spec.max_seconds + spec.silence_seconds - (now - started)
            if silence_left <= 0:
                return END_SILENCE, None
            if length_left <= 0 or wall_left <= 0:
                return END_MAX_LENGTH, None
            try:
                message = await p.read_message(
                    self.reader,
                    idle_timeout=min(silence_left, wall_left),
                    frame_timeout=self.limits.frame_timeout,
                    max_payload=self.limits.max_payload,
                )
            except p.Idle:
                continue  # the loop's head decides: silence, or the wall-clock length limit
            except p.PeerClosed:
                return END_HANGUP, None
            except p.AudioSocketError as err:
                return END_ERROR, str(err)
            except (ConnectionError, OSError) as err:
                return END_HANGUP, f"connection lost: {err}"
            if message.kind is p.Kind.AUDIO:
                self.server.stats.frames += 1
                sink.write(message.payload)
                if listener is not None:
                    listener.feed(message.payload)
                if peak_to_peak(message.payload) >= spec.silence_threshold:
                    self.speech = True
                    last_voice = time.monotonic()
                    silent_bytes = 0
                else:
                    silent_bytes += len(message.payload)
                    if silent_bytes >= spec.silence_seconds * p.BYTES_PER_SECOND:
                        return END_SILENCE, None
                ahead = self.limits.max_ahead_seconds
                elapsed = time.monotonic() - self.connected_at
                if ahead is not None and sink.bytes / p.BYTES_PER_SECOND > elapsed + ahead:
                    return END_ERROR, (
                        f"audio arrives faster than real time ({sink.bytes / p.BYTES_PER_SECOND:.1f} s of audio "
                        f"in {elapsed:.1f} s)"
                    )
            elif message.kind is p.Kind.DTMF:
                digit = message.digit
                if digit in spec.end_digits:
                    self.digit = digit
                    return END_DTMF, None
                logger.info("AudioSocket call %s: key %r ignored while recording", spec.call_uniqueid, digit)
            elif message.kind is p.Kind.ERROR:
                return END_ERROR, f"Asterisk reported error 0x{message.payload.hex() or '??'}"
            elif message.kind is p.Kind.HANGUP:
                return END_HANGUP, None
            else:  # a second UUID
                return END_ERROR, f"unexpected {message.kind.name} message mid-call"

    async def _play(self, pcm: bytes) -> None:
        """Send ``pcm`` to the caller at real-time pace (Asterisk plays what it gets), then
        20 ms of silence every ``keepalive_seconds``: app_audiosocket gives up after 2 s with
        no frame either way (MAX_WAIT_TIMEOUT_MSEC), and a Local channel sends none while
        the caller is silent."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            for index, offset in enumerate(range(0, len(pcm), p.FRAME_BYTES)):
                self.writer.write(p.audio(pcm[offset : offset + p.FRAME_BYTES]))
                await self.writer.drain()
                delay = start + (index + 1) * p.FRAME_MS / 1000 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            silence = p.audio(b"\x00" * p.FRAME_BYTES)
            while not self.writer.is_closing():
                await asyncio.sleep(self.limits.keepalive_seconds)
                self.writer.write(silence)
                await self.writer.drain()
        except (ConnectionError, OSError):
            return  # the caller is gone: the reader sees it too

    async def _send_hangup(self) -> None:
        if self.writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            self.writer.write(p.HANGUP)
            async with asyncio.timeout(1.0):
                await self.writer.drain()


def _networks(peers: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(peer, strict=False) for peer in peers)


class AudioSocketServer:
    """Listens for Asterisk's AudioSocket connections (loopback unless configured).

    ``recordings_dir`` receives the recordings of sessions nobody expects; ``advertise`` is
    ``host:port`` as Asterisk reaches us (the bound address if empty); ``listeners`` makes
    the per-call frame listener (the live transcript), or returns None."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        *,
        recordings_dir: Path,
        allowed_peers: Iterable[str] = ("127.0.0.1", "::1"),
        advertise: str = "",
        limits: AudioSocketLimits = AudioSocketLimits(),
        listeners: ListenerFactory | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._allowed = _networks(allowed_peers)
        self._advertise = advertise
        self.recordings_dir = Path(recordings_dir)
        self.limits = limits
        self._listeners = listeners
        self.stats = AudioSocketStats()
        self._expected: dict[uuid.UUID, Expected] = {}
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._finishing: set[asyncio.Task[Any]] = set()
        self._counter = 0

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AudioSocketServer is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def address(self) -> str:
        """``host:port`` for ``EXEC AudioSocket <uuid>,<address>``."""
        if self._advertise:
            return self._advertise
        host = self._host if self._host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def set_listeners(self, factory: ListenerFactory | None) -> None:
        self._listeners = factory

    def listener_for(self, spec: MessageSpec, factory: ListenerFactory | None = None) -> FrameListener | None:
        """The frame listener of one session: ``factory`` (given to :meth:`expect`) when set,
        else the server's."""
        factory = factory or self._listeners
        if factory is None:
            return None
        try:
            return factory(spec)
        except Exception:  # noqa: BLE001 - no live transcript, the recording goes on
            logger.exception("no live transcript for %s", spec.path)
            return None

    def _finish_later(self, listener: FrameListener, outcome: RecordingOutcome) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(listener.finish(outcome), name=f"live-{outcome.path.name}")
        self._finishing.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._finishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("live transcript %s failed", task.get_name(), exc_info=task.exception())

    def expect(self, spec: MessageSpec, listeners: ListenerFactory | None = None) -> Expected:
        """Register a recording; give ``expected.uuid`` to ``EXEC AudioSocket`` (or to an
        ``AudioSocket/<address>/<uuid>`` channel). ``listeners`` makes this session's frame
        listener instead of the server's (the live conversation's own transcript)."""
        expected = Expected(spec, listeners)
        self._expected[expected.uuid] = expected
        expected._outcome.add_done_callback(lambda _f: self._expected.pop(expected.uuid, None))
        return expected

    def _claim(self, call_id: uuid.UUID) -> Expected | None:
        expected = self._expected.get(call_id)
        if expected is None or expected.connected.is_set() or expected.done:
            return None
        return expected

    def orphan_spec(self, call_id: uuid.UUID | None, tag: str = "unexpected") -> MessageSpec:
        self._counter += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"audiosocket-{tag}-{stamp}-{call_id.hex if call_id else self._counter}.wav"
        return MessageSpec(
            path=self.recordings_dir / name,
            max_seconds=self.limits.orphan_max_seconds,
            silence_seconds=self.limits.orphan_max_seconds,
            end_digits="",
            beep=False,
            kind="orphan",
        )

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self._host, self._requested_port)
        logger.info("AudioSocket listening on %s:%d (Asterisk connects to %s)", self._host, self.port, self.address)

    async def close(self) -> None:
        server, self._server = self._server, None
        await close_server(server, self._sessions, self.limits.shutdown_grace)
        for task in list(self._finishing):
            task.cancel()
        await asyncio.gather(*self._finishing, return_exceptions=True)
        for expected in list(self._expected.values()):
            expected.settle(RecordingOutcome(expected.spec.path, END_CANCELLED, None, 0, False, "server closed"))

    async def __aenter__(self) -> AudioSocketServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def cleanup_ctx(self, _app: Any = None) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.close()

    async def wait_idle(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while self._sessions:
                await asyncio.wait(set(self._sessions))

    def _allowed_peer(self, peername: Any) -> bool:
        try:
            address = ipaddress.ip_address(peername[0].split("%", 1)[0])
        except (TypeError, ValueError, IndexError):
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._allowed)

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._counter += 1
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer), name=f"audiosocket-{self._counter}")
        self._sessions.add(task)
        self.stats.active = len(self._sessions)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        self.stats.active = len(self._sessions)
        if not task.cancelled() and task.exception() is not None:
            logger.error("AudioSocket session %s crashed", task.get_name(), exc_info=task.exception())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        try:
            if not self._allowed_peer(peername):
                self.stats.refused += 1
                logger.warning("AudioSocket connection from %s refused: not in the allowed Asterisk addresses", peer)
                return
            if len(self._sessions) > self.limits.max_sessions:
                self.stats.refused += 1
                logger.warning("AudioSocket connection from %s refused: %d sessions already", peer, len(self._sessions))
                return
            self.stats.accepted += 1
            await _Session(reader, writer, self, peer).run()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
