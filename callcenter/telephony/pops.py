"""Screen pops: an operator's phone rings, their browser shows who is calling and why.

A pop goes to the event hub as ``{"type": "pop", "user_id": ...}``; the staff WebSocket
(``callcenter.web.live``) hands "pop" messages only to the sockets of that user. One
message type, a ``state`` field saying which moment it is:

* ``ringing`` (``complete: false``): sent as soon as the phone rings, from what the call
  tracker knows (caller, IVR path, the new-ticket link); no database work in the way;
* ``ringing``/``talking`` (``complete: true``): the same pop with the caller's tickets from
  every channel, the citizen's name and the draft the IVR made during this call;
* ``talking``: the operator answered (the pop stays: they fill the ticket while talking);
* ``closed``: the phone stopped ringing (answered elsewhere, no answer, caller gone);
* ``ended``: the call the operator took is over.

Everything runs in tasks of its own (kept, their failures logged), never on the AMI
reader's path. The caller's history is loaded once per call and shared by every phone
that rings for it (``ringall`` rings all free operators).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from callcenter.domain.calls import CallEnded, CallSnapshot, OperatorRinging, OperatorRingingStopped
from callcenter.domain.errors import NotFound
from callcenter.domain.tickets import CHANNEL_LABELS, STATUS_LABELS, Status
from callcenter.events import EventHub
from callcenter.reference import ReferenceData
from callcenter.tasks import supervise
from callcenter.telephony.board_messages import CallWording
from callcenter.telephony.calls_store import OperatorDirectory
from callcenter.tickets.schemas import TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

DRAFT_WINDOW = timedelta(minutes=15)  # a draft this fresh from the caller's number belongs to the call
MAX_OPEN = 10
MAX_RECENT = 5
HISTORY_BATCH = 100  # callers whose histories one round of queries loads (each round waits on the database thread)
OPEN_STATUSES = frozenset({Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS, Status.DONE})
LIVE_STATES = frozenset({"ringing", "talking"})
HISTORY_UNAVAILABLE = "История обращений сейчас недоступна: нет связи с базой данных"


def ivr_category(path: str | None, reference: ReferenceData) -> str | None:
    """The last category the caller chose in the IVR, if any."""
    codes = [t for t in (path or "").split(">") if t and reference.has_category(t)]
    return codes[-1] if codes else None


def new_ticket_url(call: CallSnapshot, category: str | None) -> str:
    """The staff form prefilled for this call (``editing.new_ticket_page`` reads these)."""
    query = {"phone": call.caller or "", "call": call.linkedid, "category": category or ""}
    return "/staff/tickets/new?" + urlencode({k: v for k, v in query.items() if v})


def ticket_json(ticket: TicketView) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "url": f"/staff/tickets/{ticket.number}",
        "status": ticket.status.value,
        "status_label": STATUS_LABELS.get(ticket.status, ticket.status.value),
        "open": ticket.status in OPEN_STATUSES,
        "is_draft": ticket.is_draft,
        "channel": ticket.channel.value,
        "channel_label": CHANNEL_LABELS.get(ticket.channel, ticket.channel.value),
        "category": ticket.category,
        "category_name": ticket.category_name,
        "title": ticket.title[:200],
        "address": ticket.address[:200],
        "created_at": ticket.created_at.astimezone(UTC).isoformat(),
    }


def draft_json(ticket: TicketView) -> dict[str, Any]:
    return {
        **ticket_json(ticket),
        "description": ticket.description[:600],
        "confirm_url": f"/staff/tickets/{ticket.number}/edit",
    }


@dataclass(slots=True)
class _Pop:
    linkedid: str
    interface: str
    state: str = "ringing"
    user_id: int | None = None
    uniqueids: frozenset[str] = frozenset()
    caller: str = ""


MAX_LIVE = 1000  # live transcripts remembered (by the IVR leg's uniqueid)
MAX_NEARBY = 10  # open tickets at the suggested place shown in the pop


def live_json(message: dict[str, Any]) -> dict[str, Any]:
    """The pop's view of a ``voice_live`` message: what the caller said, what it suggests,
    and the open tickets already at the suggested place (``nearby``)."""
    return {
        "text": str(message.get("text") or "")[:2000],
        "final": bool(message.get("final")),
        "audio_seconds": message.get("audio_seconds"),
        "suggestion": message.get("suggestion"),
        "nearby": list(message.get("nearby") or [])[:MAX_NEARBY],
    }


@dataclass(slots=True)
class PopStats:
    published: int = 0  # pop messages handed to the hub
    unknown_operator: int = 0  # rings at an interface no staff user has as their device
    history_failures: int = 0


class PopService:
    """Turns ringing/stopped/ended notifications into pop messages for one operator each."""

    def __init__(
        self,
        hub: EventHub,
        tickets: TicketService,
        directory: OperatorDirectory,
        reference: ReferenceData,
        wording: CallWording,
        *,
        draft_window: timedelta = DRAFT_WINDOW,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        incidents: Callable[[dict[str, list[TicketView]]], Awaitable[dict[str, list[dict[str, Any]]]]] | None = None,
    ) -> None:
        self._hub = hub
        self._tickets = tickets
        self._directory = directory
        self._reference = reference
        self._wording = wording
        self._draft_window = draft_window
        self._clock = clock
        # Active incidents holding each caller's known address (outage mode), for a batch of
        # callers whose tickets are loaded: one look at the incidents, not one per call.
        self._incidents = incidents
        self._pops: dict[tuple[str, str], _Pop] = {}
        self._details: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._live: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._wanted: list[tuple[CallSnapshot, frozenset[str], asyncio.Future[dict[str, Any]]]] = []
        self._loader: asyncio.Task[None] | None = None
        self.stats = PopStats()

    # --- notifications (called from the tracker's consumer; never wait) -------------

    def ringing(self, note: OperatorRinging, uniqueids: frozenset[str] = frozenset()) -> None:
        """A phone rings: start the pop for whoever sits there."""
        key = (note.linkedid, note.interface)
        pop = self._pops.get(key)
        if pop is None:
            pop = self._pops[key] = _Pop(note.linkedid, note.interface)
        pop.state = "ringing"
        pop.uniqueids = uniqueids | {note.linkedid}
        pop.caller = note.call.caller or ""
        details = self._details_for(note.call, uniqueids)
        known, user = self._directory.cached(note.interface)
        if known:
            self._open(pop, note, user, details)  # from memory: the first frame leaves now
        else:
            self._spawn(self._deliver(pop, note, details), f"pop-{note.linkedid}")

    def voice_live(self, message: dict[str, Any]) -> None:
        """A caller's words as they are recognised (``voice_live`` from the AudioSocket
        feature): remembered for pops still to come, and sent now to every operator whose
        phone rings for that call, until they answer."""
        uniqueid = str(message.get("call_uniqueid") or "")
        if not uniqueid:
            return
        self._live[uniqueid] = message
        self._live.move_to_end(uniqueid)
        while len(self._live) > MAX_LIVE:
            self._live.popitem(last=False)
        for pop in self._pops.values():
            if pop.state != "ringing" or pop.user_id is None or self._live_for(pop) is not message:
                continue
            self._publish(
                {
                    "type": "pop",
                    "state": "ringing",
                    "update": "live",
                    "user_id": pop.user_id,
                    "linkedid": pop.linkedid,
                    "interface": pop.interface,
                    "live": live_json(message),
                }
            )

    def _live_for(self, pop: _Pop) -> dict[str, Any] | None:
        """The newest live transcript of this call: by the call's leg uniqueids, else (a
        transfer, another instance's IVR) the newest from the same caller number."""
        for uniqueid in reversed(self._live):
            if uniqueid in pop.uniqueids:
                return self._live[uniqueid]
        if pop.caller:
            for message in reversed(self._live.values()):
                if message.get("phone") == pop.caller:
                    return message
        return None

    def stopped(self, note: OperatorRingingStopped) -> None:
        """That phone stopped ringing: answered there (talking) or not (closed)."""
        key = (note.linkedid, note.interface)
        pop = self._pops.get(key)
        if pop is None:
            return
        if note.reason == "answered":
            pop.state = "talking"
        else:
            pop.state = "closed"
            del self._pops[key]
        if pop.user_id is not None:
            self._publish(
                {
                    "type": "pop",
                    "state": pop.state,
                    "reason": note.reason,
                    "user_id": pop.user_id,
                    "linkedid": note.linkedid,
                    "interface": note.interface,
                }
            )

    def ended(self, note: CallEnded) -> None:
        """The call is over: the operator who took it sees so; its state is forgotten."""
        for key in [k for k in self._pops if k[0] == note.linkedid]:
            pop = self._pops.pop(key)
            if pop.user_id is not None and pop.state == "talking":
                self._publish(
                    {
                        "type": "pop",
                        "state": "ended",
                        "user_id": pop.user_id,
                        "linkedid": note.linkedid,
                        "interface": pop.interface,
                    }
                )
            pop.state = "ended"
        self._details.pop(note.linkedid, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, _, future in self._wanted:
            future.cancel()
        self._wanted.clear()

    # --- delivery -------------------------------------------------------------------

    async def _deliver(self, pop: _Pop, note: OperatorRinging, details: asyncio.Future[dict[str, Any]]) -> None:
        """The operator was not in memory: ask the database first."""
        try:
            user = await self._directory.resolve(note.interface)
        except Exception as err:  # noqa: BLE001 - database down and the operator not cached
            logger.warning("no screen pop for call %s at %s: operator unknown (%s)", note.linkedid, note.interface, err)
            return
        self._open(pop, note, user, details)

    def _open(self, pop: _Pop, note: OperatorRinging, user: Any, details: asyncio.Future[dict[str, Any]]) -> None:
        """Publish the pop for ``user`` now; the caller's history follows when loaded."""
        if user is None:
            self.stats.unknown_operator += 1
            logger.info(
                "call %s rings at %s, which no active staff user has as their device: no screen pop",
                note.linkedid,
                note.interface,
            )
            return
        pop.user_id = user.id
        if pop.state not in LIVE_STATES:
            return
        base = self._base(note, user.id)
        live = self._live_for(pop)
        if live is not None:
            base["live"] = live_json(live)
        if details.done() and not details.cancelled() and details.exception() is None:
            self._publish({**base, **details.result(), "state": pop.state, "complete": True})
            return
        self._publish({**base, "state": pop.state, "complete": False})
        # A callback on the shared history load, not a task per ring (issue 19: two new
        # tasks per ring in a burst of 200).
        details.add_done_callback(functools.partial(self._complete, pop, base))

    def _complete(self, pop: _Pop, base: dict[str, Any], details: asyncio.Future[dict[str, Any]]) -> None:
        if details.cancelled() or details.exception() is not None:
            return  # closing down (the load itself turns a database failure into a result)
        if pop.state in LIVE_STATES:
            message = {**base, **details.result(), "state": pop.state, "complete": True}
            live = self._live_for(pop)  # the transcript may have grown while the history loaded
            if live is not None:
                message["live"] = live_json(live)
            self._publish(message)

    def _base(self, note: OperatorRinging, user_id: int) -> dict[str, Any]:
        call = note.call
        category = ivr_category(call.ivr_path, self._reference)
        return {
            "type": "pop",
            "user_id": user_id,
            "linkedid": call.linkedid,
            "interface": note.interface,
            "member_name": note.member_name,
            "caller": call.caller,
            "caller_display": self._wording.caller(call),
            "caller_name": call.caller_name,
            "queue": call.queue,
            "ivr_path": call.ivr_path,
            "ivr_steps": self._wording.steps(call.ivr_path),
            "ivr_ticket": call.ticket_id,
            "category": category,
            "new_ticket_url": new_ticket_url(call, category),
            "at": self._clock().isoformat(),
        }

    def _publish(self, message: dict[str, Any]) -> None:
        self.stats.published += 1
        self._hub.publish(message)

    # --- the caller's history ---------------------------------------------------------

    def _details_for(self, call: CallSnapshot, uniqueids: frozenset[str]) -> asyncio.Future[dict[str, Any]]:
        known = self._details.get(call.linkedid)
        if known is not None and not _failed(known):
            return known  # shared by every phone that rings for this call
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._details[call.linkedid] = future
        self._wanted.append((call, uniqueids | {call.linkedid}, future))
        if self._loader is None or self._loader.done():
            self._loader = self._spawn(self._load_histories(), "pop-histories")
        return future

    async def _load_histories(self) -> None:
        """One task loads the histories of every waiting call, HISTORY_BATCH callers a query round.

        It yields first: every first frame of a burst of rings is sent before any history
        query takes the loop (ORM work runs on it). A burst of 200 rings is then a few rounds
        of queries instead of 200 tasks with ~4 queries each (issue 19: p99 1.1-1.3 s).
        """
        await asyncio.sleep(0)
        while self._wanted:
            batch, self._wanted = self._wanted[:HISTORY_BATCH], self._wanted[HISTORY_BATCH:]
            batch = [item for item in batch if not item[2].done()]
            try:
                found = await self._tickets.tickets_for_phones(
                    sorted({call.caller for call, _, _ in batch if call.caller}), limit=20
                )
            except Exception as err:  # noqa: BLE001 - the pops still show the callers without history
                self._unavailable(batch, err)
                continue
            notes = await self._callers_incidents(found)
            for call, uniqueids, future in batch:
                caller = call.caller or ""
                try:
                    details = await self._details_of(call, found.get(caller, []), uniqueids, notes.get(caller, []))
                except Exception as err:  # noqa: BLE001 - the draft lookup failed: this pop without history
                    self._unavailable([(call, uniqueids, future)], err)
                    continue
                if not future.done():
                    future.set_result(details)
            await asyncio.sleep(0)  # first frames of rings that came meanwhile go before the next round

    def _unavailable(
        self, batch: list[tuple[CallSnapshot, frozenset[str], asyncio.Future[Any]]], err: Exception
    ) -> None:
        for call, _, future in batch:
            self.stats.history_failures += 1
            logger.warning("screen pop for call %s without history: %s", call.linkedid, err)
            if not future.done():
                future.set_result({"citizen": None, "tickets": [], "draft": None, "history_error": HISTORY_UNAVAILABLE})

    async def _details_of(
        self,
        call: CallSnapshot,
        tickets: list[TicketView],
        uniqueids: frozenset[str],
        incidents: list[dict[str, Any]],
    ) -> dict[str, Any]:
        draft = await self._find_draft(call, tickets, uniqueids)
        shown = [t for t in tickets if draft is None or t.number != draft.number]
        open_tickets = [t for t in shown if t.status in OPEN_STATUSES][:MAX_OPEN]
        recent = [t for t in shown if t.status not in OPEN_STATUSES][:MAX_RECENT]
        citizen = next((t.citizen_name for t in tickets if t.citizen_name), None)
        category = (draft.category if draft else None) or ivr_category(call.ivr_path, self._reference)
        return {
            "citizen": citizen,
            "incidents": incidents,
            "tickets": [ticket_json(t) for t in open_tickets + recent],
            "draft": draft_json(draft) if draft else None,
            "category": category,
            "new_ticket_url": new_ticket_url(call, category),
        }

    async def _callers_incidents(self, found: dict[str, list[TicketView]]) -> dict[str, list[dict[str, Any]]]:
        """Active incidents that hold an address from each caller's tickets (empty when unknown)."""
        if self._incidents is None or not found:
            return {}
        try:
            return await self._incidents(found)
        except Exception as err:  # noqa: BLE001 - the pops go on without the incident note
            logger.warning("screen pops for %d caller(s) without incidents: %s", len(found), err)
            return {}

    async def _find_draft(
        self, call: CallSnapshot, tickets: list[TicketView], uniqueids: frozenset[str]
    ) -> TicketView | None:
        """The draft the IVR made during this call: by IVR_TICKET, by the call's uniqueids,
        else the newest draft from this number within ``draft_window``."""
        if call.ticket_id:
            named = next((t for t in tickets if t.number == call.ticket_id), None)
            if named is None:
                try:
                    named = await self._tickets.get(call.ticket_id)
                except NotFound:
                    named = None
            if named is not None and named.is_draft:
                return named
        drafts = [t for t in tickets if t.is_draft]
        for ticket in drafts:
            if (ticket.extra or {}).get("call_uniqueid") in uniqueids:
                return ticket
        since = self._clock() - self._draft_window
        return next((t for t in drafts if t.created_at >= since), None)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        supervise(task, logger)
        return task


def _failed(task: asyncio.Future[dict[str, Any]]) -> bool:
    """A finished history load that found no database: worth trying again on the next ring."""
    if not task.done():
        return False
    return task.cancelled() or task.exception() is not None or bool(task.result().get("history_error"))
