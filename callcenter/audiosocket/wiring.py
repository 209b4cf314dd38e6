"""Builds the AudioSocket server from the settings (not started: the feature starts it with the app)."""

from __future__ import annotations

from typing import Any

from callcenter.audiosocket.server import AudioSocketServer
from callcenter.config import Settings


def build_audiosocket(settings: Settings, live: Any = None) -> AudioSocketServer:
    """The server the IVR records through; ``live`` makes the per-call live transcript (or None)."""
    return AudioSocketServer(
        settings.audiosocket_host,
        settings.audiosocket_port,
        recordings_dir=settings.recordings_dir,
        allowed_peers=settings.audiosocket_allowed_peers,
        advertise=settings.audiosocket_address,
        listeners=live,
    )
