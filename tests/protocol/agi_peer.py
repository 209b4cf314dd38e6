"""A fake Asterisk for FastAGI tests: connects to the server over a real TCP socket, sends
the environment block exactly as Asterisk 22 does, and answers each command from a script.

Also loads tests/fixtures/asterisk-traces/agi-*.log so a test can replay what a real
Asterisk sent, byte for byte (``<< `` lines from Asterisk, ``>> `` lines from the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.config import Settings
from callcenter.ivr.agi import AgiServer

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
INVALID = "510 Invalid or unknown command"
HANGUP = "HANGUP"
STREAM_FILE_USAGE = (
    "520-Invalid command syntax.  Proper usage follows:",
    "Send the given file, allowing playback to be interrupted by the given digits, if any. Returns "
    "<literal>0</literal> if playback completes without a digit being pressed, or the ASCII numerical value "
    "of the digit if one was pressed, or <literal>-1</literal> on error or if the channel was disconnected. If "
    "musiconhold is playing before calling stream file it will be automatically stopped and will not be "
    "restarted after completion.",
    "It sets the following channel variables upon completion:",
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.",
    "    <value>SUCCESS</value>",
    "    <value>FAILED</value>",
    "520 End of proper usage.",
)

# Commands Asterisk still runs on a dead channel (res_agi marks them so); the others answer 511.
DEAD_OK = ("SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "DATABASE", "EXEC", "VERBOSE", "NOOP", "HANGUP")
KNOWN = DEAD_OK + (
    "ANSWER",
    "STREAM FILE",
    "GET DATA",
    "SAY DIGITS",
    "SAY NUMBER",
    "RECORD FILE",
    "WAIT FOR DIGIT",
    "CHANNEL STATUS",
    "CONTROL STREAM FILE",
    "GET OPTION",
    "SAY ALPHA",
)

TRACES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk-traces"

_SET_RE = re.compile(r'^SET VARIABLE (\S+) (?:"((?:[^"\\]|\\.)*)"|(\S*))$')
_GET_RE = re.compile(r"^GET VARIABLE (\S+)$")
_RECORD_RE = re.compile(r"^RECORD FILE (\S+) (\S+) ")
_ENDPOS_RE = re.compile(r"endpos=(\d+)$")


def environment_lines(
    script: str = "ivr",
    *,
    callerid: str = "+79780001122",
    uniqueid: str = "1795979627.17",
    calleridname: str = "Citizen",
    context: str = "hotline",
    extension: str = "1563",
    channel: str = "Local/1563@hotline-00000008;2",
) -> list[str]:
    """The environment block as Asterisk 22.10.1 sends it (agi-ivr-report.log), ready to send."""
    return [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:4573/{script}",
        f"agi_channel: {channel}",
        "agi_language: ru",
        "agi_type: Local",
        f"agi_uniqueid: {uniqueid}",
        "agi_version: 22.10.1",
        f"agi_callerid: {callerid}",
        f"agi_calleridname: {calleridname}",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: unknown",
        "agi_rdnis: unknown",
        f"agi_context: {context}",
        f"agi_extension: {extension}",
        "agi_priority: 3",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140216228955840",
        "",
    ]


@dataclass(frozen=True)
class Step:
    """One exchange: the command the server must send (prefix, or exact text) and the reply lines."""

    expect: str
    reply: tuple[str, ...]


def step(expect: str, *reply: str) -> Step:
    """Shorthand: ``step("STREAM FILE 1563/greeting", "200 result=0 endpos=8000")``."""
    return Step(expect, tuple(reply))


@dataclass
class PeerResult:
    """What the fake Asterisk saw."""

    commands: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    server_closed: bool = False
    script_left: int = 0
    recordings: list[Path] = field(default_factory=list)


def unquote(value: str) -> str:
    """Read back an AGI argument quoted by the server."""
    return re.sub(r"\\(.)", r"\1", value)


class FakeAsterisk:
    """One AGI session played against the server.

    ``script`` is answered in order. When it runs out: with ``dead_after`` the peer behaves
    as Asterisk on a hung-up channel (a bare HANGUP line once, then 511 for channel commands,
    200 for variable commands, 510 for unknown ones); otherwise an unexpected command is a
    mismatch. With ``auto_variables`` SET/GET VARIABLE not named by the next step are answered
    from ``variables`` without using a step."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        env: Sequence[str],
        script: Iterable[Step] = (),
        exact: bool = False,
        dead_after: bool = False,
        auto_variables: bool = False,
        variables: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        recording_bytes: bytes | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.env = list(env)
        self.script = list(script)
        self.exact = exact
        self.dead_after = dead_after
        self.auto_variables = auto_variables
        self.timeout = timeout
        self.result = PeerResult(variables=dict(variables or {}))
        # Like Asterisk on the same machine: a RECORD FILE that recorded something leaves a file.
        self.recording_bytes = recording_bytes
        self._hangup_sent = False

    async def run(self) -> PeerResult:
        """Connect, send the header, answer commands until the server closes the connection."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write("".join(line + "\n" for line in self.env).encode())
            await writer.drain()
            async with asyncio.timeout(self.timeout):
                await self._serve(reader, writer)
        except ConnectionError:
            # The server closed on us with data unread (a refused or broken session): a reset.
            self.result.server_closed = True
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self.result.script_left = len(self.script)
        return self.result

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            raw = await reader.readline()
            if not raw:
                self.result.server_closed = True
                return
            command = raw.decode().rstrip("\n")
            self.result.commands.append(command)
            reply = self.reply_to(command)
            if reply is None:
                return  # a mismatch: hang up on the server, as a confused peer would
            await self._write_recording(command, reply)
            writer.write("".join(line + "\n" for line in reply).encode())
            await writer.drain()

    async def _write_recording(self, command: str, reply: list[str]) -> None:
        match = _RECORD_RE.match(command)
        endpos = _ENDPOS_RE.search(reply[-1]) if reply else None
        if self.recording_bytes is None or match is None or endpos is None or int(endpos.group(1)) <= 0:
            return
        target = Path(f"{match.group(1)}.{match.group(2)}")
        await asyncio.to_thread(target.write_bytes, self.recording_bytes)
        self.result.recordings.append(target)

    def reply_to(self, command: str) -> list[str] | None:
        """The lines to send back for one command (None: a mismatch, recorded)."""
        self._note_variable(command)
        if self.script and self._matches(command, self.script[0].expect):
            if HANGUP in self.script[0].reply:
                self._hangup_sent = True
            return list(self.script.pop(0).reply)
        if self.auto_variables and (live := self._variable_reply(command)) is not None and not self._dead:
            return live
        if not self.script and self.dead_after:
            return self._dead_reply(command)
        expected = self.script[0].expect if self.script else "(end of script)"
        self.result.mismatches.append(f"got {command!r}, expected {expected!r}")
        return None

    @property
    def _dead(self) -> bool:
        return not self.script and self.dead_after

    def _matches(self, command: str, expect: str) -> bool:
        return command == expect if self.exact else command.startswith(expect)

    def _note_variable(self, command: str) -> None:
        match = _SET_RE.match(command)
        if match:
            value = match.group(2) if match.group(2) is not None else match.group(3)
            self.result.variables[match.group(1)] = unquote(value)

    def _variable_reply(self, command: str) -> list[str] | None:
        if _SET_RE.match(command):
            return ["200 result=1"]
        match = _GET_RE.match(command)
        if match:
            value = self.result.variables.get(match.group(1))
            return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]
        return None

    def _dead_reply(self, command: str) -> list[str]:
        lines = [] if self._hangup_sent else [HANGUP]
        self._hangup_sent = True
        if command.startswith("EXEC"):
            return lines + ["200 result=0"]
        if command.startswith(("SET VARIABLE", "GET VARIABLE")):
            return lines + self._variable_reply(command)
        if command.startswith(DEAD_OK):
            return lines + ["200 result=1"]
        return lines + [DEAD if command.startswith(KNOWN) else INVALID]


# --- the app's own IVR, scripted (tests/integration/test_ivr_*.py, test_incidents_ivr.py) ---

ESC = '"0123456789*#"'  # the escape digits the shipped menu passes to STREAM FILE


def play(name: str, key: str | None = None, *, failed: bool = False, endpos: int = 8000) -> Step:
    """The menu plays prompt ``1563/name``; the caller presses ``key`` (or not), or playback fails."""
    reply = "200 result=-1 endpos=0" if failed else f"200 result={ord(key) if key else 0} endpos={endpos}"
    return step(f"STREAM FILE 1563/{name} {ESC}", reply)


def scripted_agi_settings(settings: Settings, **changes: Any) -> Settings:
    """``settings`` for a scripted peer: the IVR records with RECORD FILE, which the peer answers
    (AudioSocket recording has its own tests)."""
    return dataclasses.replace(settings, ivr_recorder="record_file", **changes)


async def call_app_ivr(
    agi: AgiServer | None, script: list[Step], *, callerid: str, whole_script: bool = True, **options: Any
) -> PeerResult:
    """One call of ``callerid`` into the app's FastAGI server, answered from ``script`` (``options``
    go to FakeAsterisk). Every command matched its step (and, with ``whole_script``, every step was
    used), and the server's session has ended when this returns."""
    assert agi is not None, "the FastAGI server did not start with the app"
    peer = FakeAsterisk(
        "127.0.0.1", agi.port, env=environment_lines("ivr", callerid=callerid), script=script, **options
    )
    result = await peer.run()
    await agi.wait_idle(5)
    assert result.mismatches == [], (result.mismatches, result.commands)
    assert not whole_script or result.script_left == 0, (result.script_left, result.commands)
    return result


