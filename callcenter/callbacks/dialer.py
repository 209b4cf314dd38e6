"""The port through which callbacks dial out. The AMI adapter is in ``ami_dialer``; tests use fakes.

The callbacks slice knows nothing of AMI: it asks a :class:`Dialer` to call a citizen into
the satisfaction IVR (or to ring an operator's phone and then the citizen), giving an
idempotency key it has already written to the store, and gets one :class:`DialOutcome`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class DialResult(enum.StrEnum):
    ANSWERED = "answered"  # the citizen picked up; the IVR reports the outcome later
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # refused or unreachable number, bad dial template
    NOT_SENT = "not_sent"  # the link was down: certainly nothing was dialled
    UNKNOWN = "unknown"  # sent, but no final word: the call may have happened


@dataclass(frozen=True)
class DialOutcome:
    result: DialResult
    detail: str = ""
    uniqueid: str | None = None


class Dialer(Protocol):
    """Outgoing calls for callbacks. Each method waits (bounded) for the call's fate."""

    @property
    def available(self) -> bool:
        """False while the telephony link is down: due callbacks then wait."""
        ...

    async def originate_callback(
        self, *, phone: str, callback_id: int, ticket_numbers: Sequence[str], action_id: str
    ) -> DialOutcome:
        """Call ``phone`` (E.164) into the satisfaction IVR with TICKET_ID = the first number."""
        ...

    async def click_to_call(
        self, *, operator_device: str, phone: str, ticket_number: str | None, action_id: str
    ) -> DialOutcome:
        """Ring the operator's phone; once answered, the dialplan calls the citizen."""
        ...
