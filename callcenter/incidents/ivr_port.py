"""The IVR's outage port (callcenter.ivr.api.OutagePort) over the incidents service."""

from __future__ import annotations

from callcenter.domain.incidents import spoken_time
from callcenter.incidents.service import IncidentService, IncidentView
from callcenter.ivr.api import OutageNotice, TicketBrief


class IncidentsOutagePort:
    def __init__(self, service: IncidentService) -> None:
        self._service = service

    def notice(self, incident: IncidentView) -> OutageNotice:
        hour = minute = None
        day = "today"
        if incident.expected_at is not None:
            when = spoken_time(incident.expected_at, self._service.now(), self._service.zone)
            hour, minute, day = when.hour, when.minute, when.day
        return OutageNotice(
            incident_id=incident.id,
            category=incident.category,
            districts=tuple(sorted(self._service.districts_of(incident.area))),
            hour=hour,
            minute=minute,
            day=day,
            recording=incident.recording,
        )

    async def notices_for_caller(self, phone: str) -> list[OutageNotice]:
        return [self.notice(incident) for incident, _ticket in await self._service.for_phone(phone)]

    async def has_active(self, category: str) -> bool:
        return any(i.category == category for i in await self._service.active())

    async def notices_for_district(self, category: str, district: str) -> list[OutageNotice]:
        return [self.notice(i) for i in await self._service.for_district(category, district)]

    async def subscribe(self, incident_id: int, phone: str, call_uniqueid: str) -> TicketBrief:
        found = await self._service.for_phone(phone)
        source = next((ticket for incident, ticket in found if incident.id == incident_id), None)
        subscription = await self._service.subscribe(incident_id, phone, via="ivr", address_from=source)
        view = subscription.ticket
        return TicketBrief(
            number=view.number,
            status=view.status.value,
            category_code=view.category or "other",
            category_name=view.category_name or "Другое",
        )

    async def record_call(self, incident_id: int, phone: str, call_uniqueid: str, how: str, outcome: str) -> None:
        await self._service.record_call(incident_id, phone=phone, call_uniqueid=call_uniqueid, how=how, outcome=outcome)
