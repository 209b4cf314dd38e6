"""The wallboard's state: the live board (calls, operators) plus the day's queue figures.

::

    telephony BoardPublisher --"board"--> EventHub --> Wallboard._follow (latest board, pause changes)
    telephony  ended/missed  --"call"---> EventHub --> Wallboard._follow (figures are stale)
    calls table --(at most every ``metrics_seconds``, or soon after a call ends)--> figures
    Wallboard._publish --"wallboard" (coalesced, <= 1 a second)--> EventHub --> /ws --> wallboard.js

Only the app instance that keeps the AMI link (the leader, or the only one) publishes
"wallboard" and "pause" messages (the others follow them over the hub bridge: each would
otherwise send every supervisor a copy); every instance can render the page from the latest board it saw.
An operator whose pause changed (from the browser, the phone or the CLI) gets a "pause"
message addressed to them (``user_id``), matched by the device on their account.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from callcenter.accounts.users import UserService, UserView
from callcenter.domain.phones import mask_phone
from callcenter.domain.queue_stats import (
    STATUS_LABELS,
    QueueCall,
    hours_of_day,
    metrics,
    operator_days,
    operator_status,
)
from callcenter.events import EventHub, Message
from callcenter.tasks import cancel_and_wait, start_task

logger = logging.getLogger(__name__)

QueueCalls = Callable[[datetime, datetime], Awaitable[list[QueueCall]]]


@dataclass(frozen=True)
class Panel:
    """An extra panel on the wallboard another feature adds (incidents, escalations...).

    ``fetch()`` returns the panel's lines, each ``{"text": str, "level": "info"|"warn"|"alert"}``;
    it must be quick (memory or one small query) and is bounded by ``PANEL_TIMEOUT``.
    """

    key: str
    title: str
    fetch: Callable[[], Awaitable[list[dict[str, str]]]]


PANEL_TIMEOUT = 2.0


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def device_matches(device: str | None, interface: str) -> bool:
    """A user's ``device`` names a queue member's interface (``Local/op1@operators/n``) or its device part."""
    if not device:
        return False
    return device == interface or interface.rsplit("/", 1)[0] == device or interface.split("/n")[0] == device


class Wallboard:
    """Follows the live board and the call records; builds and publishes the wallboard's state."""

    def __init__(
        self,
        hub: EventHub,
        queue_calls: QueueCalls,
        users: UserService,
        zone: tzinfo,
        *,
        service_level_seconds: int,
        wrapup_seconds: float,
        short_abandon_seconds: float,
        publish: Callable[[], bool],
        panels: list[Panel] | None = None,
        metrics_seconds: float = 10.0,
        min_interval: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hub = hub
        self._queue_calls = queue_calls
        self._users = users
        self._zone = zone
        self._service_level = service_level_seconds
        self._wrapup = wrapup_seconds
        self._short = short_abandon_seconds
        self._publishing = publish  # true on the instance that keeps the AMI link (asked each time)
        self.panels: list[Panel] = panels if panels is not None else []
        self._metrics_seconds = metrics_seconds
        self._min_interval = min_interval
        self._closed = False
        self._clock = clock
        self.board: Message | None = None
        self._figures: dict[str, Any] = {"queues": {}, "total": {}, "operators": {}}
        self._figures_at = 0.0
        self._stale = asyncio.Event()
        self._dirty = asyncio.Event()
        self._pauses: dict[str, tuple[bool, str]] = {}
        self._devices: list[UserView] = []
        self._devices_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0

    def changed(self) -> None:
        """Something shown changed (a panel's lines): publish soon. Never waits."""
        self._dirty.set()

    @property
    def short_abandon_seconds(self) -> float:
        return self._short

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        sub = self._hub.subscribe(accepts=lambda m: m.get("type") in ("board", "call"), maxsize=64)
        self._tasks = [
            start_task(self._follow(sub), name="wallboard-follow", logger=logger),
            start_task(self._refresh_loop(), name="wallboard-figures", logger=logger),
        ]
        self._tasks.append(start_task(self._publish_loop(), name="wallboard-publish", logger=logger))

    async def close(self) -> None:
        # The flag ends the loops even where a cancellation is lost (Python 3.11's wait_for can
        # swallow one that arrives as its inner wait completes; seen as a shutdown that hung).
        self._closed = True
        self._dirty.set()
        self._stale.set()
        await cancel_and_wait(*self._tasks)

    # --- state ------------------------------------------------------------------------------

    def service_level_of(self, queue: str) -> int:
        for item in (self.board or {}).get("queues") or []:
            if item.get("name") == queue and item.get("service_level_seconds"):
                return int(item["service_level_seconds"])
        return self._service_level

    async def refresh_figures(self) -> None:
        """Today's and the last hour's figures, per queue and in total, from the call records."""
        now = self._clock()
        midnight = now.astimezone(self._zone).replace(hour=0, minute=0, second=0, microsecond=0)
        calls = await self._queue_calls(midnight.astimezone(UTC), now + timedelta(minutes=1))
        hour_ago = now - timedelta(hours=1)
        last_hour = [c for c in calls if c.queued_at >= hour_ago]
        figures_of = self._figures_of
        queues = sorted({c.queue for c in calls})
        self._figures = {
            "total": {"today": figures_of(calls), "last_hour": figures_of(last_hour)},
            "queues": {
                q: {
                    "today": figures_of([c for c in calls if c.queue == q]),
                    "last_hour": figures_of([c for c in last_hour if c.queue == q]),
                }
                for q in queues
            },
            "operators": {i: {"handled": d.handled, "missed": d.missed} for i, d in operator_days(calls).items()},
            "hours": [
                {
                    "hour": start.strftime("%H:00"),
                    "answered": f.answered,
                    "answered_in_time": f.answered_in_time,
                    "abandoned": f.abandoned,  # short abandons included, as everywhere (docs/wallboard.md)
                    "short_abandoned": f.short_abandoned,
                    "service_level": f.as_json()["service_level"],
                }
                for start, f in hours_of_day(
                    calls,
                    self._zone,
                    midnight,
                    now,
                    service_level_seconds=self.service_level_of,
                    short_abandon_seconds=self._short,
                )
            ],
            "day_started_at": midnight.astimezone(UTC).isoformat(),
        }
        self._figures_at = time.monotonic()
        self._dirty.set()

    def _figures_of(self, calls: list[QueueCall]) -> dict[str, Any]:
        return metrics(calls, service_level_seconds=self.service_level_of, short_abandon_seconds=self._short).as_json()

    async def state(self) -> Message:
        """Everything the wallboard shows, as the "wallboard" message."""
        now = self._clock()
        board = self.board or {}
        queued = board.get("queued") or []
        queue_names = sorted(
            {q.get("name") for q in board.get("queues") or [] if q.get("name")}
            | set(self._figures.get("queues", {}))
            | {c.get("queue") for c in queued if c.get("queue")}
        )
        empty = {"today": metrics([]).as_json(), "last_hour": metrics([]).as_json()}
        queues = []
        for name in queue_names:
            waiting = [c for c in queued if c.get("queue") == name]
            queues.append(
                {
                    "name": name,
                    "service_level_seconds": self.service_level_of(name),
                    "waiting": len(waiting),
                    "oldest_queued_at": _oldest(waiting),
                    **self._figures.get("queues", {}).get(name, empty),
                }
            )
        return {
            "type": "wallboard",
            "server_now": now.isoformat(),
            "link": board.get("link", "disabled"),
            "link_label": board.get("link_label", "телефония отключена"),
            "day_started_at": self._figures.get("day_started_at"),
            "short_abandon_seconds": self._short,
            "waiting": len(queued),
            "oldest_queued_at": _oldest(queued),
            "calls": [
                # A wall display is read by anyone in the room: callers' numbers are always masked here.
                {"queue": c.get("queue"), "caller": _masked_caller(c), "queued_at": c.get("queued_at")}
                for c in queued
            ],
            "total": self._figures.get("total") or empty,
            # today's calls per local hour for the board's chart (answered in time, later, abandoned)
            "hours": self._figures.get("hours") or [],
            "queues": queues,
            "operators": [self._operator(o, now) for o in board.get("operators") or []],
            "panels": await self._panels(),
        }

    def _operator(self, op: dict[str, Any], now: datetime) -> dict[str, Any]:
        status, wrapup_until = operator_status(
            str(op.get("state", "")),
            paused=bool(op.get("paused")),
            available=bool(op.get("available", True)),
            last_call_ended_at=_parse(op.get("last_call_ended_at")),
            now=now,
            wrapup_seconds=self._wrapup,
        )
        day = self._figures.get("operators", {}).get(op.get("interface"), {})
        since = op.get("state_since")
        if wrapup_until is not None:
            since = op.get("last_call_ended_at")
        return {
            "interface": op.get("interface"),
            "name": op.get("name"),
            "status": status.value,
            "status_label": STATUS_LABELS[status],
            "pause_reason": op.get("pause_reason") or "" if op.get("paused") else "",
            "paused": bool(op.get("paused")),
            "since": since,
            "wrapup_until": wrapup_until.isoformat() if wrapup_until else None,
            "handled_today": day.get("handled", 0),
            "missed_today": day.get("missed", 0),
            "queues": op.get("queues") or [],
        }

    async def _panels(self) -> list[dict[str, Any]]:
        result = []
        for panel in self.panels:
            try:
                async with asyncio.timeout(PANEL_TIMEOUT):
                    lines = await panel.fetch()
            except Exception:  # noqa: BLE001 - one failing panel must not blank the wallboard
                logger.exception("wallboard panel %s failed", panel.key)
                lines = [{"text": "нет данных", "level": "warn"}]
            result.append({"key": panel.key, "title": panel.title, "lines": lines})
        return result

    # --- the operator's own pause -----------------------------------------------------------

    def operator_for(self, device: str | None) -> dict[str, Any] | None:
        """The live board's entry for the phone on a user's account, or None."""
        for op in (self.board or {}).get("operators") or []:
            if device_matches(device, str(op.get("interface", ""))):
                return op
        return None

    async def _note_pauses(self, board: Message) -> None:
        for op in board.get("operators") or []:
            interface = str(op.get("interface", ""))
            now = (bool(op.get("paused")), str(op.get("pause_reason") or ""))
            before = self._pauses.get(interface)
            self._pauses[interface] = now
            if before is None or before == now:
                continue
            user = await self._user_at(interface) if self._publishing() else None
            if user is not None:  # one instance tells the operator (the bridge carries it to the rest)
                self._hub.publish(
                    {
                        "type": "pause",
                        "user_id": user.id,
                        "interface": interface,
                        "paused": now[0],
                        "reason": now[1],
                        "since": op.get("state_since"),
                    }
                )

    async def _user_at(self, interface: str) -> UserView | None:
        if time.monotonic() - self._devices_at > 30 or not self._devices:
            try:
                self._devices = [u for u in await self._users.all() if u.device and u.active]
                self._devices_at = time.monotonic()
            except Exception as err:  # noqa: BLE001 - database down: no pause message this time
                logger.warning("users not loaded for a pause message (%s)", err)
        for user in self._devices:
            if device_matches(user.device, interface):
                return user
        return None

    # --- tasks ------------------------------------------------------------------------------

    async def _follow(self, sub: Any) -> None:
        with sub:
            while not self._closed:
                message = await sub.get()
                if message.get("type") == "board":
                    self.board = message
                    self._dirty.set()
                    try:
                        await self._note_pauses(message)
                    except Exception:  # noqa: BLE001
                        logger.exception("pause messages failed")
                elif message.get("change") in ("ended", "missed"):
                    self._stale.set()

    async def _refresh_loop(self) -> None:
        while not self._closed:
            try:
                await self.refresh_figures()
            except Exception as err:  # noqa: BLE001 - database down: the old figures stay
                logger.warning("wallboard figures not refreshed (%s)", err)
            try:
                async with asyncio.timeout(self._metrics_seconds):
                    await self._stale.wait()
                await asyncio.sleep(0.3)  # the call writer stores the ended call first
            except TimeoutError:
                pass
            self._stale.clear()

    async def _publish_loop(self) -> None:
        while not self._closed:
            await self._dirty.wait()
            self._dirty.clear()
            if self._closed:
                return
            if not self._publishing():
                continue  # a follower: the leader's wallboard reaches its sockets over the bridge
            try:
                self._hub.publish(await self.state())
                self.published += 1
            except Exception:  # noqa: BLE001
                logger.exception("wallboard not published")
            await asyncio.sleep(self._min_interval)


def _oldest(calls: list[dict[str, Any]]) -> str | None:
    stamps = [str(c["queued_at"]) for c in calls if c.get("queued_at")]  # ISO 8601 UTC: sorts as text
    return min(stamps) if stamps else None


def _masked_caller(call: dict[str, Any]) -> str:
    caller = call.get("caller")
    if not isinstance(caller, str) or not caller:
        return "номер скрыт"
    if caller.startswith("+"):
        return mask_phone(caller)
    return "*" * max(0, len(caller) - 2) + caller[-2:]
