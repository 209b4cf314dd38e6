"""Builds the AudioSocket server from the settings (not started: the feature starts it with the app)."""

from __future__ import annotations

from callcenter.audiosocket.live import Drafts, LiveTranscripts, Nearby
from callcenter.audiosocket.server import AudioSocketServer
from callcenter.config import Settings
from callcenter.events import EventHub
from callcenter.stt.api import SpeechService


def build_audiosocket(
    settings: Settings,
    speech: SpeechService | None = None,
    hub: EventHub | None = None,
    *,
    nearby: Nearby | None = None,
    drafts: Drafts | None = None,
) -> AudioSocketServer:
    """The server the IVR records through; with ``speech`` and ``hub`` every recording is also
    transcribed live (when a model is loaded); with ``nearby`` (the duplicates search) the open
    tickets at the suggested place go out with the live transcript; with ``drafts`` the call's
    draft ticket follows the caller's final phrases."""
    live = (
        LiveTranscripts(speech, hub, max_calls=settings.stt_live_max_calls, nearby=nearby, drafts=drafts)
        if speech is not None and hub is not None and settings.stt_live_max_calls > 0
        else None
    )
    return AudioSocketServer(
        settings.audiosocket_host,
        settings.audiosocket_port,
        recordings_dir=settings.recordings_dir,
        allowed_peers=settings.audiosocket_allowed_peers,
        advertise=settings.audiosocket_address,
        listeners=live,
    )
