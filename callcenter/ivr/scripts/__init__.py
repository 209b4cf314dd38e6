"""AGI scripts, one module per script: the module, its handler and the script name in
``agi://host:4573/NAME`` are one word. ``build_routes`` is the explicit route table."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiHandler
from callcenter.ivr.engine import Clock, EngineSettings, IvrEngine, RecordingSettings, utc_now
from callcenter.ivr.menu import Menu
from callcenter.ivr.outage import OutageFlow, OutagePort
from callcenter.ivr.ports import IvrBackend
from callcenter.ivr.scripts import callback, escalation, ivr


@dataclass(frozen=True)
class IvrDependencies:
    """Everything the scripts need, built by the composition root."""

    menu: Menu
    backend: IvrBackend
    recordings: RecordingSettings
    settings: EngineSettings = EngineSettings()
    clock: Clock = utc_now
    escalations: escalation.EscalationBackend | None = None  # the escalation script's port
    speak: escalation.Speaker | None = None  # says a ticket's category and address on an escalation call
    outage: OutagePort | None = None  # the incidents feature, when outage mode is on
    sound_exists: Callable[[str], bool] | None = None  # is a per-incident recording installed?


def build_routes(deps: IvrDependencies) -> dict[str, AgiHandler]:
    """The route table for AgiServer: script name -> handler."""
    outage = None
    if deps.outage is not None and deps.menu.outage is not None:
        outage = OutageFlow(
            deps.menu.outage,
            deps.outage,
            lookup_timeout=deps.settings.lookup_timeout,
            submit_timeout=deps.settings.submit_timeout,
            sound_exists=deps.sound_exists,
        )
    engine = IvrEngine(
        deps.menu, deps.backend, deps.recordings, settings=deps.settings, clock=deps.clock, outage=outage
    )
    flow = callback.CallbackFlow(deps.menu, deps.backend, deps.recordings, settings=deps.settings, clock=deps.clock)
    routes: dict[str, AgiHandler] = {
        cv.SCRIPT_IVR: functools.partial(ivr.ivr, engine=engine),
        cv.SCRIPT_CALLBACK: functools.partial(callback.callback, flow=flow),
    }
    if deps.escalations is not None:
        escalations = escalation.EscalationFlow(deps.menu, deps.escalations, deps.speak)
        routes[cv.SCRIPT_ESCALATION] = functools.partial(escalation.escalation, flow=escalations)
    return routes
