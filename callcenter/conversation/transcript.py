"""The live transcript of one operator's conversation: two parties, one recogniser each.

Each spy session (one per leg, see spies.py) feeds its audio to a :class:`PartyTranscript`,
a Vosk recogniser of its own in the speech feature's bounded pool. A finished phrase becomes a
line («Абонент: ...» / «Оператор: ...») of the :class:`Conversation`; the phrase being spoken
goes out as a partial, at most every ``partial_interval`` seconds per party. Every line and
partial is published on the hub as a ``conversation`` message addressed to the operator who
took the call (``user_id``); the browser shows them in the call's panel beside the ticket form.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callcenter.audiosocket.api import RecordingOutcome
from callcenter.conversation.spies import SPEAKER_LABELS
from callcenter.events import EventHub
from callcenter.stt.api import LiveText, SpeechService, Transcript

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "conversation"
MAX_LINES = 2000  # a conversation longer than this keeps its first lines (and its recordings)
# A Local channel (and ChanSpy on it) sends no frames while its side is silent, so the recogniser
# would never hear the pause that ends a phrase: after IDLE_SECONDS with no frame it is given
# PAD_SECONDS of silence (once per pause). A SIP call's silent frames make this a no-op.
IDLE_SECONDS = 0.5
PAD_SECONDS = 1.0
_SILENCE = bytes(int(PAD_SECONDS * 8000) * 2)  # slin16, 8 kHz


@dataclass
class Conversation:
    """One answered call being transcribed: its lines in the order they were said."""

    linkedid: str
    hub: EventHub
    user_id: int | None  # the operator who took the call (None: no staff user at that phone)
    interface: str
    caller: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def line(self, party: str, text: str) -> None:
        """A finished phrase of ``party``."""
        text = text.strip()
        if not text or len(self.lines) >= MAX_LINES:
            return
        entry = {
            "party": party,
            "speaker": SPEAKER_LABELS.get(party, party),
            "text": text[:2000],
            "at_seconds": round(time.monotonic() - self.started, 1),
        }
        self.lines.append(entry)
        self.publish("line", **entry)

    def partial(self, party: str, text: str) -> None:
        """What ``party`` is saying right now (replaced by the line when the phrase ends)."""
        self.publish("partial", party=party, speaker=SPEAKER_LABELS.get(party, party), text=text[:2000])

    def publish(self, state: str, **fields: Any) -> None:
        if self.user_id is None:
            return  # nobody's browser to show it in; the transcript is still kept
        self.hub.publish(
            {
                "type": MESSAGE_TYPE,
                "state": state,
                "user_id": self.user_id,
                "linkedid": self.linkedid,
                "interface": self.interface,
                **fields,
            }
        )

    def as_record(self, recordings: dict[str, str], ended_by: str) -> dict[str, Any]:
        """What is kept on the call's row when the conversation ends."""
        return {
            "started_at": self.started_at.isoformat(),
            "ended_at": datetime.now(UTC).isoformat(),
            "ended_by": ended_by,
            "operator_id": self.user_id,
            "interface": self.interface,
            "lines": list(self.lines),
            "recordings": recordings,
        }


class PartyTranscript:
    """The frame listener of one spy session (the audiosocket server's FrameListener)."""

    def __init__(
        self,
        conversation: Conversation,
        party: str,
        speech: SpeechService,
        *,
        partial_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conversation = conversation
        self.party = party
        self.partial_interval = partial_interval
        self._clock = clock
        self._said = ""
        self._last_partial = float("-inf")
        self._last_partial_text = ""
        self._pause: asyncio.TimerHandle | None = None
        self.frames = 0
        self.pauses = 0  # pauses filled with silence for the recogniser
        self.recognizer = speech.live(self.update)

    def feed(self, pcm: bytes) -> None:
        self.frames += 1
        self.recognizer.feed(pcm)
        if self._pause is not None:
            self._pause.cancel()
        self._pause = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._fill_pause)

    def _fill_pause(self) -> None:
        self._pause = None
        self.pauses += 1
        self.recognizer.feed(_SILENCE)

    def update(self, live: LiveText) -> None:
        """The recogniser's news: a finished phrase becomes a line, the rest a partial."""
        if live.text != self._said:
            said, self._said = self._said, live.text
            self.conversation.line(self.party, new_words(said, live.text))
            self._last_partial_text = ""
        if live.final or not live.partial or live.partial == self._last_partial_text:
            return
        now = self._clock()
        if now - self._last_partial < self.partial_interval:
            return
        self._last_partial = now
        self._last_partial_text = live.partial
        self.conversation.partial(self.party, live.partial)

    async def finish(self, outcome: RecordingOutcome) -> Transcript:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        transcript = await self.recognizer.finish()
        if transcript.text != self._said:
            self.conversation.line(self.party, new_words(self._said, transcript.text))
            self._said = transcript.text
        logger.info(
            "conversation %s, %s: %d frames, %d pauses filled, %.1f s of audio, %d bytes skipped; ended by %s",
            self.conversation.linkedid,
            self.party,
            self.frames,
            self.pauses,
            self.recognizer.audio_seconds,
            self.recognizer.dropped_bytes,
            outcome.reason,
        )
        return transcript


def new_words(before: str, now: str) -> str:
    """What ``now`` (the final phrases so far) adds to ``before``."""
    if now.startswith(before):
        return now[len(before) :].strip()
    return now.strip()