# --- recorded traces -------------------------------------------------------------------


@dataclass(frozen=True)
class TraceSession:
    """One AGI session from an agi-*.log trace."""

    source: str
    env: tuple[str, ...]  # header lines, ending with the blank line
    steps: tuple[Step, ...]


def trace_files() -> list[Path]:
    """Every agi-*.log in the traces folder."""
    return sorted(TRACES_DIR.glob("agi-*.log"))


def load_trace(path: Path) -> list[TraceSession]:
    """Parse a trace: ``=== session``, header ``<< `` lines, then ``>> `` commands and replies."""
    sessions: list[TraceSession] = []
    env: list[str] | None = None
    steps: list[Step] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("=== session"):
            env, steps = [], []
        elif line.startswith("=== end") and env is not None:
            sessions.append(TraceSession(path.name, tuple(env), tuple(steps)))
            env = None
        elif line.startswith(">> "):
            steps.append(Step(line[3:], ()))
        elif line.startswith("<<") and env is not None:
            text = line[3:]  # exact: "agi_accountcode: " keeps its trailing space
            if steps:
                steps[-1] = Step(steps[-1].expect, steps[-1].reply + (text,))
            else:
                env.append(text)
    return sessions


def trace_sessions() -> list[TraceSession]:
    """All sessions of all traces."""
    return [session for path in trace_files() for session in load_trace(path)]
