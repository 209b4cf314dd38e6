"""Builds the incidents feature from what the composition root hands it (see incidents/api.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from callcenter.accounts.api_keys import ApiKeys
from callcenter.config import Settings
from callcenter.events import EventHub
from callcenter.incidents.api_keys import incident_keys
from callcenter.incidents.ivr_port import IncidentsOutagePort
from callcenter.incidents.service import IncidentService
from callcenter.reference import Gazetteer, ReferenceData
from callcenter.tickets.service import TicketService


@dataclass
class IncidentsFeature:
    """What the app holds for incidents; ``services.incidents`` is this object (built by the root)."""

    service: IncidentService
    outage_port: IncidentsOutagePort  # the IVR's OutagePort
    keys: ApiKeys
    tile_url: str = ""  # the map tiles of the area editor (settings.tile_url)


INCIDENTS = web.AppKey("incidents", IncidentsFeature)


def build_incidents(
    settings: Settings,
    *,
    sessions: object,
    tickets: TicketService,
    reference: ReferenceData,
    gazetteer: Gazetteer,
    hub: EventHub | None,
) -> IncidentsFeature:
    """Construct the incidents feature (nothing to start: it has no background work)."""
    service = IncidentService(sessions, tickets, reference, gazetteer, zone=settings.zone, hub=hub)  # type: ignore[arg-type]
    return IncidentsFeature(
        service=service,
        outage_port=IncidentsOutagePort(service),
        keys=incident_keys(sessions),  # type: ignore[arg-type]
        tile_url=settings.tile_url,
    )
