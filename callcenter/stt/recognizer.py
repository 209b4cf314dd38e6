"""Vosk recognition of one recording, blocking: call it from a worker thread.

One :class:`LoadedModel` is shared by all threads (a Vosk model is read-only once
loaded); each recording gets its own ``KaldiRecognizer`` (a recogniser is not
thread-safe). Audio reaches the recogniser in small chunks straight from ffmpeg, so a
long call uses the same memory as a short one. A :class:`JobControl` lets the caller
stop a job (cancellation, shutdown) and bounds its running time.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vosk

from callcenter.stt.audio import BYTES_PER_SAMPLE, PcmStream
from callcenter.stt.errors import SttCancelled, SttTimeout, SttUnavailable
from callcenter.stt.transcript import Transcript, Word

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000  # Kaldi's default when mfcc.conf names no rate
UNKNOWN_WORD = "[unk]"
PHRASE_DOMINANCE = 0.7
_RATE_OPTION = re.compile(r"^\s*--sample-frequency\s*=\s*(\d+)", re.MULTILINE)
_REQUIRED_FILES = ("am/final.mdl", "conf/model.conf")


@dataclass(frozen=True)
class DecoderOptions:
    """Search options that override the model's own ``conf/model.conf`` (None keeps the model's).

    ``max_active`` caps the hypotheses the decoder keeps per frame and ``beam`` how far below
    the best one they may score: the search, not the acoustic network, is most of a small
    model's CPU time on continuous speech (docs/benchmarks.md), so these trade search errors
    for speed. Vosk reads them only from the model folder, so :func:`load_model` gives it a
    copy of that folder whose ``model.conf`` says them (links to the large files, while loading).
    """

    max_active: int | None = None
    beam: float | None = None

    def __post_init__(self) -> None:
        if self.max_active is not None and self.max_active < 200:
            raise ValueError(f"max_active must be at least 200 (the models' min-active), got {self.max_active}")
        if self.beam is not None and not 1.0 <= self.beam <= 30.0:
            raise ValueError(f"beam must be between 1 and 30, got {self.beam}")

    @property
    def overrides(self) -> dict[str, str]:
        """model.conf options to set, by name."""
        options = {"max-active": self.max_active, "beam": self.beam}
        return {name: f"{value:g}" for name, value in options.items() if value is not None}


@dataclass(frozen=True)
class LoadedModel:
    """A Vosk model in memory with what the pipeline needs to know about it."""

    model: vosk.Model = field(repr=False)
    path: Path
    name: str
    sample_rate: int
    decoder: DecoderOptions = DecoderOptions()

    def knows_word(self, word: str) -> bool:
        """Whether the model's vocabulary has this word (grammar phrases must use known words)."""
        return self.model.vosk_model_find_word(word) >= 0


