"""The notifier: live call state as hub messages for the supervisors' board.

* ``{"type": "board", ...}``: the whole live board (calls in the IVR, queued with their
  wait, talking, dialling out; each operator's state; the AMI link's state). Published
  by :class:`BoardPublisher` at most every ``min_interval`` seconds however fast events
  come (coalesced), and every ``heartbeat`` seconds when nothing happens, so a page
  opened on another app instance gets a board soon;
* ``{"type": "call", "change": "missed" | "ended", "call": {...}}``: one call, when it
  ends and when the caller gave up waiting (the missed calls to call back).

``callcenter.web.live`` sends "board" and "call" messages to supervisors, analysts
and admins only. Times are ISO 8601 UTC; the browser ticks waits and talk times itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from callcenter.domain.calls import CallSnapshot, LiveBoard, OperatorSnapshot, OperatorState, QueueInfo
from callcenter.domain.phones import format_phone
from callcenter.events import EventHub, Message
from callcenter.reference import ReferenceData
from callcenter.tasks import supervise

logger = logging.getLogger(__name__)

OPERATOR_STATE_LABELS = {
    OperatorState.IDLE: "свободен",
    OperatorState.RINGING: "звонит телефон",
    OperatorState.TALKING: "разговаривает",
}
LINK_LABELS = {"connected": "АТС на связи", "disconnected": "нет связи с АТС", "disabled": "телефония отключена"}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


# IVR_PATH steps (callcenter.ivr.engine) as staff read them; category codes use their names.
IVR_STEP_LABELS = {
    "operator": "попросил оператора",
    "record": "голосовое сообщение",
    "status": "статус заявки",
    "night": "ночной режим",
    "hangup": "положил трубку",
    "empty": "пустая запись",
    "no_input": "не нажал клавишу",
    "invalid": "неверная клавиша",
    "not_found": "заявка не найдена",
}


def ivr_steps(path: str | None, reference: ReferenceData) -> list[str]:
    """``1>water_leak>record`` -> ["клавиша 1", "Порыв водопровода", "голосовое сообщение"]."""
    steps = []
    for token in (path or "").split(">"):
        token = token.strip()
        if not token:
            continue
        if reference.has_category(token):
            steps.append(reference.category(token).name)
        elif token in IVR_STEP_LABELS:
            steps.append(IVR_STEP_LABELS[token])
        elif len(token) == 1 and token in "0123456789*#":
            steps.append(f"клавиша {token}")
        else:
            steps.append(token)
    return steps


class CallWording:
    """Phone numbers and IVR paths as staff read them, remembered (one per app).

    The board words every live call twice a second; formatting a number with
    ``phonenumbers`` costs more than the rest of a call's JSON.
    """

    def __init__(self, reference: ReferenceData, *, size: int = 4096) -> None:
        self.phone = functools.lru_cache(maxsize=size)(format_phone)
        # tuples: one remembered value is shared by many messages
        self._steps = functools.lru_cache(maxsize=size)(lambda path: tuple(ivr_steps(path, reference)))

    def steps(self, path: str | None) -> list[str]:
        return list(self._steps(path))

    def caller(self, call: CallSnapshot) -> str:
        if call.caller:
            return self.phone(call.caller)
        return call.caller_raw or "номер скрыт"


def call_json(call: CallSnapshot, wording: CallWording) -> dict[str, Any]:
    """One call as the board and its messages show it."""
    return {
        "linkedid": call.linkedid,
        "direction": call.direction.value,
        "phase": call.phase.value,
        "caller": call.caller,
        "caller_display": wording.caller(call),
        "caller_name": call.caller_name,
        "arrived_at": _iso(call.arrived_at),
        "queue": call.queue,
        "queued_at": _iso(call.queued_at),
        "wait_seconds": _round(call.queue_wait_seconds),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration_seconds": _round(call.duration_seconds),
        "ivr_path": call.ivr_path,
        "ivr_steps": wording.steps(call.ivr_path),
        "ringing": [{"interface": r.interface, "name": r.member_name} for r in call.ringing],
        "operator_interface": call.answered_by,
        "operator": call.answered_by_name,
        "abandoned": call.abandoned,
        "needs_callback": call.needs_callback,
        "ticket": call.ticket_id,
    }


def operator_json(operator: OperatorSnapshot) -> dict[str, Any]:
    return {
        "interface": operator.interface,
        "name": operator.name,
        "state": operator.state.value,
        "state_label": OPERATOR_STATE_LABELS[operator.state],
        "linkedid": operator.linkedid,
        "paused": operator.paused,
        "available": operator.available,
        "pause_reason": operator.pause_reason,
        "state_since": _iso(operator.state_since),
        "last_call_ended_at": _iso(operator.last_call_ended_at),
        "calls_taken": operator.calls_taken,
        "queues": list(operator.queues),
    }


def queue_json(queue: QueueInfo) -> dict[str, Any]:
    return {
        "name": queue.name,
        "service_level_seconds": queue.service_level_seconds,
        "completed": queue.completed,
        "abandoned": queue.abandoned,
    }


def board_message(board: LiveBoard, link_state: str, wording: CallWording) -> Message:
    """The "board" hub message for ``board`` and the link's state."""
    return {
        "type": "board",
        "link": link_state,
        "link_label": LINK_LABELS.get(link_state, link_state),
        "taken_at": _iso(board.taken_at),
        "in_ivr": [call_json(c, wording) for c in board.in_ivr],
        "queued": [call_json(c, wording) for c in board.queued],
        "talking": [call_json(c, wording) for c in board.talking],
        "dialing": [call_json(c, wording) for c in board.dialing],
        "operators": [operator_json(o) for o in board.operators],
        "queues": [queue_json(q) for q in board.queues],
    }


