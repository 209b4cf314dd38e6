"""A fake Asterisk Manager Interface on a real TCP socket, exact to Asterisk 22's traces.

It speaks the protocol as tests/fixtures/asterisk-traces record it: banner
``Asterisk Call Manager/11.0.0``, CRLF lines, frames ending in a blank line, ActionID
echoed, EventList start/items/Complete for CoreShowChannels and QueueStatus,
``Ping: Pong`` with a Timestamp. It replays the recorded event streams and keeps the
table of live channels, waiting callers and queue members that a real Asterisk would
list after a reconnect, built from the very frames it sends.

It is also a saboteur: drop the link mid-stream, restart (Shutdown, state lost, new
banner), send garbage bytes or half a frame, stop answering Ping (half-open link),
lose OriginateResponse events, drop the link right after an Originate. It counts every
action it receives, so a test can prove an Originate never arrived twice.

Parsing here is deliberately independent of callcenter.telephony.ami_protocol.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

TRACES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk-traces"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"

Frame = list[tuple[str, str]]  # ordered headers, exactly as Asterisk wrote them


def find_traces_dir() -> Path:
    """The traces recorded from a real Asterisk 22 are test data of this project (tests/fixtures/)."""
    return TRACES_DIR


def frame_get(frame: Frame, key: str, default: str | None = None) -> str | None:
    for k, v in frame:
        if k == key:
            return v
    return default


def encode_frame(frame: Frame) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in frame).encode("utf-8") + b"\r\n"


@dataclass
class TraceBlock:
    """A client action (``#>>`` lines) or one frame Asterisk sent."""

    client: bool
    frame: Frame


@dataclass
class Trace:
    """One ami-*.txt file: what the client sent and what Asterisk answered, in order."""

    name: str
    blocks: list[TraceBlock]
    raw_server_bytes: bytes = b""

    @classmethod
    def load(cls, path: Path) -> Trace:
        blocks: list[TraceBlock] = []
        current: Frame = []
        client: Frame = []
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.startswith("#>> "):
                if current:
                    blocks.append(TraceBlock(False, current))
                    current = []
                client.append(_split(line[4:]))
                continue
            if client:
                blocks.append(TraceBlock(True, client))
                client = []
            if line.startswith("Asterisk Call Manager/"):
                continue
            if line == "":
                if current:
                    blocks.append(TraceBlock(False, current))
                    current = []
                continue
            current.append(_split(line))
        if current:
            blocks.append(TraceBlock(False, current))
        if client:
            blocks.append(TraceBlock(True, client))
        server = b"".join(encode_frame(b.frame) for b in blocks if not b.client)
        return cls(path.stem, blocks, BANNER + server)

    def client_actions(self) -> list[Frame]:
        return [b.frame for b in self.blocks if b.client]

    def events(self) -> list[Frame]:
        """The unsolicited events: not login noise, not answers to the lab's actions."""
        listed = {frame_get(b.frame, "ActionID") for b in self.blocks if b.client}
        listed.discard(None)
        result = []
        for block in self.blocks:
            name = frame_get(block.frame, "Event")
            if block.client or name is None or name in ("FullyBooted", "SuccessfulAuth"):
                continue
            if frame_get(block.frame, "ActionID") in listed and name != "OriginateResponse":
                continue
            result.append(block.frame)
        return result

    def reply_to(self, action_id: str) -> list[Frame]:
        """Every frame Asterisk sent after the client action ``action_id``, up to the next one."""
        frames: list[Frame] = []
        inside = False
        for block in self.blocks:
            if block.client:
                if inside:
                    break
                inside = frame_get(block.frame, "ActionID") == action_id
                continue
            if inside:
                frames.append(block.frame)
        if not inside and not frames:
            raise KeyError(f"{self.name}: no client action {action_id!r}")
        return frames


def _split(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(": ")
    if not sep:
        key, value = line.rstrip(":"), ""
    return key, value


def load_trace(name: str) -> Trace:
    return Trace.load(find_traces_dir() / name)


def all_ami_traces() -> list[Path]:
    return sorted(find_traces_dir().glob("ami-*.txt"))


# --- live state a real Asterisk would list after a reconnect ---------------------------


@dataclass
class _Channel:
    fields: dict[str, str]
    created: float
    application: str = ""
    app_data: str = ""
    bridge: str = ""


@dataclass
class _Entry:
    queue: str
    channel: str
    uniqueid: str
    caller_num: str
    caller_name: str
    joined: float


@dataclass
class FakeState:
    """Channels, queue callers and members, kept from the frames the fake sends."""

    channels: dict[str, _Channel] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    queues: set[str] = field(default_factory=lambda: {"hotline"})

    def apply(self, frame: Frame) -> None:
        fields = dict(frame)
        name = fields.get("Event")
        uniqueid = fields.get("Uniqueid", "")
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(fields, uniqueid)

    def _on_Newchannel(self, fields: dict[str, str], uniqueid: str) -> None:
        self.channels[uniqueid] = _Channel(dict(fields), time.time())

    def _update(self, fields: dict[str, str], uniqueid: str) -> None:
        channel = self.channels.get(uniqueid)
        if channel is not None:
            for key in (
                "ChannelState",
                "ChannelStateDesc",
                "CallerIDNum",
                "CallerIDName",
                "ConnectedLineNum",
                "ConnectedLineName",
                "Context",
                "Exten",
                "Priority",
            ):
                if key in fields:
                    channel.fields[key] = fields[key]

    _on_Newstate = _on_NewCallerid = _on_NewConnectedLine = _on_VarSet = _update

    def _on_Newexten(self, fields: dict[str, str], uniqueid: str) -> None:
        self._update(fields, uniqueid)
        channel = self.channels.get(uniqueid)
        if channel is not None:
            channel.application = fields.get("Application", "")
            channel.app_data = fields.get("AppData", "")

    def _on_BridgeEnter(self, fields: dict[str, str], uniqueid: str) -> None:
        if uniqueid in self.channels:
            self.channels[uniqueid].bridge = fields.get("BridgeUniqueid", "")

    def _on_BridgeLeave(self, fields: dict[str, str], uniqueid: str) -> None:
        if uniqueid in self.channels:
            self.channels[uniqueid].bridge = ""

    def _on_Hangup(self, fields: dict[str, str], uniqueid: str) -> None:
        self.channels.pop(uniqueid, None)
        self.entries = [e for e in self.entries if e.uniqueid != uniqueid]

    def _on_QueueCallerJoin(self, fields: dict[str, str], uniqueid: str) -> None:
        self.queues.add(fields.get("Queue", "hotline"))
        self.entries.append(
            _Entry(
                fields.get("Queue", ""),
                fields.get("Channel", ""),
                uniqueid,
                fields.get("CallerIDNum", ""),
                fields.get("CallerIDName", ""),
                time.time(),
            )
        )

    def _on_QueueCallerLeave(self, fields: dict[str, str], uniqueid: str) -> None:
        self.entries = [e for e in self.entries if e.uniqueid != uniqueid]

    _on_QueueCallerAbandon = _on_QueueCallerLeave

    def _on_QueueMemberStatus(self, fields: dict[str, str], uniqueid: str) -> None:
        self.members[fields.get("Interface", "")] = dict(fields)

    def channel_items(self, action_id: str) -> list[Frame]:
        items = []
        for uniqueid, ch in self.channels.items():
            f = ch.fields
            duration = int(time.time() - ch.created)
            items.append(
                [
                    ("Event", "CoreShowChannel"),
                    ("ActionID", action_id),
                    ("Channel", f.get("Channel", "")),
                    ("ChannelState", f.get("ChannelState", "0")),
                    ("ChannelStateDesc", f.get("ChannelStateDesc", "Down")),
                    ("CallerIDNum", f.get("CallerIDNum", "")),
                    ("CallerIDName", f.get("CallerIDName", "")),
                    ("ConnectedLineNum", f.get("ConnectedLineNum", "")),
                    ("ConnectedLineName", f.get("ConnectedLineName", "")),
                    ("Language", f.get("Language", "ru")),
                    ("AccountCode", ""),
                    ("Context", f.get("Context", "")),
                    ("Exten", f.get("Exten", "")),
                    ("Priority", f.get("Priority", "1")),
                    ("Uniqueid", uniqueid),
                    ("Linkedid", f.get("Linkedid", uniqueid)),
                    ("Application", ch.application),
                    ("ApplicationData", ch.app_data),
                    ("Duration", f"{duration // 3600:02d}:{duration // 60 % 60:02d}:{duration % 60:02d}"),
                    ("BridgeId", ch.bridge),
                ]
            )
        return items

    def queue_items(self, action_id: str) -> list[Frame]:
        items: list[Frame] = []
        for queue in sorted(self.queues):
            waiting = [e for e in self.entries if e.queue == queue]
            items.append(
                [
                    ("Event", "QueueParams"),
                    ("Queue", queue),
                    ("Max", "0"),
                    ("Strategy", "ringall"),
                    ("Calls", str(len(waiting))),
                    ("Holdtime", "0"),
                    ("TalkTime", "0"),
                    ("Completed", "0"),
                    ("Abandoned", "0"),
                    ("ServiceLevel", "0"),
                    ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"),
                    ("Weight", "0"),
                    ("ActionID", action_id),
                ]
            )
            for m in self.members.values():
                if m.get("Queue", queue) != queue:
                    continue
                items.append(
                    [
                        ("Event", "QueueMember"),
                        ("Queue", queue),
                        ("Name", m.get("MemberName", "")),
                        ("Location", m.get("Interface", "")),
                        ("StateInterface", m.get("StateInterface", "")),
                        ("Membership", "static"),
                        ("Penalty", "0"),
                        ("CallsTaken", "0"),
                        ("LastCall", "0"),
                        ("LastPause", "0"),
                        ("LoginTime", "0"),
                        ("InCall", m.get("InCall", "0")),
                        ("Status", m.get("Status", "1")),
                        ("Paused", m.get("Paused", "0")),
                        ("PausedReason", ""),
                        ("Wrapuptime", "0"),
                        ("ActionID", action_id),
                    ]
                )
            for position, e in enumerate(waiting, start=1):
                items.append(
                    [
                        ("Event", "QueueEntry"),
                        ("Queue", queue),
                        ("Position", str(position)),
                        ("Channel", e.channel),
                        ("Uniqueid", e.uniqueid),
                        ("CallerIDNum", e.caller_num),
                        ("CallerIDName", e.caller_name),
                        ("ConnectedLineNum", "<unknown>"),
                        ("ConnectedLineName", "<unknown>"),
                        ("Wait", str(int(time.time() - e.joined))),
                        ("Priority", "0"),
                        ("ActionID", action_id),
                    ]
                )
        return items


def default_members() -> dict[str, dict[str, str]]:
    return {
        "Local/op1@operators/n": {
            "Queue": "hotline",
            "MemberName": "Operator One",
            "Interface": "Local/op1@operators/n",
            "StateInterface": "Local/op1@operators",
            "Status": "1",
            "Paused": "0",
            "InCall": "0",
        }
    }


# --- the server ------------------------------------------------------------------------


class FakeAmi:
    """The fake Asterisk. ``await start()``, point the client at ``port``, ``await close()``."""

    def __init__(self, *, username: str = "callcenter", secret: str = "labsecret") -> None:
        self.username = username
        self.secret = secret
        self.port = 0
        self.state = FakeState(members=default_members())
        self.actions: list[dict[str, str | list[str]]] = []
        self.answer_pings = True
        self.lose_originate_responses = False
        self.drop_after_originate = False
        self.originate_reason = "4"
        self.reject_originates = ""  # a Message makes every Originate answer Response: Error
        self.scripted_replies: dict[str, list[Frame]] = {}
        self.logins = 0
        self.restarts = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._uniqueids = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()  # each connection's task then ends by itself
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    # --- controls -------------------------------------------------------------------

    def count(self, action: str, action_id: str | None = None) -> int:
        """How many ``action`` actions (with this ActionID, if given) arrived."""
        return sum(
            1
            for a in self.actions
            if a.get("Action") == action and (action_id is None or a.get("ActionID") == action_id)
        )

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (re-checked on every fake-side change)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_for_logins(self, count: int, timeout: float = 5.0) -> None:
        await self.wait_for(lambda: self.logins >= count, timeout)

    def drop(self) -> None:
        """Cut every client connection at once (network failure): state is kept."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def restart(self) -> None:
        """Asterisk restarts: Shutdown event, connections closed, every call gone."""
        await self.send_frames(
            [[("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Cleanly"), ("Restart", "True")]]
        )
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self.state = FakeState(members=default_members())
        self.restarts += 1

    async def send_raw(self, data: bytes) -> None:
        """Bytes as they are: garbage, half frames."""
        for writer in list(self._writers):
            writer.write(data)
            await writer.drain()

    async def send_frames(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.state.apply(frame)
        await self.send_raw(b"".join(encode_frame(f) for f in frames))

    async def replay(self, trace: Trace, start: int = 0, stop: int | None = None) -> int:
        """Send the trace's events[start:stop] as Asterisk did; return where it stopped."""
        events = trace.events()
        stop = len(events) if stop is None else stop
        await self.send_frames(events[start:stop])
        return stop

    def script_originates(self, trace: Trace) -> None:
        """Answer each Originate whose ActionID the trace knows with the trace's frames."""
        for action in trace.client_actions():
            if frame_get(action, "Action") == "Originate":
                action_id = frame_get(action, "ActionID") or ""
                self.scripted_replies[action_id] = trace.reply_to(action_id)

    async def hangup(self, uniqueid: str) -> None:
        channel = self.state.channels.get(uniqueid)
        if channel is None:
            return
        f = channel.fields
        await self.send_frames(
            [
                [
                    ("Event", "Hangup"),
                    ("Privilege", "call,all"),
                    ("Channel", f.get("Channel", "")),
                    ("Uniqueid", uniqueid),
                    ("Linkedid", f.get("Linkedid", uniqueid)),
                    ("Cause", "16"),
                    ("Cause-txt", "Normal Clearing"),
                ]
            ]
        )

    # --- protocol -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.append(writer)
        authed = False
        try:
            writer.write(BANNER)
            await writer.drain()
            buffer = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n\r\n", 1)
                    action = _parse_action(raw)
                    self.actions.append(action)
                    authed = await self._handle(writer, action, authed)
                    await self._notify()
        except (ConnectionError, OSError):
            return
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, writer: asyncio.StreamWriter, action: dict, authed: bool) -> bool:
        name = str(action.get("Action", ""))
        action_id = str(action.get("ActionID", ""))
        if name.lower() == "login":
            return await self._login(writer, action, action_id)
        if not authed:
            await _write(writer, [[("Response", "Error"), ("ActionID", action_id), ("Message", "Permission denied")]])
            return False
        handler = {
            "ping": self._ping,
            "coreshowchannels": self._core_show_channels,
            "queuestatus": self._queue_status,
            "originate": self._originate,
            "queuepause": self._queue_pause,
            "logoff": self._logoff,
        }.get(name.lower(), self._unknown)
        await handler(writer, action, action_id)
        return True

    async def _login(self, writer, action: dict, action_id: str) -> bool:
        if action.get("Username") != self.username or action.get("Secret") != self.secret:
            await _write(
                writer, [[("Response", "Error"), ("ActionID", action_id), ("Message", "Authentication failed")]]
            )
            return False
        self.logins += 1
        await _write(
            writer,
            [
                [("Response", "Success"), ("ActionID", action_id), ("Message", "Authentication accepted")],
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", "43"),
                    ("LastReload", "43"),
                    ("Status", "Fully Booted"),
                ],
            ],
        )
        return True

    async def _ping(self, writer, action: dict, action_id: str) -> None:
        if not self.answer_pings:
            return  # half-open: the socket stays, answers never come
        await _write(
            writer,
            [[("Response", "Success"), ("ActionID", action_id), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")]],
        )

    async def _core_show_channels(self, writer, action: dict, action_id: str) -> None:
        items = self.state.channel_items(action_id)
        await _write(
            writer,
            [
                [
                    ("Response", "Success"),
                    ("ActionID", action_id),
                    ("EventList", "start"),
                    ("Message", "Channels will follow"),
                ],
                *items,
                [
                    ("Event", "CoreShowChannelsComplete"),
                    ("ActionID", action_id),
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                ],
            ],
        )

    async def _queue_status(self, writer, action: dict, action_id: str) -> None:
        items = self.state.queue_items(action_id)
        await _write(
            writer,
            [
                [
                    ("Response", "Success"),
                    ("ActionID", action_id),
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                ],
                *items,
                [
                    ("Event", "QueueStatusComplete"),
                    ("ActionID", action_id),
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                ],
            ],
        )

    async def _logoff(self, writer, action: dict, action_id: str) -> None:
        await _write(
            writer, [[("Response", "Goodbye"), ("ActionID", action_id), ("Message", "Thanks for all the fish.")]]
        )

    async def _queue_pause(self, writer, action: dict, action_id: str) -> None:
        """As Asterisk 22: Success, then QueueMemberPause (the QueueMemberStatus fields of the
        recorded trace, with Paused/PausedReason/LastPause), or Error for an unknown interface."""
        interface = str(action.get("Interface", ""))
        member = self.state.members.get(interface)
        if member is None:
            await _write(writer, [[("Response", "Error"), ("ActionID", action_id), ("Message", "Interface not found")]])
            return
        paused = str(action.get("Paused", "")).lower() in ("true", "1", "yes")
        member["Paused"] = "1" if paused else "0"
        reason = str(action.get("Reason", "")) if paused else ""
        await _write(
            writer,
            [
                [
                    ("Response", "Success"),
                    ("ActionID", action_id),
                    ("Message", "Interface paused successfully" if paused else "Interface unpaused successfully"),
                ],
                [
                    ("Event", "QueueMemberPause"),
                    ("Privilege", "agent,all"),
                    ("Queue", member.get("Queue", "hotline")),
                    ("MemberName", member.get("MemberName", "")),
                    ("Interface", interface),
                    ("StateInterface", member.get("StateInterface", "")),
                    ("Membership", "static"),
                    ("Penalty", "0"),
                    ("CallsTaken", "0"),
                    ("LastCall", "0"),
                    ("LastPause", str(int(time.time()))),
                    ("LoginTime", str(int(time.time()) - 3600)),
                    ("InCall", member.get("InCall", "0")),
                    ("Status", member.get("Status", "1")),
                    ("Paused", member["Paused"]),
                    ("PausedReason", reason),
                    ("Ringinuse", "0"),
                    ("Wrapuptime", "0"),
                ],
            ],
        )

    async def _unknown(self, writer, action: dict, action_id: str) -> None:
        await _write(
            writer,
            [
                [
                    ("Response", "Error"),
                    ("ActionID", action_id),
                    (
                        "Message",
                        f"Invalid/unknown command: {action.get('Action')}. "
                        "Use Action: ListCommands to show available commands.",
                    ),
                ]
            ],
        )

    async def _originate(self, writer, action: dict, action_id: str) -> None:
        if self.drop_after_originate:
            self.drop()  # received, maybe dialled, but the client never hears of it
            return
        if action_id in self.scripted_replies:
            await self._send_to(writer, self.scripted_replies[action_id])
            return
        if self.reject_originates:
            await _write(
                writer, [[("Response", "Error"), ("ActionID", action_id), ("Message", self.reject_originates)]]
            )
            return
        channel_id = str(action.get("ChannelId") or f"1795990000.{next(self._uniqueids)}")
        await _write(
            writer, [[("Response", "Success"), ("ActionID", action_id), ("Message", "Originate successfully queued")]]
        )
        frames = self._originate_frames(action, action_id, channel_id)
        if self.lose_originate_responses:
            frames = [f for f in frames if frame_get(f, "Event") != "OriginateResponse"]
        await self._send_to(writer, frames)

    def _originate_frames(self, action: dict, action_id: str, channel_id: str) -> list[Frame]:
        channel = str(action.get("Channel", ""))
        frames: list[Frame] = []
        answered = self.originate_reason == "4"
        name = channel
        if answered:
            name = f"{channel}-{next(self._uniqueids):08x}"
            frames.append(
                [
                    ("Event", "Newchannel"),
                    ("Privilege", "call,all"),
                    ("Channel", name),
                    ("ChannelState", "6"),
                    ("ChannelStateDesc", "Up"),
                    ("CallerIDNum", "1563"),
                    ("CallerIDName", "1563"),
                    ("Context", str(action.get("Context", ""))),
                    ("Exten", str(action.get("Exten", ""))),
                    ("Priority", "1"),
                    ("Uniqueid", channel_id),
                    ("Linkedid", channel_id),
                ]
            )
        frames.append(
            [
                ("Event", "OriginateResponse"),
                ("Privilege", "call,all"),
                ("ActionID", action_id),
                ("Response", "Success" if answered else "Failure"),
                ("Channel", name if answered else channel),
                ("Context", str(action.get("Context", ""))),
                ("Exten", str(action.get("Exten", ""))),
                ("Reason", self.originate_reason),
                ("Uniqueid", channel_id if answered else "<unknown>"),
                ("CallerIDNum", "1563"),
                ("CallerIDName", "1563"),
            ]
        )
        return frames

    async def _send_to(self, writer: asyncio.StreamWriter, frames: list[Frame]) -> None:
        for frame in frames:
            self.state.apply(frame)
        await _write(writer, frames)


async def _write(writer: asyncio.StreamWriter, frames: list[Frame]) -> None:
    writer.write(b"".join(encode_frame(f) for f in frames))
    await writer.drain()


def _parse_action(raw: bytes) -> dict[str, str | list[str]]:
    action: dict[str, str | list[str]] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(": ")
        if key in action:
            known = action[key]
            action[key] = [*known, value] if isinstance(known, list) else [known, value]
        else:
            action[key] = value
    return action


# --- test helpers ----------------------------------------------------------------------


async def next_item(subscription, predicate=lambda item: True, timeout: float = 5.0):
    """The next item of an AMI subscription matching ``predicate`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            item = await subscription.get()
            if predicate(item):
                return item


class NoteSink:
    """Collects tracker notifications published by a TrackerFeed; wait on them by predicate."""

    def __init__(self) -> None:
        self.notes: list = []
        self._changed = asyncio.Condition()

    async def __call__(self, notes: list) -> None:
        async with self._changed:
            self.notes.extend(notes)
            self._changed.notify_all()

    def of_type(self, kind) -> list:
        return [n for n in self.notes if isinstance(n, kind)]

    async def wait_for(self, predicate, timeout: float = 5.0):
        """Wait for a notification matching ``predicate``; return it."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    for note in self.notes:
                        if predicate(note):
                            return note
                    await self._changed.wait()
