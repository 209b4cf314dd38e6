"""Builds the FastAGI server: the menu, the route table and the store-backed port (see ivr/api.py)."""

from __future__ import annotations

import functools
from pathlib import Path

from callcenter.audiosocket.api import AudioSocketServer
from callcenter.config import Settings
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import RecordingSettings
from callcenter.ivr.escalation_backend import TicketEscalationBackend
from callcenter.ivr.menu import load_menu
from callcenter.ivr.outage import OutagePort
from callcenter.ivr.scripts import IvrDependencies, build_routes
from callcenter.ivr.scripts.escalation import file_speaker
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
    outage: OutagePort | None = None,
    *,
    audiosocket: AudioSocketServer | None = None,
) -> AgiServer:
    """The FastAGI server with the `ivr`, `callback` and `escalation` scripts (reads the menu files; not started)."""
    menu = load_menu(settings.ivr_menu_file, known_categories={c.code for c in reference.categories})
    backend = StoreIvrBackend(tickets, voice, outcomes)
    recordings = RecordingSettings(
        local_dir=settings.recordings_dir, asterisk_dir=settings.agi_recordings_dir or None, stream=audiosocket
    )
    routes = build_routes(
        IvrDependencies(
            menu=menu,
            backend=backend,
            recordings=recordings,
            escalations=TicketEscalationBackend(tickets),
            speak=file_speaker(settings.ivr_prompts_dir, menu.sound_prefix),
            outage=outage,
            sound_exists=functools.partial(_sound_exists, settings.ivr_prompts_dir, menu.sound_prefix),
        )
    )
    return AgiServer(settings.agi_host, settings.agi_port, routes, allowed_peers=settings.agi_allowed_peers)


SOUND_EXTENSIONS = ("wav", "gsm", "ulaw", "alaw", "sln", "g722")


def _sound_exists(prompts_dir: Path | None, prefix: str, name: str) -> bool:
    """A per-incident recording is played only when its file is in the prompts folder
    (``CALLCENTER_IVR_PROMPTS_DIR``, where ``<prefix><name>`` lives); unknown: the spoken segments."""
    if prompts_dir is None or "/" in name or name.startswith("."):
        return False
    del prefix  # the folder already is <sounds>/<language>/<prefix>
    return any((prompts_dir / f"{name}.{ext}").is_file() for ext in SOUND_EXTENSIONS)