def empty_board(link_state: str) -> Message:
    """What the board shows before any state is known (AMI off, or nothing heard yet)."""
    return {
        "type": "board",
        "link": link_state,
        "link_label": LINK_LABELS.get(link_state, link_state),
        "taken_at": _iso(datetime.now(UTC)),
        "in_ivr": [],
        "queued": [],
        "talking": [],
        "dialing": [],
        "operators": [],
        "queues": [],
    }


def call_message(change: str, call: CallSnapshot, wording: CallWording) -> Message:
    return {"type": "call", "change": change, "call": call_json(call, wording)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class BoardPublisher:
    """Publishes the live board, coalesced to at most one message per ``min_interval``."""

    def __init__(
        self,
        hub: EventHub,
        snapshot: Callable[[], LiveBoard],
        link_state: Callable[[], str],
        wording: CallWording,
        *,
        min_interval: float = 0.5,
        heartbeat: float = 15.0,
    ) -> None:
        self._hub = hub
        self._wording = wording
        self._snapshot = snapshot
        self._link_state = link_state
        self._min_interval = min_interval
        self._heartbeat = heartbeat
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def changed(self) -> None:
        """Something on the board changed; never waits."""
        self._dirty.set()

    def current(self) -> Message:
        return board_message(self._snapshot(), self._link_state(), self._wording)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="calls-board")
        supervise(self._task, logger)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), self._heartbeat)
            except TimeoutError:
                pass  # nothing changed: publish anyway, as a heartbeat
            self._dirty.clear()
            try:
                self._hub.publish(self.current())
                self.published += 1
            except Exception:  # a bug in one board must not stop the next ones
                logger.exception("live board could not be published")
            await asyncio.sleep(self._min_interval)


class BoardCache:
    """The newest "board" message seen on the hub (local or from another instance).

    An instance without its own AMI link serves the board page from this.
    """

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self.latest: Message | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        subscription = self._hub.subscribe(accepts=lambda m: m.get("type") == "board", maxsize=4)
        self._task = asyncio.create_task(self._run(subscription), name="calls-board-cache")
        supervise(self._task, logger)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, subscription: Any) -> None:
        with subscription:
            while True:
                self.latest = await subscription.get()
