"""Call tracker: AMI events in, immutable call snapshots and notifications out.

Pure logic, no I/O: ``feed(event)`` takes one AMI event as a mapping of its headers and
returns the notifications it caused; ``snapshot()`` returns the supervisors' live board.
After a reconnect (or a gap in the event stream) the AMI link lists what is live and
``reconcile_channels`` / ``reconcile_queues`` rebuild the state from those lists.

A call is every channel sharing one ``Linkedid``. The facts come from these events
(see tests/fixtures/asterisk-traces for what a real Asterisk 22 sends):

* Newchannel/NewCallerid/Newstate/Hangup: legs, caller id, answer, hang-up cause;
* VarSet of IVR_PATH / IVR_CHOICE / IVR_ROUTE / IVR_TICKET (set by our IVR; names in
  callcenter.ivr.channel_vars) and TICKET_ID / CALLBACK_ID / CITIZEN_NUMBER (set by our
  originates): the IVR path and ticket links;
* QueueCallerJoin/Leave/Abandon, AgentCalled (the screen pop: ringing, not answer),
  AgentRingNoAnswer, DialEnd, AgentConnect, AgentComplete: queue wait and operators;
* QueueMemberStatus/Added/Removed/Pause: the operators on the board.

A caller who leaves the queue without an AgentConnect (QueueCallerAbandon, or a queue
timeout followed by hang-up) is flagged ``abandoned`` and ``needs_callback``. Because
Asterisk sends QueueCallerLeave *before* AgentConnect on a normal answer, "left without
an operator" is decided when the call ends, not at QueueCallerLeave.

Event times: the ``Timestamp`` header when manager.conf has ``timestampevents = yes``,
else the injected clock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcenter.domain.calls import (
    BoardResynced,
    CallAbandoned,
    CallAnswered,
    CallDirection,
    CallEnded,
    CallPhase,
    CallQueued,
    CallSnapshot,
    CallStarted,
    CallUpdated,
    LiveBoard,
    Notification,
    OperatorChanged,
    OperatorRing,
    OperatorRinging,
    OperatorRingingStopped,
    OperatorSnapshot,
    OperatorState,
    QueueInfo,
)
from callcenter.domain.phones import try_normalize_phone
from callcenter.ivr.api import channel_vars as cv
from callcenter.telephony.originate import CITIZEN_VARIABLE, request_id_from_uniqueid

Event = Mapping[str, str]
PhoneNormalizer = Callable[[str], "str | None"]

UNKNOWN_CALLER_IDS = frozenset({"", "<unknown>", "unknown", "anonymous"})
CHANNEL_UP = 6
CHANNEL_RINGING = 5
# Asterisk device states in QueueMember/QueueMemberStatus ``Status``: 4 invalid, 5 unavailable.
_UNAVAILABLE_STATUSES = frozenset({"4", "5"})
_LOST_CAUSE_TEXT = "ended while the AMI link was down"
_GONE_MEMORY = 4096  # hung-up uniqueids remembered against stale channel lists


@dataclass(slots=True)
class _Leg:
    uniqueid: str
    channel: str
    context: str = ""
    state: int = 0
    bridge: str | None = None
    application: str = ""
    caller_num: str = ""
    caller_name: str = ""


@dataclass(slots=True)
class _Member:
    interface: str
    name: str
    paused: bool = False
    available: bool = True
    state_interface: str = ""
    pause_reason: str = ""
    queues: set[str] = field(default_factory=set)
    last_call: float | None = None  # epoch seconds: Asterisk's LastCall, or our AgentComplete
    last_pause: float | None = None  # epoch seconds: Asterisk's LastPause
    calls_taken: int = 0
    shown: tuple[object, ...] = ()  # (state, paused, reason) last shown, for ``since``
    since: float | None = None


@dataclass(slots=True)
class _Call:
    linkedid: str
    direction: CallDirection
    phase: CallPhase
    arrived: float
    request_id: str | None = None
    caller_raw: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    caller_from_queue: bool = False
    ivr_path: str | None = None
    ivr_choices: list[str] = field(default_factory=list)
    ivr_route: str | None = None
    queue: str | None = None
    queued_at: float | None = None
    left_queue_at: float | None = None
    ringing: dict[str, OperatorRing] = field(default_factory=dict)
    answering: set[str] = field(default_factory=set)  # interfaces whose DialEnd said ANSWER
    rang: list[OperatorRing] = field(default_factory=list)
    answered_by: str | None = None
    answered_by_name: str | None = None
    answered_at: float | None = None
    connected_interface: str | None = None  # operator on the call now
    ended_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    abandoned: bool = False
    ticket_id: str | None = None
    callback_id: str | None = None
    legs: dict[str, _Leg] = field(default_factory=dict)


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def device_of_channel(channel: str) -> str:
    """The device behind a channel name.

    ``PJSIP/op1-0000001a`` -> ``PJSIP/op1``; ``Local/op1@operators-00000002;1`` ->
    ``Local/op1@operators``.
    """
    name = channel.split(";", 1)[0]
    head, sep, _ = name.rpartition("-")
    return head if sep else name


def device_of_interface(interface: str) -> str:
    """``Local/op1@operators/n`` -> ``Local/op1@operators``; ``PJSIP/op1`` stays."""
    if interface.startswith("Local/"):
        return "/".join(interface.split("/", 2)[:2])
    return interface


def _text(value: object) -> str:
    """One header's value: the last one when the peer repeated the header (the parser gives a list)."""
    if isinstance(value, list):
        return str(value[-1]) if value else ""
    return value if isinstance(value, str) else str(value)


