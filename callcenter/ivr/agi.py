"""FastAGI on asyncio, exact to what Asterisk 22 sends (see asterisk-traces/agi-*.log).

Asterisk connects, sends an environment block (``agi_key: value`` lines ended by a blank
line), then answers each command line with one reply line, except that:

* a multi-line usage reply starts with ``520-`` and ends with ``520 End of proper usage.``;
* a bare ``HANGUP`` line arrives when the caller hangs up, possibly before the reply to
  the command in flight; afterwards most commands answer ``511``;
* ``1xx`` lines (``100 result=0 Trying...``) are provisional and followed by the real reply.

Every read and write has a deadline, lines and the header are size-capped, and end of file
is never retried, so a peer that stalls, floods or vanishes costs one session, never the
event loop (the traps in panoramisk's fast_agi this module exists to avoid).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.ivr import channel_vars as cv
from callcenter.tasks import close_server

logger = logging.getLogger(__name__)

ALL_DIGITS = "0123456789*#"
NO_DIGITS = ""

AgiHandler = Callable[["AgiChannel"], Awaitable[None]]

_LINE_RE = re.compile(r"^(\d{3})(?:([ -])(.*))?$")
_RESULT_RE = re.compile(r"^result=(\S*)(?:\s+(.*))?$")
_ENDPOS_RE = re.compile(r"^(.*?)\s*\bendpos=(-?\d+)$")
_HEADER_KEY_RE = re.compile(r"^agi_[a-z0-9_]+$")
_TOKEN_RE = re.compile(r'^[^\s"\\]+$')


class AgiError(Exception):
    """Base of every error this module raises."""


class AgiHangup(AgiError):
    """The caller is gone: ``511`` on a dead channel, or Asterisk closed the connection."""


class AgiProtocolError(AgiError):
    """The peer broke the protocol (garbage, overlong line, early close) or stalled."""


class AgiTimeout(AgiProtocolError):
    """A read or write did not finish before its deadline."""


class AgiCommandError(AgiError):
    """Asterisk refused a command (``510`` unknown, ``520`` bad syntax, or a failure result)."""

    def __init__(self, command: str, reply: AgiReply, message: str | None = None) -> None:
        super().__init__(message or f"{command!r} failed: {reply.lines[-1]!r}")
        self.command = command
        self.reply = reply


@dataclass(frozen=True)
class AgiReply:
    """One parsed reply: ``200 result=35 (dtmf) endpos=10501`` -> code 200, result "35",
    data "dtmf", endpos 10501. ``lines`` keeps every line of a multi-line ``520`` reply."""

    code: int
    result: str | None
    data: str | None
    endpos: int | None
    lines: tuple[str, ...]

    @property
    def result_int(self) -> int | None:
        """The result as an integer, or None when it is empty or not a number."""
        try:
            return int(self.result) if self.result else None
        except ValueError:
            return None

    @property
    def usage(self) -> str:
        """The usage text of a ``520`` reply (the lines between the first and the last)."""
        return "\n".join(self.lines[1:-1])

    @classmethod
    def parse(cls, lines: Iterable[str]) -> AgiReply:
        """Parse the lines of one reply; raise AgiProtocolError on anything else."""
        lines = tuple(lines)
        match = _LINE_RE.match(lines[0]) if lines else None
        if match is None:
            raise AgiProtocolError(f"not an AGI reply line: {lines[0][:120]!r}" if lines else "empty reply")
        code, rest = int(match.group(1)), match.group(3) or ""
        if code != 200:
            return cls(code=code, result=None, data=rest or None, endpos=None, lines=lines)
        result_match = _RESULT_RE.match(rest)
        if result_match is None:
            raise AgiProtocolError(f"200 reply without result=: {lines[0][:120]!r}")
        result, tail = result_match.group(1), (result_match.group(2) or "").strip()
        endpos = None
        endpos_match = _ENDPOS_RE.match(tail)
        if endpos_match is not None:
            tail, endpos = endpos_match.group(1), int(endpos_match.group(2))
        data = tail[1:-1] if tail.startswith("(") and tail.endswith(")") else (tail or None)
        return cls(code=code, result=result, data=data, endpos=endpos, lines=lines)


@dataclass(frozen=True)
class PlaybackResult:
    """Outcome of STREAM FILE / SAY *: the key that interrupted it, if any.

    ``failed`` (result -1) means the file is missing or the caller is gone; the next
    command tells which (a dead channel answers ``511``)."""

    digit: str | None
    endpos: int | None
    failed: bool


@dataclass(frozen=True)
class DigitsResult:
    """Outcome of GET DATA / WAIT FOR DIGIT."""

    digits: str
    timed_out: bool
    failed: bool


@dataclass(frozen=True)
class RecordResult:
    """Outcome of RECORD FILE: why it ended ("dtmf", "timeout", "hangup", "writefile"...)."""

    reason: str
    digit: str | None
    endpos: int | None
    failed: bool

    @property
    def ended_by_hangup(self) -> bool:
        """The caller hung up while recording: what was said so far is in the file."""
        return self.reason == "hangup"


@dataclass(frozen=True)
class AgiEnvironment:
    """The ``agi_*`` block Asterisk sends first."""

    values: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        """One value by its full key (``agi_callerid``)."""
        return self.values.get(key, default)

    @property
    def script(self) -> str:
        """Script name: the path of ``agi://host/NAME`` without query or slashes."""
        raw = self.get("agi_network_script") or self.get("agi_request").split("/", 3)[-1]
        return raw.split("?", 1)[0].strip("/")

    @property
    def uniqueid(self) -> str:
        """Asterisk's id of the channel, e.g. ``1795979627.17``."""
        return self.get("agi_uniqueid")

    @property
    def channel(self) -> str:
        """Channel name, e.g. ``PJSIP/city-trunk-00000012``."""
        return self.get("agi_channel")

    @property
    def callerid(self) -> str:
        """Caller's number, "" when Asterisk says ``unknown``."""
        value = self.get("agi_callerid")
        return "" if value.lower() == "unknown" else value

    @property
    def language(self) -> str:
        """Channel language (``ru``): SAY DIGITS speaks in it."""
        return self.get("agi_language")

    @property
    def args(self) -> list[str]:
        """``agi_arg_1``, ``agi_arg_2``... in order."""
        numbered = [(int(k[8:]), v) for k, v in self.values.items() if k[8:].isdigit() and k.startswith("agi_arg_")]
        return [value for _, value in sorted(numbered)]


