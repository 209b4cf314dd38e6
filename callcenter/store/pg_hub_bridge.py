"""The event hub across app instances: PostgreSQL LISTEN/NOTIFY.

Several app instances on one PostgreSQL each have their own in-process
:class:`~callcenter.events.EventHub`. A screen pop made where the AMI link runs must
reach the operator whose browser holds a WebSocket on another instance; a ticket
changed on one instance must move on every instance's boards. :class:`PgHubBridge`
forwards every locally published message with ``NOTIFY`` and republishes what other
instances send (``local_only``, so nothing bounces back and forth).

* one dedicated asyncpg connection (not from the SQLAlchemy pool: it LISTENs for ever);
* each payload is JSON ``{"o": <instance id>, ...}``; an instance drops its own echoes;
* PostgreSQL refuses payloads of 8000 bytes or more. A larger message (a live board with
  many calls, a pop with a long history) goes as numbered parts, base64 of its JSON,
  reassembled on arrival. Parts of one message are sent in order on one connection, so
  they arrive in order; an incomplete message (sender lost mid-way) is dropped;
* ``forward()`` never waits (the publisher may be the AMI reader's consumer): messages
  wait in a bounded outbox while the connection is down, the oldest dropped first;
* the connection is checked every ``health_interval`` s and rebuilt with backoff after
  any loss. NOTIFY is not durable: what is sent while an instance is disconnected is
  lost to it, which suits live updates (pages reload their state on reconnect).

Only PostgreSQL has LISTEN/NOTIFY; on SQLite (one process) nothing is installed.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from callcenter.events import EventHub, Message
from callcenter.tasks import supervise

logger = logging.getLogger(__name__)

CHANNEL = "callcenter_hub"
MAX_PAYLOAD = 7900  # bytes; PostgreSQL's limit is 8000 including nothing else
PART_CHARS = 7000  # base64 characters per part, leaving room for the envelope
APPLICATION_NAME = "callcenter-hub-bridge"  # how the LISTEN connection shows in pg_stat_activity


def asyncpg_dsn(database_url: str) -> str | None:
    """The asyncpg DSN of a ``postgresql+asyncpg://`` URL; None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _plain(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def encode(message: Message, origin: str, message_id: int) -> list[str]:
    """The NOTIFY payloads carrying ``message``: one, or numbered parts when large."""
    single = json.dumps({"o": origin, "m": message}, default=_plain, ensure_ascii=False, separators=(",", ":"))
    if len(single.encode("utf-8")) <= MAX_PAYLOAD:
        return [single]
    body = json.dumps(message, default=_plain, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text = base64.b64encode(body).decode("ascii")
    pieces = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
    return [
        json.dumps({"o": origin, "p": message_id, "k": k, "n": len(pieces), "d": piece}, separators=(",", ":"))
        for k, piece in enumerate(pieces)
    ]


@dataclass(slots=True)
class BridgeStats:
    sent: int = 0  # payloads NOTIFYed
    received: int = 0  # messages republished here from other instances
    echoes: int = 0  # our own payloads, dropped
    dropped: int = 0  # messages lost: outbox full, unreadable payload, incomplete parts
    connects: int = 0


class _Reassembly:
    """Parts of large messages, by (origin, message id); bounded."""

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._parts: OrderedDict[tuple[str, int], list[str | None]] = OrderedDict()

    def add(self, origin: str, envelope: dict[str, Any]) -> Message | None:
        key = (origin, int(envelope["p"]))
        total, index = int(envelope["n"]), int(envelope["k"])
        parts = self._parts.get(key)
        if parts is None:
            parts = self._parts[key] = [None] * total
            while len(self._parts) > self._limit:
                self._parts.popitem(last=False)
        parts[index] = str(envelope["d"])
        if any(p is None for p in parts):
            return None
        del self._parts[key]
        return json.loads(base64.b64decode("".join(parts)).decode("utf-8"))  # type: ignore[arg-type]


class PgHubBridge:
    """Forwards a hub's messages to other instances over NOTIFY and republishes theirs."""

    def __init__(
        self,
        hub: EventHub,
        dsn: str,
        *,
        channel: str = CHANNEL,
        instance_id: str | None = None,
        max_outbox: int = 1000,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        health_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self._hub = hub
        self._dsn = dsn
        self._channel = channel
        self.instance_id = instance_id or secrets.token_hex(6)
        self._outbox: deque[Message] = deque()
        self._max_outbox = max_outbox
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._health_interval = health_interval
        self._backoff = (backoff_initial, backoff_max)
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._parts = _Reassembly()
        self._task: asyncio.Task[None] | None = None
        self.stats = BridgeStats()

    # --- hub side ---------------------------------------------------------------------

    def forward(self, message: Message) -> None:
        """The hub's bridge callback: queue for sending; never waits."""
        if len(self._outbox) >= self._max_outbox:
            self._outbox.popleft()
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                logger.warning("hub bridge outbox full: %d message(s) dropped so far", self.stats.dropped)
        self._outbox.append(message)
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Attach to the hub and connect in the background."""
        self._hub.add_bridge(self.forward)
        self._task = asyncio.create_task(self._supervise(), name="hub-bridge")
        supervise(self._task, logger)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # --- connection -------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = 0.0
        while True:
            try:
                await self._session()
                delay = 0.0
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
                logger.warning("hub bridge to PostgreSQL lost or refused: %s", err or type(err).__name__)
            except Exception:  # noqa: BLE001 - whatever broke, the bridge reconnects
                logger.exception("hub bridge failed; reconnecting")
            self._connected.clear()
            delay = min(max(delay * 2, self._backoff[0]), self._backoff[1])
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        conn = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
        self._lost.clear()
        try:
            conn.add_termination_listener(lambda _c: self._lost.set())
            await conn.add_listener(self._channel, self._on_notify)
            self.stats.connects += 1
            self._connected.set()
            logger.info("hub bridge listening on %r as instance %s", self._channel, self.instance_id)
            await self._pump(conn)
        finally:
            self._connected.clear()
            conn.terminate()

    async def _pump(self, conn: asyncpg.Connection) -> None:
        """Send the outbox; check the connection when idle; return once it is lost."""
        while not self._lost.is_set():
            while self._outbox:
                message = self._outbox[0]
                for payload in encode(message, self.instance_id, next(self._ids)):
                    await conn.execute("SELECT pg_notify($1, $2)", self._channel, payload)
                    self.stats.sent += 1
                self._outbox.popleft()  # only once every part went out
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._health_interval)
            except TimeoutError:
                await conn.fetchval("SELECT 1")  # half-open connections fail here

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            origin = str(envelope["o"])
            if origin == self.instance_id:
                self.stats.echoes += 1
                return
            message = envelope["m"] if "m" in envelope else self._parts.add(origin, envelope)
        except (ValueError, KeyError, TypeError) as err:
            self.stats.dropped += 1
            logger.warning("hub bridge: unreadable payload skipped (%s): %.200r", err, payload)
            return
        if message is not None:
            self.stats.received += 1
            self._hub.publish(message, local_only=True)


# --- wiring ---------------------------------------------------------------------------


def bridge_for(hub: EventHub, database_url: str) -> PgHubBridge | None:
    """A bridge for ``hub`` over this database (None on SQLite: one process, nothing to bridge).

    The composition root builds it once and starts/closes it with the app (``start``/``close``).
    """
    dsn = asyncpg_dsn(database_url)
    if dsn is None:
        return None
    return PgHubBridge(hub, dsn)
