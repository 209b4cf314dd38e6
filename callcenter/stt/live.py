"""Live recognition: a call's audio fed to Vosk as it arrives (AudioSocket), off the event loop.

One ``KaldiRecognizer`` per call (a recogniser is not thread-safe: at most one job of a call
runs at a time), the model shared. Audio is buffered on the loop (a bytes append) and handed
to the speech service's bounded pool in chunks of ``chunk_seconds``; each chunk waits for a
pool slot like any other job, so live calls and file transcriptions share ``stt_workers``.
While a chunk is decoding, newer audio collects in the buffer (one job in flight per call,
so a slow machine makes bigger chunks, never a queue of jobs). Partial and final text go to
``on_update`` on the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import vosk

from callcenter.stt.recognizer import LoadedModel, _transcript
from callcenter.stt.transcript import Transcript

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # C resampler with state across chunks; deprecated in 3.11, present until 3.13

logger = logging.getLogger(__name__)

TELEPHONE_RATE = 8000


@dataclass(frozen=True)
class LiveText:
    """What the caller has said so far: ``text`` (final phrases) and ``partial`` (the phrase
    being spoken); ``audio_seconds`` is how much audio the text covers."""

    text: str
    partial: str
    audio_seconds: float
    final: bool = False

    @property
    def full(self) -> str:
        return " ".join(t for t in (self.text, self.partial) if t)


Updates = Callable[[LiveText], None]


class LiveRecognizer:
    """Recognition of one call as it speaks; :meth:`feed` never blocks, :meth:`finish` returns
    the transcript once the last audio is decoded."""

    def __init__(
        self,
        loaded: LoadedModel,
        run: Callable[[Callable[[], Any]], Any],
        on_update: Updates | None = None,
        *,
        chunk_seconds: float = 0.25,
        partial_seconds: float = 0.5,
        max_buffer_seconds: float = 30.0,
    ) -> None:
        self._loaded = loaded
        self._run = run  # SpeechService._run_live: a pool slot, a thread
        self._on_update = on_update
        self._chunk = int(chunk_seconds * TELEPHONE_RATE) * 2
        self._max_buffer = int(max_buffer_seconds * TELEPHONE_RATE) * 2
        # PartialResult() costs a lattice traceback: asked for at most every partial_seconds
        # of audio (the text shown moves on twice a second), not after every chunk.
        self._partial_every = int(partial_seconds * TELEPHONE_RATE) * 2
        self._since_partial = 0
        # Made by the first job, in a worker thread: building a recogniser takes long enough
        # (tens to hundreds of ms) to stall the event loop when many calls start at once.
        self._recognizer: vosk.KaldiRecognizer | None = None
        self._buffer = bytearray()
        self._resample_state: Any = None
        self._segments: list[dict[str, Any]] = []
        self._partial = ""
        self._fed = 0  # bytes of 8 kHz audio handed to the recogniser
        self._job: asyncio.Task[None] | None = None
        self.dropped_bytes = 0
        self.updates = 0
        self.decode_seconds = 0.0  # CPU time spent in the recogniser (thread time)

    @property
    def audio_seconds(self) -> float:
        return self._fed / (TELEPHONE_RATE * 2)

    def feed(self, pcm: bytes) -> None:
        """Queue 8 kHz slin16 audio; starts a decoding job when a chunk is ready."""
        if len(self._buffer) + len(pcm) > self._max_buffer:
            # Recognition far behind (an overloaded machine): the recording keeps every frame,
            # the live text skips audio rather than growing without bound.
            self.dropped_bytes += len(pcm)
            return
        self._buffer.extend(pcm)
        if self._job is None and len(self._buffer) >= self._chunk:
            self._start()

    def _start(self, final: bool = False) -> None:
        chunk, self._buffer = bytes(self._buffer), bytearray()
        self._job = asyncio.get_running_loop().create_task(self._decode(chunk, final), name="stt-live")

    async def _decode(self, chunk: bytes, final: bool) -> None:
        segments, partial, spent = await self._run(lambda: self._accept(chunk, final))
        self.decode_seconds += spent
        self._fed += len(chunk)
        self._segments.extend(segments)
        self._partial = partial
        self.updates += 1
        self._job = None
        if self._on_update is not None:
            try:
                self._on_update(self.text(final=final))
            except Exception:  # noqa: BLE001 - a broken subscriber must not stop recognition
                logger.exception("live transcript update failed")
        if not final and len(self._buffer) >= self._chunk:
            self._start()

    def _accept(self, chunk: bytes, final: bool) -> tuple[list[dict[str, Any]], str, float]:
        """In a worker thread: resample, decode, read the results.

        A chunk bigger than ``chunk_seconds`` (recognition fell behind, so audio piled up) is
        decoded in pieces of that size: Vosk looks for the end of a phrase only at the end of
        what it is given, and a pause followed by more speech in one piece would not end one."""
        started = time.thread_time()
        if self._recognizer is None:
            self._recognizer = vosk.KaldiRecognizer(self._loaded.model, self._loaded.sample_rate)
            self._recognizer.SetWords(True)
        data = chunk
        if self._loaded.sample_rate != TELEPHONE_RATE and chunk:
            data, self._resample_state = audioop.ratecv(
                chunk, 2, 1, TELEPHONE_RATE, self._loaded.sample_rate, self._resample_state
            )
        piece = max(2, int(self._chunk * self._loaded.sample_rate / TELEPHONE_RATE) // 2 * 2)
        segments: list[dict[str, Any]] = []
        ended = False  # the last piece ended a phrase
        for offset in range(0, len(data), piece):
            ended = self._recognizer.AcceptWaveform(data[offset : offset + piece])
            if ended:
                segments.append(json.loads(self._recognizer.Result()))
        partial = ""
        if final:
            segments.append(json.loads(self._recognizer.FinalResult()))
        elif ended:
            self._since_partial = 0
        elif segments:  # a phrase ended inside the chunk: the old partial is in it now
            self._since_partial = 0
            partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
        else:
            self._since_partial += len(chunk)
            if self._since_partial >= self._partial_every:
                self._since_partial = 0
                partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
            else:
                partial = self._partial  # unchanged since the last look
        return segments, partial, time.thread_time() - started

    def text(self, final: bool = False) -> LiveText:
        said = " ".join(s["text"] for s in self._segments if s.get("text"))
        return LiveText(
            text=said, partial="" if final else self._partial, audio_seconds=self.audio_seconds, final=final
        )

    async def finish(self) -> Transcript:
        """Decode what is left and return the whole transcript (word timings included)."""
        while self._job is not None:
            await asyncio.shield(self._job)
        self._start(final=True)
        assert self._job is not None
        await self._job
        return _transcript(self._segments, self.audio_seconds, self._loaded.name)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
