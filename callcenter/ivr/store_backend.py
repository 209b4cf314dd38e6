"""The IVR's port (callcenter.ivr.ports.IvrBackend) implemented over the ticket store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from callcenter.domain.errors import DomainError
from callcenter.domain.notifications import CONSENT_KEY, consent_record
from callcenter.domain.phones import try_normalize_phone
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Actor
from callcenter.ivr.ports import TicketBrief
from callcenter.stt.api import VoiceReports
from callcenter.tickets.schemas import TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

IVR_CONSENT_ACTOR = Actor.system("IVR 1563")


class CallbackOutcomeRecorder(Protocol):
    async def record_callback_outcome(
        self,
        *,
        ticket_number: str,
        callback_id: str | None,
        outcome: str,
        comment_recording: str | None,
        call_uniqueid: str,
    ) -> None: ...


def brief(view: TicketView) -> TicketBrief:
    return TicketBrief(
        number=view.number,
        status=view.status.value,
        category_code=view.category or "other",
        category_name=view.category_name or "Другое",
        phone_known=bool(view.phone),
    )


class StoreIvrBackend:
    """Reads and writes tickets for callers; callback outcomes go to the callbacks feature."""

    def __init__(self, tickets: TicketService, voice: VoiceReports, outcomes: CallbackOutcomeRecorder | None) -> None:
        self._tickets = tickets
        self._voice = voice
        self._outcomes = outcomes

    async def open_tickets_for_phone(self, phone: str) -> list[TicketBrief]:
        normalized = try_normalize_phone(phone)
        if normalized is None:  # withheld or foreign caller id: nothing to look up
            return []
        return [brief(v) for v in await self._tickets.tickets_for_phone(normalized, open_only=True, limit=5)]

    async def ticket_status(self, number: str) -> TicketBrief | None:
        try:
            return brief(await self._tickets.get(clean_ticket_number(number)))
        except DomainError:
            return None

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
        view = await self._voice.submit(
            phone=phone,
            category_code=category_code,
            recording_path=recording_path,
            call_uniqueid=call_uniqueid,
            ivr_path=ivr_path,
            transcript=transcript,
        )
        return brief(view)

    async def record_sms_consent(self, *, ticket_number: str, call_uniqueid: str) -> bool:
        """``extra["notify"]`` as the staff form writes it (SMS to the ticket's phone, no e-mail),
        ``via="ivr"``; the notifications outbox reads it at the ticket's next event."""
        number = clean_ticket_number(ticket_number)
        view = await self._tickets.get(number)
        if not view.phone:
            logger.warning("SMS consent for ticket %s (call %s) not recorded: no phone number", number, call_uniqueid)
            return False
        earlier = view.extra.get(CONSENT_KEY)
        email = earlier.get("email") if isinstance(earlier, dict) else None  # an earlier e-mail consent is kept
        email = email if isinstance(email, str) else None
        record = consent_record(email=email, sms=True, via="ivr", at=datetime.now(UTC))
        await self._tickets.edit(number, {"extra": {CONSENT_KEY: record}}, IVR_CONSENT_ACTOR)
        logger.info("SMS consent recorded for ticket %s by key press (call %s)", number, call_uniqueid)
        return True

    async def record_callback_outcome(self, **kwargs: Any) -> None:
        if self._outcomes is None:
            logger.error(
                "callback outcome %s for ticket %s arrived but callbacks are not configured",
                kwargs.get("outcome"),
                kwargs.get("ticket_number"),
            )
            return
        await self._outcomes.record_callback_outcome(**kwargs)
