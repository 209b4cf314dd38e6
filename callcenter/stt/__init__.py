"""Speech-to-text of recordings (Vosk over ffmpeg) and drafting of complaints from transcripts.

Public API::

    service = SpeechService(model_path, workers=2, job_timeout=300, reference=reference)
    await service.start()            # loads the model once; never raises for a bad model
    transcript, draft = await service.transcribe_and_draft(path)
    await service.close()

See docs/stt.md.
"""

from callcenter.stt.drafting import Draft, Drafter
from callcenter.stt.errors import (
    AudioDecodeError,
    SttCancelled,
    SttError,
    SttTimeout,
    SttUnavailable,
)
from callcenter.stt.service import SpeechService
from callcenter.stt.transcript import Transcript, Word

__all__ = [
    "AudioDecodeError",
    "Draft",
    "Drafter",
    "SpeechService",
    "SttCancelled",
    "SttError",
    "SttTimeout",
    "SttUnavailable",
    "Transcript",
    "Word",
]
