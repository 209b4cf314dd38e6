"""Click-to-call: dial a ticket's citizen from the operator's phone, once per form.

:class:`ClickToCall` reserves the call's row before it dials, so one form submitted twice
(double click, reconnect, another instance) dials once.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callcenter.accounts.users import UserView
from callcenter.domain.calls import (
    OriginateOutcome,
    OriginateResult,
)
from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.phones import format_phone
from callcenter.telephony.ami_link import AmiLink, LinkState
from callcenter.telephony.calls_store import CallStore
from callcenter.telephony.originate import InvalidOriginate, channel_id_for, click_to_call
from callcenter.telephony.relay import AmiActions
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

CALL_KEY = re.compile(r"c2c-[0-9a-f]{20}")


def new_call_key() -> str:
    """An idempotency key for one click-to-call form (rendered into the page)."""
    return "c2c-" + secrets.token_hex(10)


# --- click-to-call ----------------------------------------------------------------------


class TelephonyUnavailable(DomainError):
    """No AMI link (off or down): nothing was dialled."""

    code = "telephony_unavailable"


OUTCOME_TEXT = {
    OriginateOutcome.ANSWERED: "вызов принят, АТС соединяет с заявителем",
    OriginateOutcome.BUSY: "занято",
    OriginateOutcome.NO_ANSWER: "нет ответа",
    OriginateOutcome.FAILED: "вызов не удался (номер недоступен или набран неверно)",
    OriginateOutcome.CONGESTION: "линия перегружена, попробуйте позже",
    OriginateOutcome.HUNG_UP: "вызов сброшен",
    OriginateOutcome.REJECTED: "АТС отказала в вызове, сообщите администратору",
    OriginateOutcome.NOT_SENT: "нет связи с АТС, ничего не набрано",
    OriginateOutcome.TIMED_OUT: "АТС не сообщила результат вызова",
    OriginateOutcome.IN_PROGRESS: "этот звонок уже выполняется",
}
DISABLED_TEXT = "Телефония отключена: звонки из программы не настроены. Позвоните заявителю со своего телефона."
DOWN_TEXT = "Нет связи с АТС: звонок не выполнен, ничего не набрано. Повторите через минуту."


@dataclass(frozen=True, slots=True)
class DialReport:
    """What became of one click-to-call, for the page and the JSON answer."""

    outcome: str
    message: str
    repeated: bool = False  # this form was submitted before: not dialled again

    def as_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "message": self.message, "repeated": self.repeated}


class ClickToCall:
    """Dial a ticket's citizen from the operator's phone: operator first, then the citizen."""

    def __init__(
        self,
        link: AmiLink | AmiActions | None,
        store: CallStore,
        tickets: TicketService,
        *,
        dial_context: str,
        ring_timeout: float = 30.0,
    ) -> None:
        self._link = link
        self._store = store
        self._tickets = tickets
        self._dial_context = dial_context
        self._ring_timeout = ring_timeout

    async def place(self, number: str, user: UserView, key: str) -> DialReport:
        """Dial once per ``key``; record the outcome on the ticket as a "call" event."""
        if not CALL_KEY.fullmatch(key or ""):
            raise ValidationError(
                "Форма звонка устарела: обновите страницу и нажмите «Позвонить» ещё раз", field="call_key"
            )
        self._check_link()
        if not user.device:
            raise ValidationError(
                "Для вашей учётной записи не указан телефон (устройство): попросите администратора указать его",
                field="device",
            )
        ticket = await self._tickets.get(number)
        if not ticket.phone:
            raise ValidationError("В заявке нет телефона заявителя: звонить некуда", field="phone")
        linkedid = channel_id_for(key)
        try:
            request = click_to_call(
                key,
                operator_interface=user.device,
                citizen_number=ticket.phone,
                dial_context=self._dial_context,
                ticket_id=number,
                ring_timeout=self._ring_timeout,
            )
        except InvalidOriginate as err:
            raise ValidationError(f"Звонок невозможен: {err}", field="device") from err
        claimed = await self._store.claim_outbound(
            linkedid,
            caller=ticket.phone,
            ticket_id=ticket.id,
            operator_id=user.id,
            interface=user.device,
            request_id=key,
            now=datetime.now(UTC),
        )
        if not claimed:
            return await self._repeated(linkedid, ticket.id)
        return await self._dial(request, number, ticket.phone, user)

    def _check_link(self) -> None:
        if self._link is None or self._link.state is LinkState.DISABLED:
            raise TelephonyUnavailable(DISABLED_TEXT)
        if self._link.state is not LinkState.CONNECTED:
            raise TelephonyUnavailable(DOWN_TEXT)

    async def _repeated(self, linkedid: str, ticket_id: int) -> DialReport:
        claim = await self._store.outbound(linkedid)
        if claim is None or claim.ticket_id != ticket_id:
            raise ValidationError("Форма звонка устарела: обновите страницу", field="call_key")
        outcome = claim.outcome or OriginateOutcome.IN_PROGRESS.value
        known = _outcome(outcome)
        text = OUTCOME_TEXT[known] if isinstance(known, OriginateOutcome) else outcome
        return DialReport(outcome, f"Этот звонок уже был сделан: {text}. Повторно не набираем.", repeated=True)

    async def _dial(self, request: Any, number: str, phone: str, user: UserView) -> DialReport:
        linkedid = channel_id_for(request.request_id)
        result = await self._link.originate(request)  # type: ignore[union-attr]
        logger.info(
            "click-to-call %s (ticket %s, %s): %s %s",
            request.request_id,
            number,
            user.login,
            result.outcome.value,
            result.detail,
        )
        if not result.outcome.may_have_dialled:
            await self._store.release_outbound(linkedid)
            if result.outcome is OriginateOutcome.NOT_SENT:
                raise TelephonyUnavailable(DOWN_TEXT)
        else:
            answered = result.outcome in (OriginateOutcome.ANSWERED, OriginateOutcome.IN_PROGRESS)
            await self._store.finish_outbound(
                linkedid, result.outcome.value, result.detail, datetime.now(UTC), answered
            )
        text = OUTCOME_TEXT[result.outcome]
        await self._tickets.record_event(
            number,
            "call",
            user.actor(),
            note=f"Звонок заявителю {format_phone(phone)}: {text}",
            data=_event_data(result, request.request_id, linkedid, user),
            public=False,
        )
        return DialReport(
            result.outcome.value, f"Звонок заявителю {format_phone(phone)}: {text}.", repeated=result.repeated
        )


def _outcome(value: str) -> OriginateOutcome | str:
    try:
        return OriginateOutcome(value)
    except ValueError:
        return value


def _event_data(result: OriginateResult, key: str, linkedid: str, user: UserView) -> dict[str, Any]:
    return {
        "direction": "out",
        "kind": "click_to_call",
        "outcome": result.outcome.value,
        "reason": result.reason,
        "request_id": key,
        "linkedid": linkedid,
        "device": user.device,
    }
