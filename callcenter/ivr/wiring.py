"""Builds the FastAGI server: the menu, the route table and the store-backed port (see ivr/api.py)."""

from __future__ import annotations

from callcenter.audiosocket.api import AudioSocketServer
from callcenter.config import Settings
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import RecordingSettings
from callcenter.ivr.menu import load_menu
from callcenter.ivr.scripts import IvrDependencies, build_routes
from callcenter.ivr.store_backend import CallbackOutcomeRecorder, StoreIvrBackend
from callcenter.reference import ReferenceData
from callcenter.stt.api import VoiceReports
from callcenter.tickets.service import TicketService


def build_agi_server(
    settings: Settings,
    reference: ReferenceData,
    tickets: TicketService,
    voice: VoiceReports,
    outcomes: CallbackOutcomeRecorder | None,
    *,
    audiosocket: AudioSocketServer | None = None,
) -> AgiServer:
    """The FastAGI server with the `ivr` and `callback` scripts (reads the menu files; not started)."""
    menu = load_menu(settings.ivr_menu_file, known_categories={c.code for c in reference.categories})
    backend = StoreIvrBackend(tickets, voice, outcomes)
    recordings = RecordingSettings(
        local_dir=settings.recordings_dir, asterisk_dir=settings.agi_recordings_dir or None, stream=audiosocket
    )
    routes = build_routes(IvrDependencies(menu=menu, backend=backend, recordings=recordings))
    return AgiServer(settings.agi_host, settings.agi_port, routes, allowed_peers=settings.agi_allowed_peers)
