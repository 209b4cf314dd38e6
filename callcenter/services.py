"""The typed services every feature may be given: built and filled by the composition root only.

:func:`callcenter.app.build_services` makes the shared core (store, hub, reference data,
tickets, accounts, speech); :func:`callcenter.app.init_app` then adds the optional parts in
one order, each from the parts before it: the AMI link (when ``CALLCENTER_AMI_HOST`` is set),
the callbacks feature (which dials over that link), the FastAGI server (whose satisfaction
script hands outcomes to the callbacks feature). A feature's ``setup(app, services)`` reads
what it needs from here and never writes into it.

The feature types are imported for type checking only: the command line builds the core
without loading the telephony, IVR or callbacks code, and no feature module is needed to
import this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.accounts.users import UserService
from callcenter.config import Settings
from callcenter.events import EventHub
from callcenter.reference import Gazetteer, ReferenceData
from callcenter.tickets.service import TicketService

if TYPE_CHECKING:
    from callcenter.audiosocket.api import AudioSocketServer
    from callcenter.callbacks.api import CallbacksFeature
    from callcenter.incidents.api import IncidentsFeature
    from callcenter.ivr.api import AgiServer
    from callcenter.portal.api import PhotoDecoder
    from callcenter.stt.api import SpeechService, VoiceReports
    from callcenter.telephony.api import AmiActions, AmiLink


@dataclass
class Services:
    """Everything the features share. Optional parts are None while their feature is off."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    hub: EventHub
    reference: ReferenceData
    gazetteer: Gazetteer
    tickets: TicketService
    users: UserService
    speech: SpeechService  # unavailable (but present) without a Vosk model
    voice: VoiceReports  # IVR recordings -> draft tickets
    photos: PhotoDecoder  # the one bounded pool every photo (portal, «Выполнено», answer page) is decoded in
    ami: AmiLink | None = None  # the AMI link, when CALLCENTER_AMI_HOST is set
    # Click-to-call, pauses and escalation calls: the link here, or the AMI leader's (relay.py).
    ami_actions: AmiActions | None = None
    callbacks: CallbacksFeature | None = None
    agi: AgiServer | None = None  # the FastAGI server, when AGI is enabled
    incidents: IncidentsFeature | None = None  # outage incidents (the IVR announces them)
    audiosocket: AudioSocketServer | None = None  # when the IVR records over AudioSocket

    def ami_state(self) -> str:
        """The AMI link's state for /healthz: "disabled" while AMI is off."""
        if self.ami is None:
            return "disabled"
        return self.ami.state.value


SERVICES = web.AppKey("services", Services)
