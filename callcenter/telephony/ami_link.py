"""The Asterisk Manager Interface link: one TCP session, kept alive, never trusted blindly.

What we took from panoramisk 1.4 and what we replaced (read in its source, 2021 release):

* ``Manager`` (connection, login, keep-alive, reconnect) is replaced. After a reconnect
  it re-sends every action that had no answer (``awaiting_actions``), so one Originate
  can dial a citizen twice; its ``ping`` never looks at the reply, so a half-open link
  stays "connected" for ever; an async Originate whose OriginateResponse is lost leaves
  its future pending for ever (no timeouts anywhere); reconnects use a fixed delay;
  a failed login is ignored; event callbacks run inside ``data_received`` (an exception
  there closes the transport) and coroutine callbacks go to ``ensure_future`` unkept.
* ``AMIProtocol``/``Message.from_line`` (framing and parsing) are replaced too. It
  decodes every TCP read on its own with ``errors='ignore'``, so a Cyrillic caller name
  split between two reads loses letters; it ``strip()``s each frame, which drops the
  header of a frame ending in an empty value (``VarSet ... Value: `` becomes a VarSet
  without ``Value``); a ``Response: Failure`` frame loses its last header into
  ``content``; its buffer grows without bound while no blank line arrives; and frames
  without Event/Response vanish without a word. Its case-insensitive dict lower-cases
  every key on every access, which Asterisk's stable header case does not need; on the
  same bytes our parser is about twice as fast (bench/ami_bench.py).
* What stays from panoramisk: the protocol knowledge (EventList handling, ActionID
  correlation, Ping), its role as the reference parser in our tests and benchmark
  (bench/ami_bench.py compares rates on the same bytes), and the dependency pin.

Design. One reader task reads bytes, cuts frames at the blank line, parses them and
hands each to ``_dispatch``, which never waits: action answers resolve futures, events
are offered to bounded per-subscriber queues (a full queue drops and counts, then tells
its consumer with a ``StreamGap`` so it can resync). Database and browser work happen
in the consumers' own tasks, so Asterisk (which drops a client that does not read for
``writetimeout`` ms) never waits on them. A pinger checks each Ping's reply within a
deadline and aborts a silent link. A supervisor reconnects with capped, jittered
exponential backoff, logs in, and lists live channels and queues (CoreShowChannels,
QueueStatus) into the event stream so consumers can rebuild their state. Every wait
has a timeout; every task is kept and its failure logged.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from callcenter.domain.calls import OriginateOutcome, OriginateResult, outcome_from_reason
from callcenter.tasks import supervise
from callcenter.telephony.ami_protocol import (
    AmiActionRefused,
    AmiError,
    AmiFrameParser,
    AmiLoginFailed,
    AmiNotConnected,
    AmiProtocolError,
    AmiTimeout,
    Frame,
    serialize_action,
)
from callcenter.telephony.originate import (
    InvalidOriginate,
    OriginateRequest,
    channel_id_for,
)

logger = logging.getLogger(__name__)

BANNER_PREFIX = b"Asterisk Call Manager/"
READ_CHUNK = 256 * 1024  # bytes parsed between two yields of the reader (one socket read of asyncio)


# --- settings, state and stream items -------------------------------------------------


class LinkState(enum.StrEnum):
    """What /healthz reports as ``ami``."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """Connection settings; the link is disabled while ``host`` is empty."""

    host: str | None = None
    port: int = 5038
    username: str = ""
    secret: str = ""
    connect_timeout: float = 5.0
    action_timeout: float = 5.0
    ping_interval: float = 10.0
    ping_timeout: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    originate_margin: float = 15.0  # extra wait for OriginateResponse past the ring timeout
    login_events: str = "on"
    max_frame_bytes: int = 256 * 1024
    ledger_size: int = 10_000  # originate ids remembered for idempotency

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def __repr__(self) -> str:  # never log the secret
        return f"AmiSettings(host={self.host!r}, port={self.port}, username={self.username!r})"


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Stream item: the link changed state."""

    state: LinkState


