"""The live transcript of a call recorded over AudioSocket: each frame goes to the call's Vosk
recogniser (speech feature, bounded pool); partial and final text, and the category/address
suggestion made from it, are published on the hub as ``voice_live`` messages (supervisors'
sockets; the telephony feature forwards them to the pop of an operator whose phone rings for
that call). With ``drafts`` (the voice reports' live draft) each final phrase lands on the
call's draft ticket as it is said. When the suggestion's category or place changes, the open tickets there (the
duplicates search, handed in as ``nearby``) are looked up off the recognition path, at most
once per ``nearby_interval`` per call, and go out in the messages' ``nearby`` list. The transcript is returned with the recording, so the voice report needs no
second decode."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from callcenter.audiosocket.server import FrameListener, MessageSpec, RecordingOutcome
from callcenter.events import EventHub
from callcenter.stt.api import LiveText, SpeechService, SttUnavailable, Transcript
from callcenter.tasks import supervise

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "voice_live"
NEARBY_TIMEOUT = 5.0  # the last search, when the message ends, waits at most this long

Nearby = Callable[[Mapping[str, Any]], Awaitable[list[dict[str, Any]]]]
# VoiceReports.live_draft: the call's draft ticket made at the first final phrase and updated
# with each next one (keywords phone, call_uniqueid, text, draft).
Drafts = Callable[..., Awaitable[Any]]


class LiveTranscripts:
    """The server's listener factory: one :class:`CallTranscript` per expected recording."""

    def __init__(
        self,
        speech: SpeechService,
        hub: EventHub,
        *,
        max_calls: int = 2,
        partial_interval: float = 0.5,
        nearby: Nearby | None = None,
        nearby_interval: float = 3.0,
        drafts: Drafts | None = None,
    ) -> None:
        self.speech = speech
        self.hub = hub
        self.max_calls = max_calls
        self.partial_interval = partial_interval
        self.nearby = nearby
        self.nearby_interval = nearby_interval
        self.nearby_searches = 0
        self.drafts = drafts
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
        self._live = LiveText("", "", 0.0)
        self._nearby: list[dict[str, Any]] = []
        self._searched: tuple[Any, ...] | None = None  # the place the nearby list is for
        self._searching: asyncio.Task[None] | None = None
        self._last_search = float("-inf")
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
        self._want_nearby()
        if self._owner.drafts is not None and self._spec.kind == "ivr" and live.text:
            try:
                await self._owner.drafts(
                    phone=self._spec.phone, call_uniqueid=self._spec.call_uniqueid, text=live.text, draft=draft
                )
            except Exception as err:  # noqa: BLE001 - the voice report still makes the draft at the end
                logger.warning("live draft of %s not saved: %s", self._spec.path.name, err)

    # --- open tickets at the suggested place (the duplicates search) --------------------

    def _want_nearby(self) -> None:
        if self._owner.nearby is None or self._suggestion is None or place(self._suggestion) == self._searched:
            return
        if self._searching is not None and not self._searching.done():
            return  # the running search looks again when it is done
        self._searching = asyncio.get_running_loop().create_task(self._search_nearby(), name="stt-live-nearby")
        supervise(self._searching, logger)

    async def _search_nearby(self) -> None:
        """Search while the suggested place differs from the last one searched, at most once
        per ``nearby_interval`` (the search is database work: a talkative caller makes a
        suggestion every phrase)."""
        while self._suggestion is not None and (key := place(self._suggestion)) != self._searched:
            wait = self._last_search + self._owner.nearby_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            await self._search(self._suggestion, key)

    async def _search(self, wanted: dict[str, Any], key: tuple[Any, ...], *, publish: bool = True) -> None:
        assert self._owner.nearby is not None
        self._last_search = time.monotonic()
        self._owner.nearby_searches += 1
        try:
            found = await self._owner.nearby(wanted)
        except Exception as err:  # noqa: BLE001 - the transcript goes on without the list
            self._searched = key  # not tried again until the place changes
            logger.warning("open tickets near %s not found for %s: %s", key, self._spec.path.name, err)
            return
        self._searched = key
        if found != self._nearby:
            self._nearby = found
            if publish:
                self._publish(self._live)

    async def _last_nearby(self) -> None:
        """When the message ends: the final suggestion's place, searched now if it is new."""
        if self._searching is not None:
            self._searching.cancel()
            await asyncio.gather(self._searching, return_exceptions=True)
        if self._owner.nearby is None or self._suggestion is None:
            return
        key = place(self._suggestion)
        if key != self._searched:
            try:
                await asyncio.wait_for(self._search(self._suggestion, key, publish=False), NEARBY_TIMEOUT)
            except TimeoutError:
                logger.warning("open tickets near %s: no answer in %.0f s", key, NEARBY_TIMEOUT)

    def _publish(self, live: LiveText) -> None:
        self._live = live
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
                "nearby": self._nearby,
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
        await self._last_nearby()
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
        "street": draft.street,
        "house": draft.house,
        "flat": draft.flat,
        "lat": draft.lat,
        "lon": draft.lon,
        "confidence": draft.confidence,
    }


def place(suggested: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the nearby search depends on: category, street, house and point."""
    return tuple(suggested.get(k) for k in ("category", "street", "house", "lat", "lon"))