def model_display_name(path: Path) -> str:
    """``vosk-model-small-ru-0.22``; a folder just called ``model`` gets its parent's name too."""
    if path.name.lower() == "model" and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def model_sample_rate(path: Path) -> int:
    """The sample rate the model was trained on, from ``conf/mfcc.conf``."""
    mfcc = path / "conf" / "mfcc.conf"
    try:
        match = _RATE_OPTION.search(mfcc.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return DEFAULT_SAMPLE_RATE
    return int(match.group(1)) if match else DEFAULT_SAMPLE_RATE


def load_model(path: Path | None, decoder: DecoderOptions | None = None) -> LoadedModel:
    """Load a Vosk model folder (blocking, seconds to minutes for large models).

    ``decoder`` overrides the search options of the model's ``conf/model.conf``.
    Raises :class:`SttUnavailable` with a one-line reason when no folder is configured,
    the folder is missing, or it does not hold a usable model.
    """
    decoder = decoder or DecoderOptions()
    if path is None:
        raise SttUnavailable("no speech model configured (set CALLCENTER_STT_MODEL)")
    path = Path(path).expanduser()
    if not path.is_dir():
        raise SttUnavailable(f"speech model folder not found: {path}")
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise SttUnavailable(f"not a Vosk model folder: {path} (missing {', '.join(missing)})")
    # Kaldi writes its own log to stderr; our one log line says what matters.
    vosk.SetLogLevel(-1)
    started = time.monotonic()
    try:
        if decoder.overrides:
            with tempfile.TemporaryDirectory(prefix="vosk-model-") as tmp:
                model = vosk.Model(str(_with_options(path, Path(tmp), decoder.overrides)))
        else:
            model = vosk.Model(str(path))
    except Exception as err:  # vosk raises a bare Exception on any load failure
        raise SttUnavailable(f"cannot load the Vosk model in {path}: damaged files ({err})") from err
    loaded = LoadedModel(model, path, model_display_name(path), model_sample_rate(path), decoder)
    logger.info(
        "speech model %s loaded in %.1f s (%d Hz%s)",
        loaded.name,
        time.monotonic() - started,
        loaded.sample_rate,
        "".join(f", {name} {value}" for name, value in decoder.overrides.items()),
    )
    return loaded


def _with_options(path: Path, folder: Path, overrides: dict[str, str]) -> Path:
    """A view of the model folder in ``folder``: links to every entry but ``conf/``, whose
    ``model.conf`` has ``overrides`` in place of (or after) the model's own lines. Vosk reads
    all of it while loading, so the view may go once the model is in memory."""
    for entry in path.iterdir():
        if entry.name != "conf":
            (folder / entry.name).symlink_to(entry.resolve())
    shutil.copytree(path / "conf", folder / "conf", symlinks=False)
    conf = folder / "conf" / "model.conf"
    kept = [
        line
        for line in conf.read_text(encoding="utf-8").splitlines()
        if line.strip().lstrip("-").split("=", 1)[0].strip() not in overrides
    ]
    conf.write_text("\n".join([*kept, *(f"--{name}={value}" for name, value in overrides.items())]) + "\n")
    return folder


class JobControl:
    """Stops one decoding job: from another thread (:meth:`cancel`) or when its time
    limit, counted from :meth:`begin`, runs out. The worker calls :meth:`check` between
    chunks; :meth:`cancel` also kills ffmpeg so a worker blocked on a read wakes up."""

    def __init__(self, time_limit: float | None = None) -> None:
        self.time_limit = time_limit
        self._cancelled = threading.Event()
        self._deadline: float | None = None
        self._stream: PcmStream | None = None
        self._lock = threading.Lock()

    def begin(self, stream: PcmStream) -> None:
        """Start the clock; ``stream`` is stopped if the job is cancelled."""
        with self._lock:
            self._stream = stream
            if self.time_limit is not None:
                self._deadline = time.monotonic() + self.time_limit
        if self._cancelled.is_set():
            stream.stop()

    def cancel(self) -> None:
        """Ask the job to stop as soon as possible (thread-safe, idempotent)."""
        self._cancelled.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.stop()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def check(self, path: Path) -> None:
        """Raise :class:`SttCancelled` or :class:`SttTimeout` if the job must stop."""
        if self._cancelled.is_set():
            raise SttCancelled(f"speech recognition of {path} was cancelled")
        if self._deadline is not None and time.monotonic() > self._deadline:
            assert self.time_limit is not None
            raise SttTimeout(path, self.time_limit)


def transcribe_file(
    loaded: LoadedModel,
    path: Path,
    *,
    grammar: Sequence[str] | None = None,
    control: JobControl | None = None,
    chunk_seconds: float = 0.25,
    ffmpeg: str = "ffmpeg",
) -> Transcript:
    """Recognition of one recording: text, word timings and confidences.

    Free-form by default; with ``grammar`` (a list of phrases, ``"[unk]"`` allowed) the
    recogniser may only output those. Raises :class:`AudioDecodeError` (never a
    transcript of a corrupt file), :class:`SttTimeout` or :class:`SttCancelled`.
    """
    if grammar is None:
        recognizer = vosk.KaldiRecognizer(loaded.model, loaded.sample_rate)
    else:
        recognizer = vosk.KaldiRecognizer(
            loaded.model, loaded.sample_rate, json.dumps(list(grammar), ensure_ascii=False)
        )
    recognizer.SetWords(True)
    return _decode(loaded, Path(path), recognizer, control or JobControl(), chunk_seconds, ffmpeg)


def recognize_phrases(
    loaded: LoadedModel,
    path: Path,
    phrases: Sequence[str],
    *,
    control: JobControl | None = None,
    ffmpeg: str = "ffmpeg",
) -> str | None:
    """Which one of ``phrases`` the recording says (Vosk grammar mode), or ``None``.

    For short spoken answers (``["да", "нет"]``): the recogniser may only choose among the
    phrases and ``[unk]``, which makes it far more reliable than free-form text. Returns
    the phrase exactly as given; ``None`` for silence, unknown speech, or an answer split
    between different phrases (see :func:`match_phrase`).
    """
    normalised = _normalised_phrases(loaded, phrases)
    grammar = list(normalised)
    if loaded.knows_word(UNKNOWN_WORD):
        grammar.append(UNKNOWN_WORD)
    transcript = transcribe_file(loaded, path, grammar=grammar, control=control, ffmpeg=ffmpeg)
    return match_phrase(transcript.words, normalised)


def _normalised_phrases(loaded: LoadedModel, phrases: Sequence[str]) -> dict[str, str]:
    """Lower-cased phrase -> phrase as the caller gave it; warns about unknown words."""
    normalised = {" ".join(p.lower().split()): p for p in phrases if p.strip()}
    if not normalised:
        raise ValueError("recognize_phrases needs at least one non-empty phrase")
    unknown = sorted({w for p in normalised for w in p.split() if not loaded.knows_word(w)})
    if unknown:
        logger.warning(
            "model %s does not know the word(s) %s: those phrases cannot be recognised",
            loaded.name,
            ", ".join(unknown),
        )
    return normalised


def match_phrase(words: Sequence[Word], phrases: dict[str, str], dominance: float = PHRASE_DOMINANCE) -> str | None:
    """Map grammar-mode words to one phrase (as the caller spelled it).

    ``"да да"`` is ``"да"``. When different phrases come out, the one spoken for at least
    ``dominance`` of the time wins (a click before the answer can come out as a short
    extra word); otherwise, and for silence or only ``[unk]``, the answer is ``None``.
    """
    tokens = [w for w in words if w.word != UNKNOWN_WORD]
    by_length = sorted(phrases, key=lambda p: -len(p.split()))
    seconds: dict[str, float] = {}
    position = 0
    while position < len(tokens):
        for phrase in by_length:
            size = len(phrase.split())
            if [w.word for w in tokens[position : position + size]] == phrase.split():
                span = tokens[position + size - 1].end - tokens[position].start
                seconds[phrase] = seconds.get(phrase, 0.0) + max(span, 0.01)
                position += size
                break
        else:
            return None
    if not seconds:
        return None
    best = max(seconds, key=seconds.__getitem__)
    return phrases[best] if seconds[best] >= dominance * sum(seconds.values()) else None


def _decode(
    loaded: LoadedModel,
    path: Path,
    recognizer: vosk.KaldiRecognizer,
    control: JobControl,
    chunk_seconds: float,
    ffmpeg: str,
) -> Transcript:
    chunk_bytes = int(loaded.sample_rate * chunk_seconds) * BYTES_PER_SAMPLE
    segments: list[dict[str, Any]] = []
    with PcmStream(path, loaded.sample_rate, chunk_bytes=chunk_bytes, ffmpeg=ffmpeg) as stream:
        control.begin(stream)
        for chunk in stream.chunks():
            control.check(path)
            # Vosk says 1 at an endpoint (a pause): take the utterance so far and let the
            # recogniser start afresh, which keeps its state small on long calls.
            if recognizer.AcceptWaveform(chunk):
                segments.append(json.loads(recognizer.Result()))
        control.check(path)  # a killed ffmpeg also ends the loop: not a decode error
        stream.finish()
        segments.append(json.loads(recognizer.FinalResult()))
        duration = stream.duration
    return _transcript(segments, duration, loaded.name)


def _transcript(segments: Iterable[dict[str, Any]], duration: float, model: str) -> Transcript:
    texts: list[str] = []
    words: list[Word] = []
    for segment in segments:
        if segment.get("text"):
            texts.append(segment["text"])
        for item in segment.get("result", ()):
            words.append(
                Word(
                    word=item["word"],
                    start=round(float(item["start"]), 3),
                    end=round(float(item["end"]), 3),
                    conf=round(float(item.get("conf", 1.0)), 4),
                )
            )
    return Transcript(text=" ".join(texts), words=tuple(words), duration=round(duration, 3), model=model)
