"""The incidents feature's public module: what the composition root and other features may import.

``IncidentsFeature.service`` (an :class:`IncidentService`) answers "is this place / this caller
inside an active incident?" (``for_place``, ``for_phone``), links tickets (``link``) and gives
the figures of active incidents for a wallboard: :func:`incidents_summary`.
"""

from __future__ import annotations

from typing import Any

from callcenter.incidents.service import IncidentService, IncidentView
from callcenter.incidents.wiring import INCIDENTS, IncidentsFeature, build_incidents


async def incidents_summary(feature: IncidentsFeature) -> list[dict[str, Any]]:
    """Active incidents with subscribers, IVR-answered calls and operator calls (for the wallboard)."""
    return await feature.service.summary()


__all__ = ["INCIDENTS", "IncidentService", "IncidentView", "IncidentsFeature", "build_incidents", "incidents_summary"]
