"""Live recognition: a call's audio fed to Vosk as it arrives (AudioSocket), off the event loop.

One ``KaldiRecognizer`` per call (a recogniser is not thread-safe: at most one job of a call
runs at a time), the model shared. Audio is buffered on the loop (a bytes append) and handed
to the speech service's bounded pool in chunks of ``chunk_seconds``; each chunk waits for a
pool slot like any other job, so live calls and file transcriptions share ``stt_workers``.
While a chunk is decoding, newer audio collects in the buffer (one job in flight per call,
so a slow machine makes bigger chunks, never a queue of jobs). Partial and final text go to
``on_update`` on the loop.

Silence costs nothing (:class:`SilenceGate`): past ``tail_seconds`` of frames under
``threshold`` (peak to peak) the frames are not decoded at all (the tail is long enough for Vosk
to end the phrase; the last ``preroll_seconds`` of the skipped audio go in before the next
speech so its first sound is not clipped). The audio is cut at the gap, and word timings and ``audio_seconds`` still
count the skipped time, so the transcript lines up with the recording.
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
BYTES_PER_SECOND = TELEPHONE_RATE * 2
# Defaults of the silence gate. The tail covers Vosk's endpoint rules (a phrase ends after
# 0.5-1.0 s of trailing silence in the small models' model.conf); the threshold is under
# quiet speech and over telephone line noise (the recorder's "speech heard" mark is 1200).
SILENCE_THRESHOLD = 600
SILENCE_TAIL_SECONDS = 1.0
PREROLL_SECONDS = 0.3


@dataclass(frozen=True)
class SilenceGate:
    """When the live recogniser stops feeding silence: ``tail_seconds`` of frames under
    ``threshold`` (peak-to-peak, 16-bit) are decoded, the rest skipped; 0 s turns it off."""

    threshold: int = SILENCE_THRESHOLD
    tail_seconds: float = SILENCE_TAIL_SECONDS
    preroll_seconds: float = PREROLL_SECONDS

    @property
    def enabled(self) -> bool:
        return self.tail_seconds > 0


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
        gate: SilenceGate = SilenceGate(),
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
        self._gate = gate
        self._tail = int(gate.tail_seconds * TELEPHONE_RATE) * 2
        self._preroll = int(gate.preroll_seconds * TELEPHONE_RATE) * 2
        self._quiet = 0  # bytes of silence in a row
        self._skipping = bytearray()  # the last preroll bytes of the silence being skipped
        self._gap = 0  # bytes of the silence being skipped
        self._cuts: list[tuple[int, int]] = []  # in the buffer: (offset, bytes skipped there)
        # The decoder's clock against the call's: (decoded seconds, seconds skipped before).
        self._gaps: list[tuple[float, float]] = []
        self._queued = 0  # bytes handed to decoding jobs
        self._resample_state: Any = None
        self._segments: list[dict[str, Any]] = []
        self._partial = ""
        self._fed = 0  # bytes of the call covered by decoded jobs (skipped silence included)
        self._job: asyncio.Task[None] | None = None
        self.dropped_bytes = 0
        self.skipped_bytes = 0  # silence the gate kept from the recogniser
        self.updates = 0
        self.decode_seconds = 0.0  # CPU time spent in the recogniser (thread time)

    @property
    def audio_seconds(self) -> float:
        return self._fed / BYTES_PER_SECOND

    def feed(self, pcm: bytes) -> None:
        """Queue 8 kHz slin16 audio; starts a decoding job when a chunk is ready."""
        if len(self._buffer) + len(pcm) > self._max_buffer:
            # Recognition far behind (an overloaded machine): the recording keeps every frame,
            # the live text skips audio rather than growing without bound.
            self.dropped_bytes += len(pcm)
            return
        if self._gate.enabled and self._past_tail(pcm):
            self._skip(pcm)
        else:
            self._resume()
            self._buffer.extend(pcm)
        # At a gap the audio before it goes at once: Vosk ends the phrase on its silent tail.
        if self._job is None and (len(self._buffer) >= self._chunk or (self._gap and self._buffer)):
            self._start()

    def _past_tail(self, pcm: bytes) -> bool:
        """Counts silence in a row; True once it is longer than the tail."""
        usable = pcm[: len(pcm) - len(pcm) % 2]
        if usable:
            low, high = audioop.minmax(usable, 2)
            if high - low >= self._gate.threshold:
                self._quiet = 0
                return False
        self._quiet += len(pcm)
        return self._quiet > self._tail

    def _skip(self, pcm: bytes) -> None:
        self._gap += len(pcm)
        self._skipping.extend(pcm)
        if len(self._skipping) > self._preroll:
            del self._skipping[: len(self._skipping) - self._preroll]

    def _resume(self) -> None:
        """After a gap: the preroll goes in before the new audio, the rest is a cut."""
        if not self._gap:
            return
        skipped = self._gap - len(self._skipping)
        self._cuts.append((len(self._buffer), skipped))
        self.skipped_bytes += skipped
        self._buffer.extend(self._skipping)
        self._skipping.clear()
        self._gap = 0

    def _start(self, final: bool = False) -> None:
        chunk, self._buffer = bytes(self._buffer), bytearray()
        cuts, self._cuts = self._cuts, []
        skipped = self._gaps[-1][1] if self._gaps else 0.0
        for offset, size in cuts:
            skipped += size / BYTES_PER_SECOND
            self._gaps.append(((self._queued + offset) / BYTES_PER_SECOND, skipped))
        self._queued += len(chunk)
        covered = len(chunk) + sum(size for _, size in cuts)
        if final:
            covered += self._gap  # silence skipped at the end of the call
            self.skipped_bytes += self._gap
            self._gap = 0
        pieces = _split(chunk, [offset for offset, _ in cuts])
        self._job = asyncio.get_running_loop().create_task(self._decode(pieces, covered, final), name="stt-live")

    async def _decode(self, pieces: list[bytes], covered: int, final: bool) -> None:
        segments, partial, spent = await self._run(lambda: self._accept(pieces, final))
        self.decode_seconds += spent
        self._fed += covered
        self._segments.extend(segments)
        self._partial = partial
        self.updates += 1
        self._job = None
        if self._on_update is not None:
            try:
                self._on_update(self.text(final=final))
            except Exception:  # noqa: BLE001 - a broken subscriber must not stop recognition
                logger.exception("live transcript update failed")
        if not final and (len(self._buffer) >= self._chunk or (self._gap and self._buffer)):
            self._start()

    def _accept(self, pieces: list[bytes], final: bool) -> tuple[list[dict[str, Any]], str, float]:
        """In a worker thread: resample, decode, read the results.

        Each piece (the audio between two skipped silences) is decoded on its own, so a phrase
        ends at a gap; and a piece bigger than ``chunk_seconds`` (recognition fell behind, so
        audio piled up) is fed in steps of that size: Vosk looks for the end of a phrase only
        at the end of what it is given, and a pause followed by more speech in one feed would
        not end one."""
        started = time.thread_time()
        if self._recognizer is None:
            self._recognizer = vosk.KaldiRecognizer(self._loaded.model, self._loaded.sample_rate)
            self._recognizer.SetWords(True)
        recognizer = self._recognizer
        step = max(2, int(self._chunk * self._loaded.sample_rate / TELEPHONE_RATE) // 2 * 2)
        segments: list[dict[str, Any]] = []
        ended = False  # the last feed ended a phrase
        for piece in pieces:
            data = piece
            if self._loaded.sample_rate != TELEPHONE_RATE and piece:
                data, self._resample_state = audioop.ratecv(
                    piece, 2, 1, TELEPHONE_RATE, self._loaded.sample_rate, self._resample_state
                )
            for offset in range(0, len(data), step):
                ended = recognizer.AcceptWaveform(data[offset : offset + step])
                if ended:
                    segments.append(json.loads(recognizer.Result()))
                    self._since_partial = 0
            if not ended:
                self._since_partial += len(piece)
        partial = ""
        if final:
            segments.append(json.loads(recognizer.FinalResult()))
        elif not ended:
            if segments:  # a phrase ended inside: the old partial is in it now, look again
                self._since_partial = self._partial_every
            if self._since_partial >= self._partial_every:
                self._since_partial = 0
                partial = json.loads(recognizer.PartialResult()).get("partial", "")
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
        return _transcript(_on_call_clock(self._segments, self._gaps), self.audio_seconds, self._loaded.name)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()


def _split(chunk: bytes, offsets: list[int]) -> list[bytes]:
    """``chunk`` cut at ``offsets`` (empty pieces left out, at least one piece)."""
    bounds = [0, *(o for o in offsets if 0 < o < len(chunk)), len(chunk)]
    pieces = [chunk[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    return pieces or [b""]


def _on_call_clock(segments: list[dict[str, Any]], gaps: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """Word timings moved from the decoder's clock (skipped silence left out) to the call's."""
    if not gaps:
        return segments

    def shift(at: float) -> float:
        moved = 0.0
        for position, skipped in gaps:
            if position > at + 1e-3:
                break
            moved = skipped
        return moved

    return [
        {
            **segment,
            "result": [
                {**item, "start": item["start"] + shift(item["start"]), "end": item["end"] + shift(item["start"])}
                for item in segment.get("result", ())
            ],
        }
        for segment in segments
    ]
