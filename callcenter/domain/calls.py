"""Calls as the call centre sees them: immutable snapshots, notifications, originate outcomes.

Pure data, no I/O and no Asterisk vocabulary beyond what staff see (an operator's phone is
named by its queue interface, e.g. ``PJSIP/op1`` or ``Local/op1@operators/n``). The call
tracker (``callcenter.telephony.tracker``) builds these from AMI events; the web layer
turns notifications into screen pops and board updates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class CallDirection(enum.StrEnum):
    """Who started the call."""

    INBOUND = "inbound"  # a citizen dialled the hotline
    OUTBOUND = "outbound"  # we dialled out: click-to-call or a callback


class CallPhase(enum.StrEnum):
    """Where a live call is now; ENDED once its last channel hung up."""

    DIALING = "dialing"  # outbound, not answered yet
    IVR = "ivr"  # inbound, in the voice menu
    QUEUED = "queued"  # waiting in a queue (operators may be ringing)
    TALKING = "talking"  # connected to an operator or, outbound, answered
    ENDED = "ended"


class OperatorState(enum.StrEnum):
    """An operator's phone as the supervisors' board shows it."""

    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"


class OriginateOutcome(enum.StrEnum):
    """What became of one originate request.

    Asterisk's OriginateResponse ``Reason`` maps to the first six; the rest are ours.
    """

    ANSWERED = "answered"  # Reason 4
    BUSY = "busy"  # Reason 5
    NO_ANSWER = "no_answer"  # Reason 3 (rang, nobody picked up)
    FAILED = "failed"  # Reason 0 (no such extension, unreachable) and any unknown reason
    CONGESTION = "congestion"  # Reason 8
    HUNG_UP = "hung_up"  # Reason 1
    REJECTED = "rejected"  # Asterisk refused the action itself: nothing was dialled
    NOT_SENT = "not_sent"  # the AMI link was down: nothing was dialled, safe to retry
    TIMED_OUT = "timed_out"  # sent, but no OriginateResponse in time: it may have dialled
    IN_PROGRESS = "in_progress"  # an earlier attempt with this id is still a live call

    @property
    def may_have_dialled(self) -> bool:
        """False only when Asterisk certainly placed no call for this request."""
        return self not in (OriginateOutcome.REJECTED, OriginateOutcome.NOT_SENT)


# Asterisk's AST_CONTROL_* codes as OriginateResponse reports them in ``Reason``.
_REASON_OUTCOMES = {
    "0": OriginateOutcome.FAILED,
    "1": OriginateOutcome.HUNG_UP,
    "3": OriginateOutcome.NO_ANSWER,
    "4": OriginateOutcome.ANSWERED,
    "5": OriginateOutcome.BUSY,
    "8": OriginateOutcome.CONGESTION,
}


def outcome_from_reason(reason: str | int | None) -> OriginateOutcome:
    """Map an OriginateResponse ``Reason`` to an outcome; anything unknown is FAILED."""
    return _REASON_OUTCOMES.get(str(reason).strip(), OriginateOutcome.FAILED)


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """The answer to one originate request (idempotency key ``request_id``)."""

    request_id: str
    outcome: OriginateOutcome
    reason: str | None = None  # Asterisk's Reason code, when it sent one
    uniqueid: str | None = None  # None when Asterisk answered ``Uniqueid: <unknown>``
    channel: str | None = None
    detail: str = ""  # Asterisk's Message or our explanation, for logs and staff
    repeated: bool = False  # True when this id was asked for before and not dialled again


@dataclass(frozen=True, slots=True)
class OperatorRing:
    """One operator's phone that rang for a call (AgentCalled)."""

    interface: str  # queue member interface, e.g. ``Local/op1@operators/n``
    member_name: str  # e.g. ``Operator One``
    channel: str  # the ringing channel (DestChannel)


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """A call (all legs sharing one Linkedid) at one moment; never changes afterwards."""

    linkedid: str
    direction: CallDirection
    phase: CallPhase
    caller: str | None  # E.164 (+7...) when the caller id is a usable number
    caller_raw: str | None  # the caller id exactly as Asterisk gave it
    caller_name: str | None
    arrived_at: datetime
    ivr_path: str | None = None
    ivr_choices: tuple[str, ...] = ()
    ivr_route: str | None = None
    queue: str | None = None
    queued_at: datetime | None = None
    queue_wait_seconds: float | None = None  # so far while queued, final once it left
    ringing: tuple[OperatorRing, ...] = ()  # phones ringing right now
    rang: tuple[OperatorRing, ...] = ()  # every phone that rang, in order
    answered_by: str | None = None  # interface of the operator who took the call
    answered_by_name: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None  # arrival to end, once ended
    hangup_cause: int | None = None  # Q.850 cause of the first channel to hang up
    hangup_cause_text: str | None = None
    abandoned: bool = False  # left the queue without reaching an operator
    needs_callback: bool = False
    request_id: str | None = None  # our originate id when we placed this call
    ticket_id: str | None = None  # TICKET_ID channel variable, for callbacks
    callback_id: str | None = None  # CALLBACK_ID channel variable
    channels: tuple[str, ...] = ()  # live channel names