@dataclass(frozen=True)
class AgiTimeouts:
    """Deadlines in seconds. ``media`` bounds commands that play or record sound."""

    header: float = 10.0
    command: float = 30.0
    media: float = 300.0
    session: float = 3600.0
    shutdown_grace: float = 5.0


@dataclass(frozen=True)
class AgiLimits:
    """Size caps that keep a misbehaving peer from eating memory."""

    max_line_bytes: int = 8192
    max_header_bytes: int = 16384
    max_header_lines: int = 200
    max_usage_lines: int = 200
    max_sessions: int = 2000


def quote(value: str) -> str:
    """Quote an argument the way Asterisk's AGI argument parser reads it back."""
    _reject_newlines(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _token(value: str, what: str) -> str:
    """An unquoted argument (file name, variable name): no spaces, quotes or backslashes."""
    if not _TOKEN_RE.match(value):
        raise ValueError(f"{what} must be one word without quotes or backslashes: {value!r}")
    return value


def _reject_newlines(value: str) -> None:
    # A newline would end the command early and smuggle a second one in.
    if "\n" in value or "\r" in value:
        raise ValueError(f"AGI arguments cannot contain line breaks: {value!r}")


def _ascii_digit(result: int | None) -> str | None:
    return chr(result) if result is not None and 0 < result < 128 else None


class AgiChannel:
    """One FastAGI session: send commands, read replies, know whether the caller is gone."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: AgiEnvironment,
        *,
        timeouts: AgiTimeouts,
        limits: AgiLimits,
        peer: str = "",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.env = env
        self.peer = peer
        self._timeouts = timeouts
        self._limits = limits
        self._lock = asyncio.Lock()
        self._broken: str | None = None
        self.hung_up = False

    @property
    def usable(self) -> bool:
        """False once the stream is out of step (timeout, garbage, closed): no more commands."""
        return self._broken is None

    async def command(self, line: str, *, timeout: float | None = None) -> AgiReply:
        """Send one raw command line and return its reply.

        Raises AgiHangup on ``511`` or a closed connection, AgiCommandError on ``510``/``520``
        and other non-200 codes, AgiProtocolError/AgiTimeout when the peer misbehaves."""
        _reject_newlines(line)
        if self._broken is not None:
            raise AgiProtocolError(f"session unusable: {self._broken}")
        async with self._lock:
            self._broken = "command interrupted"  # cleared only when the reply is complete
            reply = await self._exchange(line, self._timeouts.command if timeout is None else timeout)
            self._broken = None
        return self._check(line, reply)

    async def _exchange(self, line: str, timeout: float) -> AgiReply:
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(line.encode() + b"\n")
                await self._writer.drain()
                return await self._read_reply()
        except TimeoutError as err:
            self._broken = f"no reply to {line!r} within {timeout:g} s"
            raise AgiTimeout(self._broken) from err
        except AgiHangup as err:
            self._broken = str(err)
            raise
        except AgiProtocolError as err:
            self._broken = str(err)
            raise
        except (ConnectionError, OSError) as err:
            self._broken = f"connection lost: {err}"
            self.hung_up = True
            raise AgiHangup(self._broken) from err

    async def _read_reply(self) -> AgiReply:
        while True:
            line = await self._read_line()
            if line == "HANGUP":
                # Asterisk tells us the caller hung up; the reply to our command still follows.
                self.hung_up = True
                continue
            if line.startswith("520-"):
                return AgiReply.parse(await self._read_usage(line))
            reply = AgiReply.parse([line])
            if 100 <= reply.code < 200:
                continue  # provisional ("100 result=0 Trying..."); the real reply follows
            return reply

    async def _read_usage(self, first: str) -> list[str]:
        lines = [first]
        while not lines[-1].startswith("520 "):
            if len(lines) >= self._limits.max_usage_lines:
                raise AgiProtocolError(f"520 usage text longer than {self._limits.max_usage_lines} lines")
            lines.append(await self._read_line())
        return lines

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readline()
        except ValueError as err:  # the StreamReader limit: a line longer than max_line_bytes
            raise AgiProtocolError(f"line longer than {self._limits.max_line_bytes} bytes") from err
        if not raw.endswith(b"\n"):
            self.hung_up = True
            raise AgiHangup("Asterisk closed the connection")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def _check(self, line: str, reply: AgiReply) -> AgiReply:
        if reply.code == 200:
            return reply
        if reply.code == 511:
            self.hung_up = True
            raise AgiHangup(f"{line!r}: {reply.lines[-1]}")
        raise AgiCommandError(line, reply)

    # --- typed commands, formatted exactly as in the traces -----------------------------

    async def answer(self) -> AgiReply:
        """ANSWER the channel."""
        return await self.command("ANSWER")

    async def stream_file(
        self, name: str, escape_digits: str = ALL_DIGITS, offset: int | None = None
    ) -> PlaybackResult:
        """STREAM FILE: play a sound; a key in escape_digits stops it and is returned."""
        line = f"STREAM FILE {_token(name, 'sound name')} {quote(escape_digits)}"
        reply = await self.command(line if offset is None else f"{line} {int(offset)}", timeout=self._timeouts.media)
        return _playback(reply)

    async def get_data(self, name: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        """GET DATA: play a sound and collect up to max_digits keys (``#`` ends early)."""
        line = f"GET DATA {_token(name, 'sound name')} {int(timeout_ms)} {int(max_digits)}"
        reply = await self.command(line, timeout=self._timeouts.media + timeout_ms / 1000)
        if reply.result == "-1":
            return DigitsResult(digits="", timed_out=False, failed=True)
        return DigitsResult(digits=reply.result or "", timed_out=reply.data == "timeout", failed=False)

    async def wait_for_digit(self, timeout_ms: int) -> DigitsResult:
        """WAIT FOR DIGIT: one key or a timeout."""
        reply = await self.command(
            f"WAIT FOR DIGIT {int(timeout_ms)}", timeout=self._timeouts.command + max(timeout_ms, 0) / 1000
        )
        result = reply.result_int
        digit = _ascii_digit(result)
        return DigitsResult(digits=digit or "", timed_out=result == 0, failed=result is None or result < 0)

    async def say_digits(self, digits: str, escape_digits: str = NO_DIGITS) -> PlaybackResult:
        """SAY DIGITS: read a number digit by digit in the channel's language."""
        if not digits.isdigit():
            raise ValueError(f"SAY DIGITS needs digits: {digits!r}")
        reply = await self.command(f"SAY DIGITS {digits} {quote(escape_digits)}", timeout=self._timeouts.media)
        return _playback(reply)

    async def say_number(
        self, number: int, escape_digits: str = NO_DIGITS, gender: str | None = None
    ) -> PlaybackResult:
        """SAY NUMBER: read a whole number in the channel's language."""
        line = f"SAY NUMBER {int(number)} {quote(escape_digits)}"
        if gender:
            line += f" {_token(gender, 'gender')}"
        return _playback(await self.command(line, timeout=self._timeouts.media))

    async def record_file(
        self,
        path: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = 60000,
        offset: int = 0,
        beep: bool = True,
        silence_s: int | None = None,
    ) -> RecordResult:
        """RECORD FILE: record to ``path`` (no extension, on Asterisk's machine) in ``fmt``.

        A hang-up while recording is returned (``reason == "hangup"``), not raised: what the
        caller said so far is in the file and must not be lost."""
        line = (
            f"RECORD FILE {_token(path, 'recording path')} {_token(fmt, 'format')} {quote(escape_digits)} "
            f"{int(timeout_ms)} {int(offset)}"
        )
        if beep:
            line += " BEEP"
        if silence_s:
            line += f" s={int(silence_s)}"
        budget = self._timeouts.media if timeout_ms < 0 else self._timeouts.command + timeout_ms / 1000
        reply = await self.command(line, timeout=budget)
        result = reply.result_int
        reason = reply.data or ("dtmf" if result and result > 0 else "timeout")
        if reason == "hangup":
            self.hung_up = True
        digit = _ascii_digit(result) if reason == "dtmf" else None
        return RecordResult(reason=reason, digit=digit, endpos=reply.endpos, failed=result == -1 and reason != "hangup")

    async def set_variable(self, name: str, value: str) -> AgiReply:
        """SET VARIABLE (works on a dead channel too, as the traces show)."""
        return await self.command(f"SET VARIABLE {_token(name, 'variable name')} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        """GET VARIABLE: the value, or None when the variable is not set."""
        reply = await self.command(f"GET VARIABLE {_token(name, 'variable name')}")
        return reply.data if reply.result == "1" else None

    async def exec(self, application: str, *args: str, timeout: float | None = None) -> AgiReply:
        """EXEC a dialplan application; its arguments are joined with commas."""
        line = f"EXEC {_token(application, 'application')}"
        if args:
            options = ",".join(args)
            line += f" {options if _TOKEN_RE.match(options) else quote(options)}"
        reply = await self.command(line, timeout=self._timeouts.media if timeout is None else timeout)
        if reply.result == "-2":
            raise AgiCommandError(line, reply, f"no such application: {application}")
        return reply

    async def channel_status(self) -> int:
        """CHANNEL STATUS: Asterisk's channel state number (6 = up)."""
        reply = await self.command("CHANNEL STATUS")
        return reply.result_int if reply.result_int is not None else -1

    async def verbose(self, message: str, level: int = 1) -> AgiReply:
        """VERBOSE: a line in Asterisk's console log."""
        return await self.command(f"VERBOSE {quote(message)} {int(level)}")

    async def hangup(self) -> AgiReply:
        """HANGUP the channel."""
        return await self.command("HANGUP")


def _playback(reply: AgiReply) -> PlaybackResult:
    result = reply.result_int
    return PlaybackResult(digit=_ascii_digit(result), endpos=reply.endpos, failed=result is None or result < 0)


async def read_environment(reader: asyncio.StreamReader, timeouts: AgiTimeouts, limits: AgiLimits) -> AgiEnvironment:
    """Read the ``agi_*`` block up to its blank line, within the header deadline and caps."""
    try:
        async with asyncio.timeout(timeouts.header):
            return await _read_environment_lines(reader, limits)
    except TimeoutError as err:
        raise AgiTimeout(f"no complete AGI header within {timeouts.header:g} s") from err


async def _read_environment_lines(reader: asyncio.StreamReader, limits: AgiLimits) -> AgiEnvironment:
    values: dict[str, str] = {}
    total = 0
    for _ in range(limits.max_header_lines):
        try:
            raw = await reader.readline()
        except ValueError as err:
            raise AgiProtocolError(f"header line longer than {limits.max_line_bytes} bytes") from err
        if not raw.endswith(b"\n"):
            # End of file: report it once; never read again (panoramisk loops here forever).
            raise AgiProtocolError(f"peer closed the connection inside the AGI header after {len(values)} lines")
        total += len(raw)
        if total > limits.max_header_bytes:
            raise AgiProtocolError(f"AGI header larger than {limits.max_header_bytes} bytes")
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            return _checked_environment(values)
        key, sep, value = line.partition(":")
        if not sep or not _HEADER_KEY_RE.match(key):
            raise AgiProtocolError(f"not an AGI header line: {line[:120]!r}")
        values[key] = value[1:] if value.startswith(" ") else value
    raise AgiProtocolError(f"AGI header longer than {limits.max_header_lines} lines")


def _checked_environment(values: dict[str, str]) -> AgiEnvironment:
    if "agi_network_script" not in values and "agi_request" not in values:
        raise AgiProtocolError("AGI header names no script (agi_network_script / agi_request missing)")
    return AgiEnvironment(values=dict(values))


@dataclass
class AgiServerStats:
    """Counters for logs, health pages and tests (per server instance)."""

    accepted: int = 0
    refused: int = 0
    bad_header: int = 0
    unknown_script: int = 0
    completed: int = 0
    hung_up: int = 0
    failed: int = 0
    active: int = 0
    by_script: dict[str, int] = field(default_factory=dict)


def _parse_networks(peers: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(peer, strict=False) for peer in peers)


class AgiServer:
    """FastAGI server: routes each session by script name to a handler from an explicit table.

    Use ``await start()`` / ``await close()``, ``async with``, or ``cleanup_ctx`` as an
    aiohttp ``cleanup_ctx`` resource. ``port`` is the bound port (useful with port 0)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4573,
        routes: Mapping[str, AgiHandler] | None = None,
        *,
        allowed_peers: Iterable[str] = ("127.0.0.1", "::1"),
        timeouts: AgiTimeouts = AgiTimeouts(),
        limits: AgiLimits = AgiLimits(),
    ) -> None:
        self._host = host
        self._requested_port = port
        self._routes = dict(routes or {})
        self._allowed = _parse_networks(allowed_peers)
        self.timeouts = timeouts
        self.limits = limits
        self.stats = AgiServerStats()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._counter = 0

    @property
    def port(self) -> int:
        """The port actually bound (after start())."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AgiServer is not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        """Bind and start accepting Asterisk's connections."""
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self._requested_port, limit=self.limits.max_line_bytes
        )
        logger.info("FastAGI listening on %s:%d (scripts: %s)", self._host, self.port, ", ".join(sorted(self._routes)))

    async def close(self) -> None:
        """Stop accepting, let sessions finish for a short grace period, then cancel the rest."""
        server, self._server = self._server, None
        await close_server(server, self._sessions, self.timeouts.shutdown_grace)
        logger.info("FastAGI server closed")

    async def cleanup_ctx(self, _app: Any = None) -> AsyncIterator[None]:
        """aiohttp cleanup_ctx resource: ``app.cleanup_ctx.append(server.cleanup_ctx)``."""
        await self.start()
        try:
            yield
        finally:
            await self.close()

    async def __aenter__(self) -> AgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no session is running (tests and graceful shutdown)."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._counter += 1
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer), name=f"agi-session-{self._counter}")
        self._sessions.add(task)
        self._idle.clear()
        self.stats.active = len(self._sessions)
        task.add_done_callback(self._session_done)

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        self.stats.active = len(self._sessions)
        if not self._sessions:
            self._idle.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("FastAGI session %s crashed", task.get_name(), exc_info=task.exception())

    def _peer_allowed(self, peer: Any) -> bool:
        try:
            address = ipaddress.ip_address(peer[0].split("%", 1)[0])
        except (TypeError, ValueError, IndexError):
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._allowed)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "?"
        try:
            if not self._admit(peername, peer):
                return
            try:
                env = await read_environment(reader, self.timeouts, self.limits)
            except AgiProtocolError as err:
                self.stats.bad_header += 1
                logger.warning("FastAGI peer %s: %s; connection closed", peer, err)
                return
            channel = AgiChannel(reader, writer, env, timeouts=self.timeouts, limits=self.limits, peer=peer)
            await self._dispatch(channel)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    def _admit(self, peername: Any, peer: str) -> bool:
        if not self._peer_allowed(peername):
            self.stats.refused += 1
            logger.warning("FastAGI connection from %s refused: not in the allowed Asterisk addresses", peer)
            return False
        if len(self._sessions) > self.limits.max_sessions:
            self.stats.refused += 1
            logger.warning("FastAGI connection from %s refused: %d sessions already", peer, self.limits.max_sessions)
            return False
        self.stats.accepted += 1
        return True

    async def _dispatch(self, channel: AgiChannel) -> None:
        script = channel.env.script
        handler = self._routes.get(script)
        if handler is None:
            self.stats.unknown_script += 1
            logger.error(
                "FastAGI: no script %r (known: %s); caller %s sent to the operator",
                script,
                ", ".join(sorted(self._routes)),
                channel.env.callerid,
            )
            await send_to_operator(channel)
            return
        self.stats.by_script[script] = self.stats.by_script.get(script, 0) + 1
        await self._run_handler(script, handler, channel)

    async def _run_handler(self, script: str, handler: AgiHandler, channel: AgiChannel) -> None:
        uniqueid = channel.env.uniqueid
        try:
            async with asyncio.timeout(self.timeouts.session):
                await handler(channel)
            self.stats.completed += 1
        except AgiHangup as err:
            self.stats.hung_up += 1
            logger.info("AGI %s %s: caller gone (%s)", script, uniqueid, err)
        except AgiProtocolError as err:
            # The peer broke the protocol or stalled: its session is over, nothing more can be sent.
            self.stats.failed += 1
            logger.warning("AGI %s %s: %s; session closed", script, uniqueid, err)
            await send_to_operator(channel)
        except Exception:
            # Never leave a caller in silence: log, then hand the call to the operator queue.
            self.stats.failed += 1
            logger.exception("AGI %s %s failed; sending the caller to the operator", script, uniqueid)
            await send_to_operator(channel)


async def send_to_operator(channel: AgiChannel) -> bool:
    """Set IVR_ROUTE=operator so the dialplan runs Queue(hotline); False if it could not."""
    if not channel.usable:
        return False
    try:
        await channel.set_variable(cv.IVR_ROUTE, cv.ROUTE_OPERATOR)
    except AgiError as err:
        logger.warning("could not route %s to the operator: %s", channel.env.uniqueid, err)
        return False
    return True
