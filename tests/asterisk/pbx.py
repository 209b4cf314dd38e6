"""A private, real Asterisk 22 for the journeys: its own folders and ports, the project's config.

``PrivateAsterisk`` writes an ``asterisk.conf`` whose every directory points into a temporary
folder (modules and the stock sounds come from the build prefix), loads the project's own
``asterisk-config/`` files through ``#include`` and adds a small overlay (``overlay/``) for
what a test machine lacks: operators' phones as Local channels that answer, the AMI port and
secrets, where the FastAGI server listens, and the simulated citizens.

``Driver`` is the tests' own AMI session (a separate, all-powerful AMI user of the overlay):
it places the citizens' calls and watches what Asterisk does. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "asterisk-config"
OVERLAY = Path(__file__).resolve().parent / "overlay"
BOOT_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Layout:
    """The private folders and ports of one Asterisk."""

    base: Path
    prefix: Path
    ami_port: int
    agi_port: int
    ami_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    driver_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def etc(self) -> Path:
        return self.base / "etc"

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def sounds(self) -> Path:
        return self.data / "sounds"

    @property
    def prompts(self) -> Path:
        """Where the IVR's prompts go: <sounds>/ru/1563 (menu.yaml: sound_prefix "1563/")."""
        return self.sounds / "ru" / "1563"

    @property
    def citizen_sounds(self) -> Path:
        return self.base / "citizens"

    @property
    def log(self) -> Path:
        return self.base / "log" / "full"


def write_config(layout: Layout) -> None:
    """asterisk.conf and the etc/ folder: the shipped files included, then the overlay."""
    base, prefix = layout.base, layout.prefix
    for sub in ("etc", "lib", "spool", "run", "log", "agi-bin", "keys", "citizens"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    if not (prefix / "var" / "lib" / "asterisk").is_dir():
        raise RuntimeError(f"no {prefix / 'var/lib/asterisk'}: not an Asterisk build prefix")
    _link_sounds(prefix / "var" / "lib" / "asterisk", layout.data)
    layout.prompts.mkdir(parents=True, exist_ok=True)
    found = [
        p for p in (prefix / "lib" / "asterisk" / "modules", prefix / "lib64" / "asterisk" / "modules") if p.is_dir()
    ]
    if not found:
        raise RuntimeError(f"no Asterisk modules under {prefix} (lib/asterisk/modules): not a build prefix")
    modules = found[0]
    (layout.etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {layout.etc}
astmoddir => {modules}
astvarlibdir => {base / "lib"}
astdbdir => {base / "lib"}
astkeydir => {base / "keys"}
astdatadir => {layout.data}
astagidir => {base / "agi-bin"}
astspooldir => {base / "spool"}
astrundir => {base / "run"}
astlogdir => {base / "log"}
astsbindir => {prefix / "sbin"}

[options]
verbose = 3
debug = 0
nocolor = yes
transmit_silence = no
""")
    values = {
        "SHIPPED": str(SHIPPED),
        "AMI_PORT": str(layout.ami_port),
        "AMI_SECRET": layout.ami_secret,
        "DRIVER_SECRET": layout.driver_secret,
        "AGI_PORT": str(layout.agi_port),
        "CITIZENS": str(layout.citizen_sounds),
    }
    for template in OVERLAY.glob("*.conf"):
        text = template.read_text()
        for key, value in values.items():
            text = text.replace("@" + key + "@", value)
        (layout.etc / template.name).write_text(text)


def _link_sounds(stock: Path, data: Path) -> None:
    """<data> mirrors the prefix's var/lib/asterisk (XML documentation and the rest linked);
    <data>/sounds/{ru,en}/... link to the stock sounds, with room for our own ru/1563."""
    data.mkdir(parents=True, exist_ok=True)
    for entry in stock.iterdir():
        if entry.name != "sounds" and not (data / entry.name).exists():
            (data / entry.name).symlink_to(entry.resolve())
    for lang in ("ru", "en"):
        target = data / "sounds" / lang
        target.mkdir(parents=True, exist_ok=True)
        source = stock / "sounds" / lang
        if not source.exists():
            continue
        for entry in source.iterdir():
            link = target / entry.name
            if not link.exists():
                link.symlink_to(entry.resolve())


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies (even killed), so no Asterisk is left behind."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PrivateAsterisk:
    """One Asterisk process (``asterisk -f -C <tmp>/etc/asterisk.conf``)."""

    def __init__(self, binary: Path, layout: Layout) -> None:
        self.binary = binary
        self.layout = layout
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("Asterisk is already running")
        self.starts += 1
        out = open(self.layout.base / "log" / f"stdout-{self.starts}.txt", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(self.binary), "-f", "-n", "-C", str(self.layout.etc / "asterisk.conf")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        out.close()
        self._wait_booted()

    def _wait_booted(self) -> None:
        """Log in over AMI until Asterisk says FullyBooted; fail with its log after BOOT_TIMEOUT."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Asterisk exited with {self.process.returncode} at start:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.layout.ami_port), timeout=2) as sock:
                    sock.settimeout(5)
                    sock.sendall(
                        f"Action: Login\r\nUsername: driver\r\nSecret: {self.layout.driver_secret}\r\n"
                        "Events: system\r\n\r\n".encode()
                    )
                    data = b""
                    while b"FullyBooted" not in data and time.monotonic() < deadline:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if b"FullyBooted" in data:
                        return
                    last = data.decode(errors="replace")[-300:]
            except OSError as err:
                last = str(err)
            time.sleep(0.1)  # the port is not open yet: nothing to wait on but time
        raise RuntimeError(f"Asterisk did not boot within {BOOT_TIMEOUT:g} s ({last}):\n{self.tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """An abrupt end (as a crash): every call dies with it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(15)

    def tail(self, lines: int = 40) -> str:
        text = ""
        for path in sorted((self.layout.base / "log").glob("stdout-*.txt")) + [self.layout.log]:
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        return self.layout.log.read_text(errors="replace") if self.layout.log.exists() else ""


def make_sound(text: str, target: Path, *, voice: str = "ru", wpm: int = 150) -> float:
    """Speak ``text`` with espeak-ng into an 8 kHz mono 16-bit WAV; returns its length in seconds."""
    spoken = target.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(spoken), text], check=True, timeout=60)
    subprocess.run(
        ["sox", "-G", str(spoken), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(target)],
        check=True,
        timeout=60,
    )
    spoken.unlink()
    return wav_seconds(target)


def wav_seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True, timeout=30)
    return float(out.stdout.strip())