@dataclass(frozen=True, slots=True)
class OperatorSnapshot:
    """One operator's phone on the supervisors' board."""

    interface: str
    name: str
    state: OperatorState
    linkedid: str | None = None  # the call ringing or talking there
    paused: bool = False
    available: bool = True  # False when Asterisk reports the device unavailable/invalid
    pause_reason: str = ""  # QueueMemberPause/QueueMemberStatus ``PausedReason`` ("" when none given)
    state_since: datetime | None = None  # when the state (or pause) shown began, as far as we saw it
    last_call_ended_at: datetime | None = None  # Asterisk's ``LastCall``: the end of the last queue call
    calls_taken: int = 0  # Asterisk's ``CallsTaken`` (since the member joined or Asterisk started)
    queues: tuple[str, ...] = ()  # the queues this interface is a member of


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue's settings as Asterisk reported them (QueueParams on QueueStatus)."""

    name: str
    service_level_seconds: int | None = None  # ``ServiceLevel``; None when Asterisk did not say
    completed: int = 0  # Asterisk's own counters since start or ``QueueReset``
    abandoned: int = 0


@dataclass(frozen=True, slots=True)
class LiveBoard:
    """Everything a supervisor's live board shows, taken at ``taken_at``."""

    taken_at: datetime
    in_ivr: tuple[CallSnapshot, ...] = ()
    queued: tuple[CallSnapshot, ...] = ()  # oldest first; see queue_wait_seconds
    talking: tuple[CallSnapshot, ...] = ()
    dialing: tuple[CallSnapshot, ...] = ()
    operators: tuple[OperatorSnapshot, ...] = ()
    queues: tuple[QueueInfo, ...] = ()  # from the last QueueStatus, by name


# --- notifications: what the tracker tells the rest of the application ---------------


@dataclass(frozen=True, slots=True)
class Notification:
    """Base of every tracker notification."""


@dataclass(frozen=True, slots=True)
class CallNotification(Notification):
    """A change to one call; ``call`` is the call right after the change."""

    call: CallSnapshot

    @property
    def linkedid(self) -> str:
        return self.call.linkedid


@dataclass(frozen=True, slots=True)
class CallStarted(CallNotification):
    """A new call appeared (first channel with a new Linkedid)."""


@dataclass(frozen=True, slots=True)
class CallUpdated(CallNotification):
    """The IVR path, caller id or ticket variables of a live call changed."""


@dataclass(frozen=True, slots=True)
class CallQueued(CallNotification):
    """The call joined a queue."""


@dataclass(frozen=True, slots=True)
class OperatorRinging(CallNotification):
    """An operator's phone rings for this call: the moment for the screen pop."""

    interface: str = ""
    member_name: str = ""
    caller: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorRingingStopped(CallNotification):
    """That phone stopped ringing (answered elsewhere, no answer, caller gone)."""

    interface: str = ""
    reason: str = ""  # "answered", "answered_elsewhere", "no_answer", "caller_left", "ended"


@dataclass(frozen=True, slots=True)
class CallAnswered(CallNotification):
    """An operator took the call (AgentConnect)."""

    interface: str = ""
    member_name: str = ""


@dataclass(frozen=True, slots=True)
class CallEnded(CallNotification):
    """The last channel of the call hung up (or vanished while the AMI link was down)."""


@dataclass(frozen=True, slots=True)
class CallAbandoned(CallNotification):
    """The caller left the queue without reaching anyone: plan a callback."""


@dataclass(frozen=True, slots=True)
class BoardResynced(Notification):
    """Live state was rebuilt from Asterisk's lists after a reconnect or a gap."""

    live_calls: int
    ended_calls: tuple[str, ...] = field(default_factory=tuple)  # linkedids closed by resync


@dataclass(frozen=True, slots=True)
class OperatorChanged(Notification):
    """A queue member's pause, availability or membership changed (QueueMember* events)."""

    interface: str
    paused: bool = False
    pause_reason: str = ""
