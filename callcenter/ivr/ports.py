"""What the IVR needs from the ticket store (the lead implements it over the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

TICKET_STATUSES = ("new", "dispatched", "in_progress", "done", "closed", "archived", "rejected")


@dataclass(frozen=True)
class TicketBrief:
    """The few facts about a ticket the IVR reads to a caller."""

    number: str  # digits only, e.g. "2611042"
    status: str  # one of TICKET_STATUSES
    category_code: str
    category_name: str  # Russian
    # The ticket has the caller's phone number (not withheld): the IVR may offer SMS about it.
    phone_known: bool = False


class IvrBackend(Protocol):
    """Ticket operations the IVR scripts call; every call is awaited with a timeout."""

    async def open_tickets_for_phone(self, phone: str) -> list[TicketBrief]:
        """Open tickets filed from this phone number, newest first."""
        ...

    async def ticket_status(self, number: str) -> TicketBrief | None:
        """The ticket with this number, or None when there is none."""
        ...

    async def submit_voice_report(
        self,
        *,
        phone: str,
        category_code: str | None,
        recording_path: str,
        call_uniqueid: str,
        ivr_path: str,
        transcript: Any = None,
    ) -> TicketBrief:
        """Create a draft ticket (status new, draft flag) holding the recording.

        Speech-to-text runs later, off the call, unless ``transcript`` (made live while the
        caller spoke, over AudioSocket) is given: then it is used as it is.
        """
        ...

    async def record_sms_consent(self, *, ticket_number: str, call_uniqueid: str) -> bool:
        """The caller pressed the consent key after their voice report: record consent to SMS
        about this ticket (152-ФЗ), as the staff form does. False when the ticket has no phone
        number to send to (nothing is recorded)."""
        ...

    async def record_callback_outcome(
        self,
        *,
        ticket_number: str,
        callback_id: str | None,
        outcome: str,
        comment_recording: str | None,
        call_uniqueid: str,
    ) -> None:
        """Store the outcome of a satisfaction call.

        outcome: "satisfied" | "not_satisfied" | "operator" | "no_input" | "hangup".
        """
        ...