@dataclass(frozen=True, slots=True)
class ResyncStarted:
    """Stream item: a channel list was requested here; a ChannelsSnapshot follows."""


@dataclass(frozen=True, slots=True)
class ChannelsSnapshot:
    """Stream item: every live channel (CoreShowChannel items), at its place in the stream."""

    channels: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """Stream item: QueueStatus lists (QueueParams, QueueMember, QueueEntry items)."""

    params: tuple[Frame, ...]
    members: tuple[Frame, ...]
    entries: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class StreamGap:
    """Stream item: this subscriber was too slow and ``dropped`` items were lost."""

    dropped: int


StreamItem = Frame | LinkStatus | ResyncStarted | ChannelsSnapshot | QueueSnapshot | StreamGap


@dataclass(frozen=True, slots=True)
class ActionResult:
    """An action's response frame and, for list actions, the list's events."""

    response: Frame
    events: tuple[Frame, ...] = ()

    @property
    def ok(self) -> bool:
        return self.response.get("Response") in ("Success", "Follows", "Goodbye")

    @property
    def message(self) -> str:
        message = self.response.get("Message", "")
        return message if isinstance(message, str) else " ".join(message)


@dataclass(frozen=True, slots=True)
class ResyncReport:
    """What a resync found live."""

    channels: int
    queue_members: int
    queue_entries: int


# --- subscriptions --------------------------------------------------------------------


_CLOSED = object()


class LinkSubscription:
    """A bounded queue of stream items for one consumer; the reader never waits on it.

    Use ``async for item in subscription``. Items are shared between consumers:
    treat event dicts as read-only.
    """

    def __init__(self, name: str, events: frozenset[str] | None, maxsize: int) -> None:
        self.name = name
        self.events = events
        self.maxsize = maxsize
        self.dropped = 0  # total items this consumer lost
        self._items: list[Any] = []
        self._head = 0
        self._gap = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items) - self._head

    def offer(self, item: Any) -> bool:
        """Queue an item without waiting; False (and counted) when the queue is full."""
        if self._closed:
            return False
        if len(self) >= self.maxsize:
            self.dropped += 1
            self._gap += 1
            return False
        if self._gap:
            self._items.append(StreamGap(self._gap))
            self._gap = 0
        self._items.append(item)
        self._wake()
        return True

    def close(self) -> None:
        """End the iteration once the queued items are consumed."""
        if not self._closed:
            self._closed = True
            self._items.append(_CLOSED)
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        """The next item; raises StopAsyncIteration after close().

        Once the queued items are consumed, a pending gap is reported at once, so the
        consumer can resync without waiting for the next event to arrive.
        """
        while len(self) == 0:
            if self._gap:
                gap, self._gap = StreamGap(self._gap), 0
                return gap
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items[self._head]
        self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._items):
            del self._items[: self._head]
            self._head = 0
        if item is _CLOSED:
            self._head -= 1  # stay closed for later calls
            raise StopAsyncIteration
        return item

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self.get()


# --- the link -------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[ActionResult]
    on_complete: Callable[[ActionResult], None] | None = None
    response: Frame | None = None
    events: list[Frame] = field(default_factory=list)
    listing: bool = False


@dataclass(slots=True)
class _OriginateEntry:
    future: asyncio.Future[OriginateResult]
    last: OriginateResult | None = None  # what we answered when our wait ran out


@dataclass(slots=True)
class LinkStats:
    """Counters for logs, /healthz and the supervisors."""

    frames: int = 0
    malformed: int = 0
    events: int = 0
    connects: int = 0
    pings_missed: int = 0
    dispatch_errors: int = 0