@dataclass
class Pbx:
    """The session's Asterisk and what the tests need to know about it."""

    asterisk: PrivateAsterisk
    layout: Layout
    complaint_seconds: float
    comment_seconds: float

    def settings(self, database_url: str, tmp_path: Path, **extra: Any) -> Settings:
        """The app's settings for this Asterisk: real AMI link, FastAGI where the dialplan calls."""
        return load_settings(environ={}, overrides=self.overrides(database_url, tmp_path, **extra))

    def environment(self, database_url: str, tmp_path: Path, **extra: Any) -> dict[str, str]:
        """The same settings as ``CALLCENTER_*`` variables, for a `callcenter serve` process."""
        return {
            f"CALLCENTER_{name.upper()}": str(value)
            for name, value in self.overrides(database_url, tmp_path, **extra).items()
        }

    def overrides(self, database_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
        overrides: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "secret_key": "test-secret",
            "ami_host": "127.0.0.1",
            "ami_port": self.layout.ami_port,
            "ami_username": "callcenter",
            "ami_secret": self.layout.ami_secret,
            "ami_ping_interval": 2.0,
            "agi_port": self.layout.agi_port,
            "audiosocket_port": 0,
            "dial_template": "Local/{number}@city",
            "ivr_prompts_dir": self.layout.prompts,
            "callback_tick_seconds": 0.5,
            "callback_delay_seconds": 0,
            "callback_hours": "00:00-24:00",
        }
        overrides.update(extra)
        return overrides


# ------------------------------------------------------------------ the tests' AMI session

Event = dict[str, str]


