"""The live transcript of a call recorded over AudioSocket: each frame goes to the call's Vosk
recogniser (speech feature, bounded pool); partial and final text, and the category/address
suggestion made from it, are published on the hub as ``voice_live`` messages (supervisors'
sockets; the telephony feature forwards them to the pop of an operator whose phone rings for
that call). The transcript is returned with the recording, so the voice report needs no
second decode."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from callcenter.audiosocket.server import FrameListener, MessageSpec, RecordingOutcome
from callcenter.events import EventHub
from callcenter.stt.api import LiveText, SpeechService, SttUnavailable, Transcript
from callcenter.tasks import supervise

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "voice_live"


class LiveTranscripts:
    """The server's listener factory: one :class:`CallTranscript` per expected recording."""

    def __init__(
        self, speech: SpeechService, hub: EventHub, *, max_calls: int = 2, partial_interval: float = 0.5
    ) -> None:
        self.speech = speech
        self.hub = hub
        self.max_calls = max_calls
        self.partial_interval = partial_interval
        self.active = 0
        self.declined = 0

    def __call__(self, spec: MessageSpec) -> FrameListener | None:
        if spec.kind == "orphan" or not self.speech.available:
            return None
        if self.active >= self.max_calls:
            # Past what the pool decodes in real time the live text would only fall further
            # behind: this call is transcribed from its file after the message, as before.
            self.declined += 1
            logger.info("live transcript declined for %s: %d calls already", spec.path.name, self.active)
            return None
        try:
            listener = CallTranscript(self, spec)
        except SttUnavailable:
            return None
        self.active += 1
        return listener


class CallTranscript:
    def __init__(self, owner: LiveTranscripts, spec: MessageSpec) -> None:
        self._owner = owner
        self._spec = spec
        self.recognizer = owner.speech.live(self._update)
        self._last_partial = 0.0
        self._said = ""
        self._suggestion: dict[str, Any] | None = None
        self._drafting: asyncio.Task[None] | None = None
        self.started = time.monotonic()

    def feed(self, pcm: bytes) -> None:
        self.recognizer.feed(pcm)

    def _update(self, live: LiveText) -> None:
        if live.final:
            return  # finish() publishes the final text with its suggestion
        new_phrase = live.text != self._said  # a phrase ended (Vosk found a pause)
        self._said = live.text
        now = time.monotonic()
        if not new_phrase and not live.final and now - self._last_partial < self._owner.partial_interval:
            return
        self._last_partial = now
        self._publish(live)
        if new_phrase and live.text and (self._drafting is None or self._drafting.done()):
            self._drafting = asyncio.get_running_loop().create_task(self._suggest(live), name="stt-live-draft")
            supervise(self._drafting, logger)

    async def _suggest(self, live: LiveText) -> None:
        transcript = Transcript(text=live.text, words=(), duration=live.audio_seconds, model="live")
        draft = await self._owner.speech.draft_async(transcript)
        self._suggestion = suggestion(draft)
        self._publish(live)

    def _publish(self, live: LiveText) -> None:
        self._owner.hub.publish(
            {
                "type": MESSAGE_TYPE,
                "call_uniqueid": self._spec.call_uniqueid,
                "phone": self._spec.phone,
                "kind": self._spec.kind,
                "text": live.full,
                "final": live.final,
                "audio_seconds": round(live.audio_seconds, 2),
                "suggestion": self._suggestion,
            }
        )

    async def finish(self, outcome: RecordingOutcome) -> Transcript:
        try:
            return await self._finish(outcome)
        finally:
            self._owner.active -= 1

    async def _finish(self, outcome: RecordingOutcome) -> Transcript:
        transcript = await self.recognizer.finish()
        if self._drafting is not None:
            await asyncio.gather(self._drafting, return_exceptions=True)
        if transcript.text:
            self._suggestion = suggestion(await self._owner.speech.draft_async(transcript))
        self._publish(LiveText(transcript.text, "", transcript.duration, final=True))
        logger.info(
            "live transcript of %s: %.1f s of audio, %.2f s decoding, %d updates, %d bytes skipped",
            outcome.path.name,
            self.recognizer.audio_seconds,
            self.recognizer.decode_seconds,
            self.recognizer.updates,
            self.recognizer.dropped_bytes,
        )
        return transcript


def suggestion(draft: Any) -> dict[str, Any]:
    """What the pop shows from a draft: category and address (with its map point)."""
    return {
        "category": draft.category_code,
        "category_name": draft.category_name,
        "address": draft.address,
        "house": draft.house,
        "flat": draft.flat,
        "lat": draft.lat,
        "lon": draft.lon,
        "confidence": draft.confidence,
    }
