"""The escalation script's port over the ticket service: the brief read to the duty phone, and
the dispatcher's answer (1 accepts the ticket on the department's behalf), each on the timeline."""

from __future__ import annotations

import logging

from callcenter.domain.errors import DomainError
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Actor, Role, Status
from callcenter.ivr.scripts.escalation import EscalationBrief
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

STAGE = {"accept": Status.DISPATCHED, "done": Status.IN_PROGRESS}
EVENT_KIND = "escalation"


class TicketEscalationBackend:
    def __init__(self, tickets: TicketService) -> None:
        self._tickets = tickets

    async def escalation_brief(self, ticket_number: str, kind: str) -> EscalationBrief | None:
        try:
            view = await self._tickets.get(clean_ticket_number(ticket_number))
        except DomainError:
            return None
        return EscalationBrief(view.number, view.category_name or "", view.address or "", view.status is STAGE[kind])

    async def escalation_answered(
        self, *, ticket_number: str, escalation_id: str | None, kind: str, accepted: bool, call_uniqueid: str
    ) -> bool:
        view = await self._tickets.get(clean_ticket_number(ticket_number))
        system = Actor.system("звонок эскалации")
        data = {"escalation_id": escalation_id, "call": call_uniqueid, "kind": kind}
        if not accepted:
            await self._tickets.record_event(
                view.number, EVENT_KIND, system, note="Дежурный не нажал 1: заявка не принята по звонку.", data=data
            )
            return False
        if kind == "done":
            await self._tickets.record_event(
                view.number,
                EVENT_KIND,
                system,
                note="Дежурный подтвердил по телефону, что знает о просрочке.",
                data=data,
            )
            return True
        if view.status is not Status.DISPATCHED:
            await self._tickets.record_event(
                view.number,
                EVENT_KIND,
                system,
                note=f"Звонок эскалации: заявка уже в статусе {view.status.value}.",
                data=data,
            )
            return False
        dispatcher = Actor(
            role=Role.EXECUTOR,
            name=f"Дежурный диспетчер ({view.department_name or view.department}) по телефону",
            department=view.department,
        )
        try:
            await self._tickets.move(
                view.number, Status.IN_PROGRESS, dispatcher, note="Принята по звонку эскалации (нажата 1)."
            )
        except DomainError as err:
            logger.warning("escalation accept of %s refused: %s", view.number, err.message)
            return False
        return True