_PLAIN = {str}


def _single_valued(event: Event) -> Event:
    """The tracked events have single-valued headers; a repeated one (a broken or hostile peer)
    must not raise deep inside a handler and lose the event: the last value counts, as in AMI."""
    if set(map(type, event.values())) <= _PLAIN:  # C-level check: 2/3 of the tracker's time as a genexpr (issue 19)
        return event
    return {k: _text(v) for k, v in event.items()}


class CallTracker:
    """Builds calls from AMI events. Not thread-safe; feed it from one task."""

    #: The AMI events the tracker reads; subscribe to these only.
    EVENTS = frozenset(
        {
            "Newchannel",
            "NewCallerid",
            "Newstate",
            "VarSet",
            "BridgeEnter",
            "BridgeLeave",
            "DialEnd",
            "Hangup",
            "QueueCallerJoin",
            "QueueCallerLeave",
            "QueueCallerAbandon",
            "AgentCalled",
            "AgentRingNoAnswer",
            "AgentConnect",
            "AgentComplete",
            "QueueMemberStatus",
            "QueueMemberAdded",
            "QueueMemberRemoved",
            "QueueMemberPause",
        }
    )

    def __init__(
        self,
        *,
        hotline_contexts: Iterable[str] = ("hotline",),
        normalize_phone: PhoneNormalizer = try_normalize_phone,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``hotline_contexts``: dialplan contexts where citizens' calls arrive (inbound).

        ``normalize_phone`` returns E.164 or None for an unusable number (the default is
        the domain's ``try_normalize_phone``); ``clock`` gives epoch seconds.
        """
        self._hotline_contexts = frozenset(hotline_contexts)
        self._normalize = normalize_phone
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._leg_calls: dict[str, str] = {}  # uniqueid -> linkedid
        self._members: dict[str, _Member] = {}
        self._queues: dict[str, QueueInfo] = {}
        # Channels that hung up lately: a channel list built just before its Hangup may
        # still name it, and must not bring it back to life.
        self._gone: OrderedDict[str, None] = OrderedDict()
        # Legs first seen after a resync began: a channel list built earlier lacks them.
        self._fresh: set[str] | None = None
        self._handlers: dict[str, Callable[[Event], list[Notification]]] = {
            "Newchannel": self._on_newchannel,
            "NewCallerid": self._on_caller_id,
            "Newstate": self._on_newstate,
            "VarSet": self._on_varset,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "DialEnd": self._on_dial_end,
            "Hangup": self._on_hangup,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerLeave": self._on_queue_leave,
            "QueueCallerAbandon": self._on_queue_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_agent_no_answer,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "QueueMemberStatus": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "QueueMemberPause": self._on_member_pause,
        }
        assert self._handlers.keys() == self.EVENTS
        self._tracked_variables = {
            cv.IVR_PATH: self._set_ivr_path,
            cv.IVR_CHOICE: self._add_ivr_choice,
            cv.IVR_ROUTE: self._set_ivr_route,
            cv.IVR_TICKET: self._set_ticket,  # the ticket the IVR found or created
            cv.TICKET_ID: self._set_ticket,  # the ticket a callback is about
            cv.CALLBACK_ID: self._set_callback,
            CITIZEN_VARIABLE: self._set_citizen,
        }

    # --- public API -------------------------------------------------------------------

    def feed(self, event: Event) -> list[Notification]:
        """Apply one AMI event; return the notifications it caused (often none)."""
        handler = self._handlers.get(_text(event.get("Event", "")))
        if handler is None or _listening_channel(event):
            return []
        return handler(_single_valued(event))

    def call(self, linkedid: str) -> CallSnapshot | None:
        """The live call with this Linkedid, or None."""
        call = self._calls.get(linkedid)
        return None if call is None else self._snap(call, self._clock())

    def live_calls(self) -> tuple[CallSnapshot, ...]:
        """Every live call, oldest first."""
        now = self._clock()
        return tuple(self._snap(c, now) for c in sorted(self._calls.values(), key=_arrival))

    def snapshot(self) -> LiveBoard:
        """The supervisors' board: calls in IVR, queued (with wait), talking; operators."""
        now = self._clock()
        by_phase: dict[CallPhase, list[CallSnapshot]] = {phase: [] for phase in CallPhase}
        for call in sorted(self._calls.values(), key=_arrival):
            by_phase[call.phase].append(self._snap(call, now))
        queued = sorted(by_phase[CallPhase.QUEUED], key=lambda c: c.queued_at or c.arrived_at)
        return LiveBoard(
            taken_at=_utc(now),
            in_ivr=tuple(by_phase[CallPhase.IVR]),
            queued=tuple(queued),
            talking=tuple(by_phase[CallPhase.TALKING]),
            dialing=tuple(by_phase[CallPhase.DIALING]),
            operators=self._operator_snapshots(now),
            queues=tuple(self._queues[name] for name in sorted(self._queues)),
        )

    def begin_resync(self) -> None:
        """A channel list was just requested: legs seen from now on are kept by it."""
        self._fresh = set()

    def reconcile_channels(self, channels: Iterable[Event]) -> list[Notification]:
        """Rebuild live legs from a CoreShowChannels list (CoreShowChannel items).

        Calls none of whose channels is listed ended while we were not listening: they
        end now, with no cause, and an unanswered queued call counts as abandoned.
        """
        now = self._clock()
        listed = {
            item.get("Uniqueid", ""): item
            for item in channels
            if item.get("Uniqueid") and item.get("Uniqueid") not in self._gone and not _listening_channel(item)
        }
        fresh, self._fresh = self._fresh or set(), None
        notes: list[Notification] = []
        ended = []
        for call in list(self._calls.values()):
            for uniqueid in [u for u in call.legs if u not in listed and u not in fresh]:
                self._drop_leg(call, uniqueid)
            if not call.legs:
                call.hangup_cause_text = _LOST_CAUSE_TEXT
                ended.append(call.linkedid)
                notes.extend(self._end_call(call, now))
        for item in listed.values():
            self._restore_leg(item, now)
        for call in self._calls.values():
            self._infer_phase(call, now)
        notes.append(BoardResynced(live_calls=len(self._calls), ended_calls=tuple(ended)))
        return notes

    def reconcile_queues(
        self, members: Iterable[Event], entries: Iterable[Event], params: Iterable[Event] = ()
    ) -> list[Notification]:
        """Apply a QueueStatus list: QueueMember items (operators), QueueEntry items (waiting),
        QueueParams items (each queue's service level and Asterisk's own counters)."""
        now = self._clock()
        before, self._members = self._members, {}
        for item in members:
            self._upsert_member(item.get("Location", ""), item.get("Name", ""), item)
        for interface, member in self._members.items():
            old = before.get(interface)
            if old is not None:  # the time in a state survives a resync that did not change it
                member.shown, member.since = old.shown, old.since
        for item in params:
            name = item.get("Queue", "")
            if name:
                self._queues[name] = QueueInfo(
                    name,
                    _int_or_none(item.get("ServiceLevel")) or None,
                    _int_or_none(item.get("Completed")) or 0,
                    _int_or_none(item.get("Abandoned")) or 0,
                )
        for item in entries:
            self._restore_queue_entry(item, now)
        self._attribute_operators()
        return [BoardResynced(live_calls=len(self._calls))]

    # --- channels ---------------------------------------------------------------------

    def _now(self, event: Event) -> float:
        stamp = event.get("Timestamp")
        if stamp:
            try:
                return float(stamp)
            except ValueError:
                pass
        return self._clock()

    def _new_call(self, linkedid: str, context: str, now: float) -> _Call:
        request_id = request_id_from_uniqueid(linkedid)
        inbound = request_id is None and context in self._hotline_contexts
        call = _Call(
            linkedid=linkedid,
            direction=CallDirection.INBOUND if inbound else CallDirection.OUTBOUND,
            phase=CallPhase.IVR if inbound else CallPhase.DIALING,
            arrived=now,
            request_id=request_id,
        )
        self._calls[linkedid] = call
        return call

    def _ensure_leg(self, event: Event, now: float) -> tuple[_Call | None, list[Notification]]:
        """The call of a channel event, creating call and leg when first seen.

        Reports CallStarted for a new call, CallUpdated when the caller id changed.
        """
        uniqueid = event.get("Uniqueid")
        linkedid = event.get("Linkedid") or self._leg_calls.get(uniqueid or "")
        if not uniqueid or not linkedid:
            return None, []
        call = self._calls.get(linkedid)
        started = call is None
        if call is None:
            call = self._new_call(linkedid, event.get("Context", ""), now)
        leg = call.legs.get(uniqueid)
        if leg is None:
            leg = call.legs[uniqueid] = _Leg(uniqueid, event.get("Channel", ""), event.get("Context", ""))
            self._leg_calls[uniqueid] = linkedid
            if self._fresh is not None:
                self._fresh.add(uniqueid)
        _note_leg_caller(leg, event)
        if call.direction is CallDirection.OUTBOUND and event.get("Context") in self._hotline_contexts:
            self._mark_inbound(call)
        changed = self._take_caller_from_first_leg(call)
        if started:
            return call, [CallStarted(self._snap(call, now))]
        return call, [CallUpdated(self._snap(call, now))] if changed else []

    def _take_caller_from_first_leg(self, call: _Call) -> bool:
        """Inbound calls: the caller is the caller id of the leg that started the call."""
        if call.direction is not CallDirection.INBOUND or call.caller_from_queue:
            return False
        first = call.legs.get(call.linkedid)
        if first is None:
            return False
        return self._set_caller(call, first.caller_num, first.caller_name)

    def _set_caller(self, call: _Call, raw: str | None, name: str | None) -> bool:
        if raw is None or raw.strip().lower() in UNKNOWN_CALLER_IDS or raw == call.caller_raw:
            return False
        call.caller_raw = raw
        call.caller = self._normalize(raw)
        if name and name.strip().lower() not in UNKNOWN_CALLER_IDS:
            call.caller_name = name
        return True

    def _on_newchannel(self, event: Event) -> list[Notification]:
        call, notes = self._ensure_leg(event, self._now(event))
        if call is not None:
            self._set_leg_state(call, event)
        return notes

    def _on_caller_id(self, event: Event) -> list[Notification]:
        return self._ensure_leg(event, self._now(event))[1]

    def _set_leg_state(self, call: _Call, event: Event) -> None:
        leg = call.legs.get(event.get("Uniqueid", ""))
        if leg is None:
            return
        state = _int_or_none(event.get("ChannelState"))
        if state is not None:
            leg.state = state

    def _on_newstate(self, event: Event) -> list[Notification]:
        now = self._now(event)
        call, notes = self._ensure_leg(event, now)
        if call is None:
            return notes
        self._set_leg_state(call, event)
        first = call.legs.get(call.linkedid)
        if call.phase is CallPhase.DIALING and first is not None and first.state == CHANNEL_UP:
            call.phase = CallPhase.TALKING
            call.answered_at = now
            notes.append(CallUpdated(self._snap(call, now)))
        return notes

    def _on_bridge_enter(self, event: Event) -> list[Notification]:
        now = self._now(event)
        call, notes = self._ensure_leg(event, now)
        if call is None:
            return notes
        call.legs[event["Uniqueid"]].bridge = event.get("BridgeUniqueid") or None
        if call.phase in (CallPhase.DIALING, CallPhase.IVR) and _bridged_pair(call):
            call.phase = CallPhase.TALKING
            call.answered_at = call.answered_at or now
            notes.append(CallUpdated(self._snap(call, now)))
        return notes

    def _on_bridge_leave(self, event: Event) -> list[Notification]:
        call = self._calls.get(event.get("Linkedid", ""))
        leg = call.legs.get(event.get("Uniqueid", "")) if call else None
        if leg is not None:
            leg.bridge = None
        return []

    def _on_hangup(self, event: Event) -> list[Notification]:
        call = self._calls.get(event.get("Linkedid", ""))
        uniqueid = event.get("Uniqueid", "")
        if call is None or uniqueid not in call.legs:
            return []
        if call.hangup_cause is None and call.hangup_cause_text is None:
            call.hangup_cause = _int_or_none(event.get("Cause"))
            call.hangup_cause_text = event.get("Cause-txt")
        self._drop_leg(call, uniqueid)
        if call.legs:
            return []
        return self._end_call(call, self._now(event))

    def _drop_leg(self, call: _Call, uniqueid: str) -> None:
        call.legs.pop(uniqueid, None)
        self._leg_calls.pop(uniqueid, None)
        self._gone[uniqueid] = None
        if len(self._gone) > _GONE_MEMORY:
            self._gone.popitem(last=False)

    def _end_call(self, call: _Call, now: float) -> list[Notification]:
        """Close a call whose last leg is gone: stop ringing, flag abandonment, report."""
        notes = self._stop_ringing(call, now, "ended")
        call.ended_at = now
        call.phase = CallPhase.ENDED
        call.connected_interface = None
        if call.queued_at is not None and call.answered_by is None and not call.abandoned:
            call.abandoned = True
            notes.append(CallAbandoned(self._snap(call, now)))
        notes.append(CallEnded(self._snap(call, now)))
        for uniqueid in call.legs:
            self._leg_calls.pop(uniqueid, None)
        del self._calls[call.linkedid]
        return notes

    # --- variables ----------------------------------------------------------------------

    def _on_varset(self, event: Event) -> list[Notification]:
        setter = self._tracked_variables.get(event.get("Variable", ""))
        if setter is None:
            return []
        now = self._now(event)
        call, notes = self._ensure_leg(event, now)
        if call is None:
            return notes
        if setter(call, event.get("Value", "")):
            notes.append(CallUpdated(self._snap(call, now)))
        return notes

    def _mark_inbound(self, call: _Call) -> None:
        """IVR and queue activity make a call inbound unless we placed it."""
        if (
            call.direction is CallDirection.OUTBOUND
            and call.request_id is None
            and not (call.ticket_id or call.callback_id)
        ):
            call.direction = CallDirection.INBOUND
            if call.phase is CallPhase.DIALING:
                call.phase = CallPhase.IVR
            self._take_caller_from_first_leg(call)

    def _set_ivr_path(self, call: _Call, value: str) -> bool:
        self._mark_inbound(call)
        changed = value != call.ivr_path
        call.ivr_path = value or None
        return changed

    def _add_ivr_choice(self, call: _Call, value: str) -> bool:
        self._mark_inbound(call)
        if not value:
            return False
        call.ivr_choices.append(value)
        return True

    def _set_ivr_route(self, call: _Call, value: str) -> bool:
        self._mark_inbound(call)
        changed = value != call.ivr_route
        call.ivr_route = value or None
        return changed

    def _set_ticket(self, call: _Call, value: str) -> bool:
        changed = value != call.ticket_id
        call.ticket_id = value or None
        return changed

    def _set_callback(self, call: _Call, value: str) -> bool:
        changed = value != call.callback_id
        call.callback_id = value or None
        return changed

    def _set_citizen(self, call: _Call, value: str) -> bool:
        if call.direction is not CallDirection.OUTBOUND:
            return False
        return self._set_caller(call, value, None)

    # --- queue ------------------------------------------------------------------------

    def _queue_call(self, event: Event) -> tuple[_Call | None, float, list[Notification]]:
        now = self._now(event)
        call, notes = self._ensure_leg(event, now)
        return call, now, notes

    def _on_queue_join(self, event: Event) -> list[Notification]:
        call, now, notes = self._queue_call(event)
        if call is None:
            return notes
        self._mark_inbound(call)
        call.queue = event.get("Queue")
        call.queued_at = now
        call.left_queue_at = None
        # the queue's caller id is what the operator will see: it wins from now on
        if self._set_caller(call, event.get("CallerIDNum"), event.get("CallerIDName")) or call.caller_raw:
            call.caller_from_queue = True
        if call.phase is not CallPhase.TALKING:
            call.phase = CallPhase.QUEUED
        notes.append(CallQueued(self._snap(call, now)))
        return notes

    def _on_queue_leave(self, event: Event) -> list[Notification]:
        call, now, notes = self._queue_call(event)
        if call is None or call.queued_at is None:
            return notes
        call.left_queue_at = call.left_queue_at or now
        # Phones still ringing but not about to answer stop now; one whose DialEnd said
        # ANSWER stays until its AgentConnect, which Asterisk sends right after this.
        for interface in [i for i in call.ringing if i not in call.answering]:
            notes.append(self._stop_one(call, interface, now, "caller_left"))
        if call.phase is CallPhase.QUEUED and not call.answering:
            call.phase = CallPhase.IVR  # back in the dialplan (queue timeout, exit key)
        return notes

    def _on_queue_abandon(self, event: Event) -> list[Notification]:
        call, now, notes = self._queue_call(event)
        if call is None:
            return notes
        call.left_queue_at = call.left_queue_at or now
        notes.extend(self._stop_ringing(call, now, "caller_left"))
        if not call.abandoned and call.answered_by is None:
            call.abandoned = True
            notes.append(CallAbandoned(self._snap(call, now)))
        return notes

    def _on_agent_called(self, event: Event) -> list[Notification]:
        call, now, notes = self._queue_call(event)
        if call is None:
            return notes
        interface = event.get("Interface", "")
        ring = OperatorRing(interface, event.get("MemberName", ""), event.get("DestChannel", ""))
        call.ringing[interface] = ring
        call.rang.append(ring)
        if call.phase is not CallPhase.TALKING:
            call.phase = CallPhase.QUEUED
        self._upsert_member(interface, ring.member_name, None)
        if interface in self._members and call.queue:
            self._members[interface].queues.add(call.queue)
        snap = self._snap(call, now)
        notes.append(OperatorRinging(snap, interface, ring.member_name, call.caller))
        return notes

    def _on_agent_no_answer(self, event: Event) -> list[Notification]:
        call = self._calls.get(event.get("Linkedid", ""))
        interface = event.get("Interface", "")
        if call is None or interface not in call.ringing:
            return []
        return [self._stop_one(call, interface, self._now(event), "no_answer")]

    def _on_dial_end(self, event: Event) -> list[Notification]:
        call = self._calls.get(event.get("Linkedid", ""))
        if call is None or not call.ringing:
            return []
        dest = event.get("DestChannel", "")
        for interface, ring in call.ringing.items():
            if ring.channel == dest:
                if event.get("DialStatus") == "ANSWER":
                    call.answering.add(interface)
                    return []
                reason = "no_answer" if event.get("DialStatus") == "NOANSWER" else "cancelled"
                return [self._stop_one(call, interface, self._now(event), reason)]
        return []

    def _on_agent_connect(self, event: Event) -> list[Notification]:
        call, now, notes = self._queue_call(event)
        if call is None:
            return notes
        interface = event.get("Interface", "")
        call.answered_by = interface
        call.answered_by_name = event.get("MemberName") or None
        call.answered_at = now
        call.connected_interface = interface
        call.left_queue_at = call.left_queue_at or now
        call.phase = CallPhase.TALKING
        if interface in call.ringing:
            notes.append(self._stop_one(call, interface, now, "answered"))
        notes.extend(self._stop_ringing(call, now, "answered_elsewhere"))
        snap = self._snap(call, now)
        notes.append(CallAnswered(snap, interface, call.answered_by_name or ""))
        return notes

    def _on_agent_complete(self, event: Event) -> list[Notification]:
        call = self._calls.get(event.get("Linkedid", ""))
        member = self._members.get(event.get("Interface", ""))
        if member is not None:  # wrap-up starts now (QueueMemberStatus's LastCall follows)
            member.last_call = self._now(event)
        if call is not None and call.connected_interface == event.get("Interface"):
            call.connected_interface = None
        return []

    def _stop_one(self, call: _Call, interface: str, now: float, reason: str) -> Notification:
        call.ringing.pop(interface, None)
        call.answering.discard(interface)
        return OperatorRingingStopped(self._snap(call, now), interface, reason)

    def _stop_ringing(self, call: _Call, now: float, reason: str) -> list[Notification]:
        return [self._stop_one(call, i, now, reason) for i in list(call.ringing)]

    # --- operators ----------------------------------------------------------------------

    def _upsert_member(self, interface: str, name: str, item: Event | None) -> None:
        if not interface:
            return
        member = self._members.get(interface)
        if member is None:
            member = self._members[interface] = _Member(interface, name or interface)
        elif name:
            member.name = name
        if item is not None:
            member.paused = item.get("Paused", "0") == "1"
            member.available = item.get("Status", "1") not in _UNAVAILABLE_STATUSES
            member.state_interface = item.get("StateInterface", "") or member.state_interface
            self._member_details(member, item)

    def _member_details(self, member: _Member, item: Event) -> None:
        """Pause reason, queue, LastCall/LastPause/CallsTaken of a member event or list item."""
        member.pause_reason = (item.get("PausedReason") or "").strip()[:80] if member.paused else ""
        queue = item.get("Queue", "")
        if queue:
            member.queues.add(queue)
            self._queues.setdefault(queue, QueueInfo(queue))
        last_call = _int_or_none(item.get("LastCall"))
        if last_call:
            member.last_call = float(last_call)
        last_pause = _int_or_none(item.get("LastPause"))
        if last_pause:
            member.last_pause = float(last_pause)
        taken = _int_or_none(item.get("CallsTaken"))
        if taken is not None:
            member.calls_taken = taken

    def _on_member(self, event: Event) -> list[Notification]:
        interface = event.get("Interface", "")
        self._upsert_member(interface, event.get("MemberName", ""), event)
        return self._member_changed(interface)

    def _member_changed(self, interface: str) -> list[Notification]:
        member = self._members.get(interface)
        if member is None:
            return [OperatorChanged(interface)]
        return [OperatorChanged(interface, member.paused, member.pause_reason)]

    def _on_member_removed(self, event: Event) -> list[Notification]:
        interface = event.get("Interface", "")
        member = self._members.get(interface)
        if member is not None:
            member.queues.discard(event.get("Queue", ""))
            if not member.queues:  # gone from its last queue
                del self._members[interface]
        return self._member_changed(interface)

    def _on_member_pause(self, event: Event) -> list[Notification]:
        """A pause or unpause (from QueuePause, the phone's feature code, or the CLI), with its reason."""
        interface = event.get("Interface", "")
        if interface not in self._members:
            self._upsert_member(interface, event.get("MemberName", ""), event)
            return self._member_changed(interface)
        member = self._members[interface]
        member.paused = event.get("Paused", "0") == "1"
        if event.get("Status"):
            member.available = event.get("Status", "1") not in _UNAVAILABLE_STATUSES
        self._member_details(member, event)
        return self._member_changed(interface)

    def _member_devices(self, member: _Member) -> set[str]:
        devices = {device_of_interface(member.interface)}
        if member.state_interface:
            devices.add(member.state_interface)
        return devices

    def _live_devices(self) -> dict[str, tuple[OperatorState, str]]:
        """Device -> (state, linkedid) for every live leg: Up is talking, else ringing."""
        devices: dict[str, tuple[OperatorState, str]] = {}
        for call in self._calls.values():
            for leg in call.legs.values():
                state = OperatorState.TALKING if leg.state == CHANNEL_UP else OperatorState.RINGING
                known = devices.get(device_of_channel(leg.channel))
                if known is None or known[0] is OperatorState.RINGING:
                    devices[device_of_channel(leg.channel)] = (state, call.linkedid)
        return devices

    def _operator_state(
        self, member: _Member, devices: dict[str, tuple[OperatorState, str]]
    ) -> tuple[OperatorState, str | None]:
        for call in self._calls.values():
            if call.connected_interface == member.interface:
                return OperatorState.TALKING, call.linkedid
        seen = [devices[d] for d in self._member_devices(member) if d in devices]
        for state, linkedid in seen:
            if state is OperatorState.TALKING:
                return state, linkedid
        for call in self._calls.values():
            if member.interface in call.ringing:
                return OperatorState.RINGING, call.linkedid
        if seen:
            return seen[0]
        return OperatorState.IDLE, None

    def _operator_snapshots(self, now: float) -> tuple[OperatorSnapshot, ...]:
        """Every member's state; ``since`` is when this state was first shown (a pause: Asterisk's LastPause)."""
        devices = self._live_devices()
        result = []
        for member in sorted(self._members.values(), key=lambda m: m.interface):
            state, linkedid = self._operator_state(member, devices)
            shown = (state, member.paused, member.pause_reason, member.available)
            if shown != member.shown:
                paused_now = member.paused and not (member.shown and member.shown[1])
                member.since = member.last_pause if paused_now and member.last_pause else now
                member.shown = shown
            result.append(
                OperatorSnapshot(
                    member.interface,
                    member.name,
                    state,
                    linkedid,
                    member.paused,
                    member.available,
                    pause_reason=member.pause_reason,
                    state_since=_utc(member.since),
                    last_call_ended_at=_utc(member.last_call),
                    calls_taken=member.calls_taken,
                    queues=tuple(sorted(member.queues)),
                )
            )
        return tuple(result)

    # --- resynchronisation --------------------------------------------------------------

    def _restore_leg(self, item: Event, now: float) -> None:
        uniqueid, linkedid = item.get("Uniqueid", ""), item.get("Linkedid") or item.get("Uniqueid", "")
        call = self._calls.get(linkedid)
        if call is None:
            call = self._new_call(linkedid, item.get("Context", ""), now - _duration(item))
        leg = call.legs.get(uniqueid)
        if leg is None:
            leg = call.legs[uniqueid] = _Leg(uniqueid, item.get("Channel", ""), item.get("Context", ""))
            self._leg_calls[uniqueid] = linkedid
        leg.state = _int_or_none(item.get("ChannelState")) or 0
        leg.bridge = item.get("BridgeId") or None
        leg.application = item.get("Application", "")
        _note_leg_caller(leg, item)
        if leg.context in self._hotline_contexts:
            self._mark_inbound(call)
        self._take_caller_from_first_leg(call)
        if leg.application == "Queue" and call.queue is None:
            call.queue = (item.get("ApplicationData") or "").split(",", 1)[0] or None

    def _infer_phase(self, call: _Call, now: float) -> None:
        """Phase of a call from its listed legs: queue, bridge, AGI, answer."""
        apps = {leg.application for leg in call.legs.values()}
        if _bridged_pair(call):  # before Queue: the Queue app keeps running while bridged
            call.phase = CallPhase.TALKING
            call.answered_at = call.answered_at or now
        elif "Queue" in apps:
            self._mark_inbound(call)
            call.phase = CallPhase.QUEUED
            call.queued_at = call.queued_at or now
        elif "AGI" in apps and call.direction is CallDirection.INBOUND:
            call.phase = CallPhase.IVR
        elif call.direction is CallDirection.OUTBOUND:
            first = call.legs.get(call.linkedid)
            up = first is not None and first.state == CHANNEL_UP
            call.phase = CallPhase.TALKING if up else CallPhase.DIALING

    def _restore_queue_entry(self, item: Event, now: float) -> None:
        linkedid = self._leg_calls.get(item.get("Uniqueid", ""))
        call = self._calls.get(linkedid or "")
        if call is None:
            return
        self._mark_inbound(call)
        call.queue = item.get("Queue") or call.queue
        wait = _int_or_none(item.get("Wait"))
        if wait is not None:
            call.queued_at = now - wait
        if call.phase is not CallPhase.TALKING:
            call.phase = CallPhase.QUEUED
        if self._set_caller(call, item.get("CallerIDNum"), item.get("CallerIDName")) or call.caller_raw:
            call.caller_from_queue = True

    def _attribute_operators(self) -> None:
        """After a resync, name the operator of talking calls by their channels' devices."""
        for call in self._calls.values():
            if call.phase is not CallPhase.TALKING or call.answered_by is not None:
                continue
            devices = {device_of_channel(leg.channel) for leg in call.legs.values()}
            for member in self._members.values():
                if self._member_devices(member) & devices:
                    call.answered_by = member.interface
                    call.answered_by_name = member.name
                    call.connected_interface = member.interface
                    break

    # --- snapshots ----------------------------------------------------------------------

    def _snap(self, call: _Call, now: float) -> CallSnapshot:
        return CallSnapshot(
            linkedid=call.linkedid,
            direction=call.direction,
            phase=call.phase,
            caller=call.caller,
            caller_raw=call.caller_raw,
            caller_name=call.caller_name,
            arrived_at=_utc(call.arrived),
            ivr_path=call.ivr_path,
            ivr_choices=tuple(call.ivr_choices),
            ivr_route=call.ivr_route,
            queue=call.queue,
            queued_at=_utc(call.queued_at),
            queue_wait_seconds=_queue_wait(call, now),
            ringing=tuple(call.ringing.values()),
            rang=tuple(call.rang),
            answered_by=call.answered_by,
            answered_by_name=call.answered_by_name,
            answered_at=_utc(call.answered_at),
            ended_at=_utc(call.ended_at),
            duration_seconds=None if call.ended_at is None else call.ended_at - call.arrived,
            hangup_cause=call.hangup_cause,
            hangup_cause_text=call.hangup_cause_text,
            abandoned=call.abandoned,
            needs_callback=call.abandoned,
            request_id=call.request_id,
            ticket_id=call.ticket_id,
            callback_id=call.callback_id,
            channels=tuple(leg.channel for leg in call.legs.values()),
        )


def _note_leg_caller(leg: _Leg, event: Event) -> None:
    num = event.get("CallerIDNum")
    if num and num.strip().lower() not in UNKNOWN_CALLER_IDS:
        leg.caller_num = num
        leg.caller_name = event.get("CallerIDName", "")


def _arrival(call: _Call) -> float:
    return call.arrived


def _queue_wait(call: _Call, now: float) -> float | None:
    if call.queued_at is None:
        return None
    end = call.left_queue_at or call.ended_at or now
    return max(0.0, end - call.queued_at)


def _bridged_pair(call: _Call) -> bool:
    bridges = [leg.bridge for leg in call.legs.values() if leg.bridge]
    return len(bridges) != len(set(bridges))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _duration(item: Event) -> float:
    """CoreShowChannel ``Duration`` (HH:MM:SS) in seconds; 0 when absent or odd."""
    parts = (item.get("Duration") or "").split(":")
    try:
        return float(sum(int(p) * 60**i for i, p in enumerate(reversed(parts))))
    except ValueError:
        return 0.0


# The live conversation transcript's spies (callcenter/conversation): AudioSocket channels the
# app originates to listen to a call. They are no calls of their own: never on the board or in
# the calls table.
LISTENING_CHANNEL_PREFIX = "AudioSocket/"


def _listening_channel(event: Event) -> bool:
    channel = event.get("Channel")
    return isinstance(channel, str) and channel.startswith(LISTENING_CHANNEL_PREFIX)
