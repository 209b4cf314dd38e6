"""Errors of the speech-to-text slice.

The caller (the IVR's recording step, the ticket service) keeps the recording whatever
happens: these errors only say why there is no transcript.
"""

from __future__ import annotations

from pathlib import Path


class SttError(Exception):
    """Base class: no transcript could be made for a recording."""


class SttUnavailable(SttError):
    """Speech-to-text cannot run: no model configured, a broken model folder, no ffmpeg,
    or the service is closed. Mark the transcript unavailable and keep the recording."""


class AudioDecodeError(SttError):
    """The recording is not audio we can decode (corrupt, truncated header, unknown format).

    ``path`` names the file and ``reason`` says what was wrong, in words a log reader
    understands (``"invalid start code XXXX in RIFF header"``).
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot decode audio {self.path}: {reason}")


class SttTimeout(SttError):
    """Decoding one recording took longer than the configured per-job time limit."""

    def __init__(self, path: Path | str, limit: float) -> None:
        self.path = Path(path)
        self.limit = limit
        super().__init__(f"speech recognition of {self.path} exceeded {limit:g} s")


class SttCancelled(SttError):
    """The job was stopped from outside (the caller was cancelled or the service closed)."""