class Driver:
    """The tests' AMI session: sends actions, keeps every event, waits for the ones asked for."""

    def __init__(self, port: int, secret: str) -> None:
        self._port, self._secret = port, secret
        self.events: list[Event] = []
        self._responses: dict[str, asyncio.Future[Event]] = {}
        self._changed = asyncio.Condition()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._ids = 0

    async def connect(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
            await self._reader.readline()  # the banner
            self._task = asyncio.create_task(self._read())
            reply = await self.action("Login", Username="driver", Secret=self._secret)
        if reply.get("Response") != "Success":
            raise RuntimeError(f"driver login refused: {reply}")

    async def reconnect(self) -> None:
        """A new session after Asterisk restarted (the events seen so far are kept)."""
        await self.close()
        await self.connect()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, OSError):
                pass

    async def _read(self) -> None:
        assert self._reader is not None
        frame: Event = {}
        while True:
            line = await self._reader.readline()
            if not line:
                return
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if text:
                key, _, value = text.partition(":")
                frame[key.strip()] = (
                    value.strip() if key.strip() not in frame else frame[key.strip()] + "\n" + value.strip()
                )
                continue
            if "Response" in frame and frame.get("ActionID") in self._responses:
                future = self._responses.pop(frame["ActionID"])
                if not future.done():
                    future.set_result(frame)
            elif "Event" in frame:
                async with self._changed:
                    self.events.append(frame)
                    self._changed.notify_all()
            frame = {}

    async def action(self, name: str, timeout: float = 10.0, **headers: Any) -> Event:
        assert self._writer is not None
        self._ids += 1
        action_id = f"drv-{self._ids}"
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in headers.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {item}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        async with asyncio.timeout(timeout):
            return await future

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 20.0, what: str = "event") -> Event:
        """The first event (already seen or still to come) that matches; fails after ``timeout``."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for event in self.events:
                        if predicate(event):
                            return event
                    await self._changed.wait()
        except TimeoutError:
            names = [e.get("Event") for e in self.events[-30:]]
            raise AssertionError(f"no {what} within {timeout:g} s; last events: {names}") from None

    async def command(self, text: str) -> str:
        reply = await self.action("Command", Command=text)
        return reply.get("Output", "")

    async def call_citizen(
        self,
        scenario: str,
        phone: str,
        *,
        exten: str = "1563",
        context: str = "hotline",
        variables: dict[str, str] | None = None,
    ) -> str:
        """Originate a citizen's call: Local/<exten>@<context> is the hotline side, the citizen's
        side runs ``[citizen] <scenario>``. Returns the ChannelId given to the citizen's side."""
        channel_id = f"citizen-{secrets.token_hex(4)}"
        headers: dict[str, Any] = {
            "Channel": f"Local/{exten}@{context}",
            "Context": "citizen",
            "Exten": scenario,
            "Priority": "1",
            "CallerID": f'"Citizen" <{phone}>',
            "Async": "true",
            "Timeout": "30000",
            "ChannelId": channel_id,
            "OtherChannelId": channel_id + "-h",
        }
        if variables:
            headers["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        reply = await self.action("Originate", **headers)
        if reply.get("Response") != "Success":
            raise AssertionError(f"Originate refused: {reply}")
        return channel_id

    async def wait_hangup(self, uniqueid: str, timeout: float = 60.0) -> Event:
        return await self.wait_for(
            lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == uniqueid, timeout, f"hang-up of {uniqueid}"
        )

    async def live_channels(self) -> list[str]:
        """Names of the channels up now (CoreShowChannels)."""
        reply = await self.action("CoreShowChannels")
        action_id = reply["ActionID"]
        done = await self.wait_for(
            lambda e: e.get("Event") == "CoreShowChannelsComplete" and e.get("ActionID") == action_id,
            10,
            "CoreShowChannelsComplete",
        )
        del done
        return [
            e["Channel"] for e in self.events if e.get("Event") == "CoreShowChannel" and e.get("ActionID") == action_id
        ]

    async def hangup(self, uniqueid: str) -> None:
        """Hang up the channel with this Uniqueid (the citizen puts the phone down)."""
        event = await self.wait_for(
            lambda e: e.get("Event") == "Newchannel" and e.get("Uniqueid") == uniqueid, 5, f"channel {uniqueid}"
        )
        await self.action("Hangup", Channel=event["Channel"])
        await self.wait_hangup(uniqueid, 10)

    async def hangup_all(self) -> None:
        for channel in await self.live_channels():
            await self.action("Hangup", Channel=channel)


def agi_lines(log: str, since: int = 0) -> list[str]:
    """The AGI commands in Asterisk's log (``agi set debug on``) after offset ``since``."""
    return [m.group(1) for m in re.finditer(r"AGI Rx << (.*)", log[since:])]


def missing_sounds(log: str, since: int = 0) -> list[str]:
    """Sounds Asterisk could not play (``File ... does not exist in any format``)."""
    return re.findall(r"File (\S+) does not exist in any format", log[since:])