class AmiLink:
    """The AMI adapter: ``start()``/``close()``, ``state``, ``subscribe()``,
    ``send_action()``, ``originate()``, ``resync()``.

    Wire it as an aiohttp cleanup_ctx::

        async def ami_ctx(app):
            link = AmiLink(settings)
            await link.start()
            app[AMI_LINK] = link
            yield
            await link.close()
    """

    def __init__(self, settings: AmiSettings) -> None:
        self._settings = settings
        self._state = LinkState.DISCONNECTED if settings.enabled else LinkState.DISABLED
        self._writer: asyncio.StreamWriter | None = None
        self._parser = AmiFrameParser(max_frame_bytes=settings.max_frame_bytes)
        self._pending: dict[str, _Pending] = {}
        self._originates: OrderedDict[str, _OriginateEntry] = OrderedDict()
        self._subscriptions: list[LinkSubscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._id_prefix = f"cc{secrets.token_hex(4)}-"
        self._ids = itertools.count(1)
        self._stats = LinkStats()

    # --- public ---------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        """``connected``, ``disconnected`` or ``disabled`` (no host configured)."""
        return self._state

    @property
    def running(self) -> bool:
        """Started and not closed: this instance keeps the link (the leader, or the only one),
        connected or trying to reconnect; a follower's link is never started."""
        return self._supervisor is not None

    @property
    def stats(self) -> LinkStats:
        self._stats.frames = self._parser.frames
        self._stats.malformed = self._parser.malformed
        return self._stats

    async def start(self) -> None:
        """Start connecting in the background (returns at once); no-op when disabled."""
        if self._state is LinkState.DISABLED or self._supervisor is not None:
            return
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
        supervise(self._supervisor, logger)

    async def close(self) -> None:
        """Stop reconnecting, close the socket, end every subscription."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self._subscriptions:
            sub.close()
        self._subscriptions.clear()

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until logged in; False if that did not happen within ``timeout`` s."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def subscribe(
        self, *, events: Iterable[str] | None = None, maxsize: int = 10_000, name: str = ""
    ) -> LinkSubscription:
        """A new bounded stream of events (only ``events`` names if given) and link items."""
        sub = LinkSubscription(
            name or f"sub{len(self._subscriptions) + 1}", frozenset(events) if events is not None else None, maxsize
        )
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: LinkSubscription) -> None:
        """Stop feeding ``sub`` and end its iteration."""
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        sub.close()

    async def send_action(
        self, fields: Mapping[str, str | Iterable[str]], *, timeout: float | None = None
    ) -> ActionResult:
        """Send one action and wait for its answer (and list, if any), at most ``timeout`` s.

        Never queued and never re-sent: raises AmiNotConnected when the link is down or
        goes down before the answer, AmiTimeout when Asterisk stays silent.
        """
        if self._state is not LinkState.CONNECTED:
            raise AmiNotConnected(f"AMI link is {self._state.value}")
        return await self._request(fields, timeout=timeout)

    async def resync(self, *, timeout: float | None = None) -> ResyncReport:
        """List live channels and queues into the event stream (ChannelsSnapshot, QueueSnapshot).

        ResyncStarted goes into the stream first: events after it may be newer than the
        list, and a consumer must not let the list undo them.
        """
        if self._writer is None:
            raise AmiNotConnected(f"AMI link is {self._state.value}")
        self._publish_item(ResyncStarted())  # _request writes before it first yields
        channels = await self._request(
            {"Action": "CoreShowChannels"}, timeout=timeout, on_complete=self._publish_channels
        )
        if not channels.ok:  # e.g. no "reporting" write class in manager.conf
            raise AmiActionRefused(f"CoreShowChannels refused: {channels.message}")
        queues = await self._request({"Action": "QueueStatus"}, timeout=timeout, on_complete=self._publish_queues)
        if not queues.ok:
            logger.warning("AMI QueueStatus refused (%s): queue state not resynced", queues.message)
        members = [e for e in queues.events if e.get("Event") == "QueueMember"]
        entries = [e for e in queues.events if e.get("Event") == "QueueEntry"]
        report = ResyncReport(len(_items(channels, "CoreShowChannel")), len(members), len(entries))
        logger.info(
            "AMI resync: %d channel(s), %d queue member(s), %d waiting caller(s)",
            report.channels,
            report.queue_members,
            report.queue_entries,
        )
        return report

    async def originate(self, request: OriginateRequest, *, timeout: float | None = None) -> OriginateResult:
        """Place one asynchronous Originate, at most once per ``request.request_id``.

        Waits for Asterisk's OriginateResponse, at most ``timeout`` s (default: the ring
        timeout plus ``originate_margin``). A repeated id gets the first attempt's result
        (``repeated=True``) and is never dialled again, across reconnects too; only an id
        whose earlier attempt was NOT_SENT (link down) is sent again.
        """
        key = request.request_id
        entry = self._originates.get(key)
        if entry is not None and not _not_sent(entry):
            return await self._repeat_originate(key, entry, timeout)
        wait = timeout if timeout is not None else request.ring_timeout + self._settings.originate_margin
        if self._state is not LinkState.CONNECTED:
            result = OriginateResult(key, OriginateOutcome.NOT_SENT, detail="AMI link is down")
            self._remember(key, _done_entry(result))
            return result
        entry = _OriginateEntry(asyncio.get_running_loop().create_future())
        self._remember(key, entry)
        return await self._dial(request, entry, wait)

    # --- originate internals --------------------------------------------------------

    async def _dial(self, request: OriginateRequest, entry: _OriginateEntry, wait: float) -> OriginateResult:
        key = request.request_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            answer = await self._request(request.action_fields(), timeout=min(self._settings.action_timeout, wait))
        except (AmiNotConnected, AmiTimeout) as err:
            # It may have reached Asterisk: never resend, wait for the broadcast event.
            logger.warning("originate %s: no answer to the action (%s); waiting for its event", key, err)
        else:
            if not answer.ok and not entry.future.done():
                entry.future.set_result(
                    OriginateResult(key, OriginateOutcome.REJECTED, detail=answer.message or "refused by Asterisk")
                )
        try:
            return await asyncio.wait_for(asyncio.shield(entry.future), max(0.0, deadline - loop.time()))
        except TimeoutError:
            entry.last = OriginateResult(
                key, OriginateOutcome.TIMED_OUT, detail=f"no OriginateResponse within {wait:.0f} s; not dialled again"
            )
            logger.warning("originate %s timed out after %.0f s", key, wait)
            return entry.last

    async def _repeat_originate(self, key: str, entry: _OriginateEntry, timeout: float | None) -> OriginateResult:
        """A second request for a known id: answer from the ledger or the live channels."""
        if not entry.future.done():
            try:
                wait = timeout if timeout is not None else self._settings.action_timeout
                result = await asyncio.wait_for(asyncio.shield(entry.future), wait)
                return replace(result, repeated=True)
            except TimeoutError:
                pass
            if await self._channel_is_live(channel_id_for(key)):
                return OriginateResult(
                    key,
                    OriginateOutcome.IN_PROGRESS,
                    uniqueid=channel_id_for(key),
                    detail="the earlier attempt's call is still up",
                    repeated=True,
                )
            last = entry.last or OriginateResult(key, OriginateOutcome.TIMED_OUT)
            return replace(last, repeated=True)
        return replace(entry.future.result(), repeated=True)

    async def _channel_is_live(self, uniqueid: str) -> bool:
        try:
            listing = await self.send_action({"Action": "CoreShowChannels"})
        except AmiError as err:
            logger.warning("cannot check live channels for %s: %s", uniqueid, err)
            return False
        return any(e.get("Uniqueid") == uniqueid for e in listing.events)

    def _remember(self, key: str, entry: _OriginateEntry) -> None:
        self._originates[key] = entry
        self._originates.move_to_end(key)
        while len(self._originates) > self._settings.ledger_size:
            self._originates.popitem(last=False)

    def _on_originate_response(self, frame: Frame) -> None:
        key = frame.get("ActionID", "")
        entry = self._originates.get(key)
        if entry is None or entry.future.done():
            return
        uniqueid = frame.get("Uniqueid")
        entry.future.set_result(
            OriginateResult(
                request_id=key,
                outcome=outcome_from_reason(frame.get("Reason")),
                reason=frame.get("Reason"),
                uniqueid=None if uniqueid in (None, "", "<unknown>") else uniqueid,
                channel=frame.get("Channel"),
                detail=frame.get("Response", ""),
            )
        )

    # --- actions ----------------------------------------------------------------------

    async def _request(
        self,
        fields: Mapping[str, str | Iterable[str]],
        *,
        timeout: float | None,
        on_complete: Callable[[ActionResult], None] | None = None,
    ) -> ActionResult:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AmiNotConnected("AMI link is down")
        action_id = str(fields.get("ActionID") or f"{self._id_prefix}{next(self._ids)}")
        if action_id in self._pending:
            raise InvalidOriginate(f"ActionID {action_id!r} is already waiting for an answer")
        payload = serialize_action({**fields, "ActionID": action_id})
        pending = _Pending(asyncio.get_running_loop().create_future(), on_complete)
        self._pending[action_id] = pending
        try:
            async with asyncio.timeout(timeout if timeout is not None else self._settings.action_timeout):
                writer.write(payload)
                await writer.drain()
                return await pending.future
        except TimeoutError as err:
            raise AmiTimeout(f"no answer to {fields.get('Action')} {action_id}") from err
        except (ConnectionError, OSError) as err:
            raise AmiNotConnected(f"AMI link lost while sending {fields.get('Action')}") from err
        finally:
            if self._pending.get(action_id) is pending:
                del self._pending[action_id]

    def _on_response(self, frame: Frame) -> None:
        pending = self._pending.get(frame.get("ActionID", ""))
        if pending is None or pending.future.done():
            logger.debug("AMI response to no waiting action: %.200r", frame)
            return
        pending.response = frame
        if str(frame.get("EventList", "")).lower() == "start" and frame.get("Response") == "Success":
            pending.listing = True
            return
        self._finish(pending)

    def _on_list_event(self, pending: _Pending, frame: Frame) -> None:
        pending.events.append(frame)
        if str(frame.get("EventList", "")).lower() == "complete" or frame["Event"].endswith("Complete"):
            self._finish(pending)

    def _finish(self, pending: _Pending) -> None:
        result = ActionResult(pending.response or {}, tuple(pending.events))
        pending.future.set_result(result)
        if pending.on_complete is not None and result.ok:
            pending.on_complete(result)

    def _publish_channels(self, result: ActionResult) -> None:
        self._publish_item(ChannelsSnapshot(tuple(_items(result, "CoreShowChannel"))))

    def _publish_queues(self, result: ActionResult) -> None:
        self._publish_item(
            QueueSnapshot(
                params=tuple(_items(result, "QueueParams")),
                members=tuple(_items(result, "QueueMember")),
                entries=tuple(_items(result, "QueueEntry")),
            )
        )

    # --- reading and dispatch ---------------------------------------------------------

    def _dispatch(self, frame: Frame) -> None:
        """Route one frame. Never waits and never raises: a bad frame must not kill the link."""
        try:
            name = frame.get("Event")
            if name is None:
                self._on_response(frame)
                return
            action_id = frame.get("ActionID")
            if action_id is not None:
                pending = self._pending.get(action_id)
                if pending is not None and pending.listing:
                    self._on_list_event(pending, frame)
                    return
                if name == "OriginateResponse":
                    self._on_originate_response(frame)
            self._stats.events += 1
            for sub in self._subscriptions:
                if sub.events is None or name in sub.events:
                    sub.offer(frame)
        except Exception:  # one odd frame must not end the session
            self._stats.dispatch_errors += 1
            logger.exception("AMI frame could not be dispatched: %.200r", frame)

    def _publish_item(self, item: Any) -> None:
        for sub in self._subscriptions:
            sub.offer(item)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    logger.warning("AMI connection closed")
                    return
                for frame in self._parser.feed(data):
                    self._dispatch(frame)
                # A read from a full buffer does not suspend: yield once per chunk so that a
                # burst of megabytes cannot hold the loop (and the web, and the pops) for long.
                # A chunk is what one socket read brings (256 KiB): a burst of 200 AgentCalled
                # (170 KB) is parsed and its pops published in one loop turn, before the
                # history queries start (64 KiB chunks let them in between, issue 19).
                await asyncio.sleep(0)
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        """Wake every action waiting for an answer that can no longer come."""
        for action_id, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_exception(AmiNotConnected(f"AMI link lost before the answer to {action_id}"))
        self._pending.clear()

    # --- session lifecycle ------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = self._settings.backoff_initial
        while not self._closing:
            logged_in = False
            try:
                logged_in = await self._session()
            except (OSError, AmiError, TimeoutError, asyncio.IncompleteReadError) as err:
                logger.warning(
                    "AMI link to %s:%s failed: %s", self._settings.host, self._settings.port, err or type(err).__name__
                )
            if self._closing:
                return
            if logged_in:
                backoff = self._settings.backoff_initial
            else:
                backoff = min(backoff * 2, self._settings.backoff_max)
            delay = backoff * random.uniform(0.8, 1.2)
            logger.info("AMI reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _session(self) -> bool:
        """One connection, from banner to drop. True if it got as far as logging in."""
        settings = self._settings
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(settings.host, settings.port, limit=settings.max_frame_bytes),
            settings.connect_timeout,
        )
        self._writer = writer
        self._parser = AmiFrameParser(max_frame_bytes=settings.max_frame_bytes)
        reading: asyncio.Task[None] | None = None
        pinging: asyncio.Task[None] | None = None
        logged_in = False
        try:
            await self._read_banner(reader)
            reading = asyncio.create_task(self._read_loop(reader), name="ami-reader")
            await self._login()
            logged_in = True
            self._stats.connects += 1
            self._set_state(LinkState.CONNECTED)
            pinging = asyncio.create_task(self._ping_loop(writer), name="ami-pinger")
            self._spawn(self._resync_after_login(), "ami-resync")
            await asyncio.wait({reading, pinging}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reading, pinging):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._end_session(writer, reading, pinging)
        return logged_in

    async def _resync_after_login(self) -> None:
        try:
            await self.resync()
        except AmiError as err:
            if not self._closing:
                logger.warning("AMI resync after login failed: %s", err)

    async def _read_banner(self, reader: asyncio.StreamReader) -> None:
        banner = await asyncio.wait_for(reader.readline(), self._settings.connect_timeout)
        if not banner.startswith(BANNER_PREFIX):
            raise AmiProtocolError(f"not an AMI banner: {banner[:80]!r}")
        logger.info("AMI connected: %s", banner.decode("ascii", "replace").strip())

    async def _login(self) -> None:
        result = await self._request(
            {
                "Action": "Login",
                "Username": self._settings.username,
                "Secret": self._settings.secret,
                "Events": self._settings.login_events,
            },
            timeout=self._settings.action_timeout,
        )
        if not result.ok:
            raise AmiLoginFailed(f"AMI login as {self._settings.username!r} refused: {result.message}")

    async def _ping_loop(self, writer: asyncio.StreamWriter) -> None:
        """Ping every interval; a missing or wrong answer aborts the (half-open) link."""
        while True:
            await asyncio.sleep(self._settings.ping_interval)
            try:
                result = await self._request({"Action": "Ping"}, timeout=self._settings.ping_timeout)
            except AmiTimeout:
                self._stats.pings_missed += 1
                logger.warning("AMI Ping unanswered for %.1f s: dropping the link", self._settings.ping_timeout)
                writer.transport.abort()
                return
            if not result.ok or result.response.get("Ping") != "Pong":
                logger.warning("AMI Ping got a wrong answer %.200r: dropping the link", result.response)
                writer.transport.abort()
                return

    async def _end_session(self, writer: asyncio.StreamWriter, *tasks: asyncio.Task[None] | None) -> None:
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
        self._writer = None
        writer.transport.abort()
        self._fail_pending()
        if self._state is LinkState.CONNECTED:
            self._set_state(LinkState.DISCONNECTED)

    def _set_state(self, state: LinkState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is LinkState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        logger.info("AMI link %s", state.value)
        self._publish_item(LinkStatus(state))

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        supervise(task, logger)
        return task


def _items(result: ActionResult, event: str) -> list[Frame]:
    return [e for e in result.events if e.get("Event") == event]


def _not_sent(entry: _OriginateEntry) -> bool:
    return entry.future.done() and entry.future.result().outcome is OriginateOutcome.NOT_SENT


def _done_entry(result: OriginateResult) -> _OriginateEntry:
    future: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return _OriginateEntry(future)
