"""The :class:`~callcenter.callbacks.dialer.Dialer` port over the AMI link (``AmiLink.originate``).

``AmiLink`` already refuses to send one ActionID twice and answers a repeated id from its
ledger; the callbacks slice adds the other half: each attempt's key is written to the
store before this adapter is called, so a restart never reuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from callcenter.callbacks.dialer import DialOutcome, DialResult
from callcenter.domain.calls import OriginateOutcome, OriginateResult
from callcenter.telephony import api as orig
from callcenter.telephony.api import AmiError, AmiLink, LinkState

logger = logging.getLogger(__name__)

_RESULTS = {
    OriginateOutcome.ANSWERED: DialResult.ANSWERED,
    OriginateOutcome.IN_PROGRESS: DialResult.ANSWERED,
    OriginateOutcome.BUSY: DialResult.BUSY,
    OriginateOutcome.NO_ANSWER: DialResult.NO_ANSWER,
    OriginateOutcome.HUNG_UP: DialResult.NO_ANSWER,
    OriginateOutcome.FAILED: DialResult.FAILED,
    OriginateOutcome.CONGESTION: DialResult.FAILED,
    OriginateOutcome.REJECTED: DialResult.FAILED,
    OriginateOutcome.NOT_SENT: DialResult.NOT_SENT,
    OriginateOutcome.TIMED_OUT: DialResult.UNKNOWN,
}


def dial_outcome(result: OriginateResult) -> DialOutcome:
    """Translate the AMI adapter's answer into the port's vocabulary."""
    return DialOutcome(_RESULTS.get(result.outcome, DialResult.UNKNOWN), result.detail, result.uniqueid)


class AmiDialer:
    """Dials callbacks through an :class:`AmiLink`."""

    def __init__(
        self,
        link: AmiLink,
        *,
        dial_template: str,
        click_to_call_context: str = "outbound",
        ring_timeout: float = 30.0,
        context: str = "callback",
        exten: str = "s",
    ) -> None:
        self._link = link
        self._template = dial_template
        self._c2c_context = click_to_call_context
        self._ring_timeout = ring_timeout
        self._context = context
        self._exten = exten

    @classmethod
    def from_settings(cls, link: AmiLink, settings: Any) -> AmiDialer:
        return cls(link, dial_template=settings.dial_template, click_to_call_context=settings.click_to_call_context)

    @property
    def available(self) -> bool:
        return self._link.state is LinkState.CONNECTED

    async def originate_callback(
        self, *, phone: str, callback_id: int, ticket_numbers: Sequence[str], action_id: str
    ) -> DialOutcome:
        try:
            request = orig.callback(
                action_id,
                citizen_number=phone,
                dial_template=self._template,
                ticket_id=ticket_numbers[0] if ticket_numbers else "",
                callback_id=str(callback_id),
                context=self._context,
                exten=self._exten,
                ring_timeout=self._ring_timeout,
            )
        except orig.InvalidOriginate as err:
            logger.error("callback %s cannot be dialled: %s", callback_id, err)
            return DialOutcome(DialResult.FAILED, str(err))
        return await self._send(request)

    async def click_to_call(
        self, *, operator_device: str, phone: str, ticket_number: str | None, action_id: str
    ) -> DialOutcome:
        try:
            request = orig.click_to_call(
                action_id,
                operator_interface=operator_device,
                citizen_number=phone,
                dial_context=self._c2c_context,
                ticket_id=ticket_number,
                ring_timeout=self._ring_timeout,
            )
        except orig.InvalidOriginate as err:
            logger.error("click-to-call %s cannot be placed: %s", action_id, err)
            return DialOutcome(DialResult.FAILED, str(err))
        return await self._send(request)

    async def _send(self, request: orig.OriginateRequest) -> DialOutcome:
        try:
            result = await self._link.originate(request)
        except AmiError as err:
            # originate() reports a down link as NOT_SENT itself; anything raised got further.
            logger.warning("originate %s failed: %s", request.request_id, err)
            return DialOutcome(DialResult.UNKNOWN, str(err))
        logger.info("originate %s: %s %s", request.request_id, result.outcome.value, result.detail)
        return dial_outcome(result)
