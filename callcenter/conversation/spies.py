"""Which AMI events start and stop the spies of a live conversation. Pure: events in, decisions out.

An operator answers a queue call: Asterisk sends ``AgentConnect`` naming both legs, the
caller's channel in the queue (``Channel``/``Uniqueid``) and the operator's phone
(``DestChannel``/``DestUniqueid``). Each leg gets a spy of its own (``ChanSpy(<uniqueid>,qEou)``,
``o`` = only what comes *from* that channel), so every line of the transcript knows who said it:
«Абонент» (the caller) or «Оператор».

The conversation is over when either spied leg hangs up (``Hangup`` of its Uniqueid; not any
channel of the call: the other phones of a ``ringall`` queue hang up around the answer), or when the member's part ends (``AgentComplete``: a blind transfer away
from the operator). Then both spies stop: ``ChanSpy``'s ``E`` option already ends the spy whose
target hung up; :class:`Stop` makes the application hang up the other one too. Decisions are
made once per call: a second ``AgentConnect`` for a call already spied on (a resync, a repeated
event) starts nothing.

Our own spy channels (``AudioSocket/...``) are never spied on and never end a conversation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

CALLER = "caller"
OPERATOR = "operator"
SPEAKER_LABELS = {CALLER: "Абонент", OPERATOR: "Оператор"}
SPY_CHANNEL_PREFIX = "AudioSocket/"
_ENDED_MEMORY = 2000  # calls whose conversation ended, so a late AgentConnect starts nothing


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of the conversation: the channel a spy listens to."""

    party: str  # CALLER or OPERATOR
    uniqueid: str
    channel: str


@dataclass(frozen=True, slots=True)
class Start:
    """Spy on both legs of the call ``linkedid``, answered by ``interface``."""

    linkedid: str
    legs: tuple[Leg, ...]
    interface: str
    member_name: str
    caller: str  # the caller's number as Asterisk gave it


@dataclass(frozen=True, slots=True)
class Stop:
    """The conversation of ``linkedid`` is over: stop its spies, keep its transcript."""

    linkedid: str
    reason: str  # "hangup" or "agent_complete"


Decision = Start | Stop


class ConversationSpies:
    """Feed it AMI events (dicts); it answers with the spies to start and stop."""

    EVENTS = frozenset({"AgentConnect", "AgentComplete", "Hangup"})

    def __init__(self) -> None:
        self._active: dict[str, frozenset[str]] = {}  # linkedid -> the spied legs' uniqueids
        self._by_leg: dict[str, str] = {}  # spied uniqueid -> linkedid
        self._ended: OrderedDict[str, None] = OrderedDict()

    @property
    def active(self) -> frozenset[str]:
        """The calls being spied on now."""
        return frozenset(self._active)

    def feed(self, event: Mapping[str, str]) -> list[Decision]:
        name = event.get("Event")
        if event.get("Channel", "").startswith(SPY_CHANNEL_PREFIX):
            return []
        if name == "AgentConnect":
            return self._connect(event)
        if name == "Hangup":
            # Only a spied leg: the phones that rang too (ringall) hang up around the answer.
            return self._stop(self._by_leg.get(event.get("Uniqueid", ""), ""), "hangup")
        if name == "AgentComplete":
            return self._stop(event.get("Linkedid", ""), "agent_complete")
        return []

    def _connect(self, event: Mapping[str, str]) -> list[Decision]:
        linkedid = event.get("Linkedid", "")
        caller = Leg(CALLER, event.get("Uniqueid", ""), event.get("Channel", ""))
        operator = Leg(OPERATOR, event.get("DestUniqueid", ""), event.get("DestChannel", ""))
        if not linkedid or linkedid in self._active or linkedid in self._ended:
            return []
        legs = tuple(leg for leg in (caller, operator) if leg.uniqueid and leg.channel)
        if not legs:
            return []
        self._active[linkedid] = frozenset(leg.uniqueid for leg in legs)
        for leg in legs:
            self._by_leg[leg.uniqueid] = linkedid
        return [
            Start(
                linkedid,
                legs,
                interface=event.get("Interface", ""),
                member_name=event.get("MemberName", ""),
                caller=event.get("CallerIDNum", ""),
            )
        ]

    def _stop(self, linkedid: str, reason: str) -> list[Decision]:
        legs = self._active.pop(linkedid, None)
        if legs is None:
            return []
        for uniqueid in legs:
            self._by_leg.pop(uniqueid, None)
        self._ended[linkedid] = None
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        return [Stop(linkedid, reason)]

    def forget(self, linkedid: str) -> None:
        """A start that could not be carried out (the spy was not placed): a later
        AgentConnect for this call may try again."""
        legs = self._active.pop(linkedid, None) or frozenset()
        for uniqueid in legs:
            self._by_leg.pop(uniqueid, None)
