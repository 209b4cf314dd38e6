"""What speech recognition returns for one recording: text, words with timings, confidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One recognised word; ``start``/``end`` in seconds from the start of the recording,
    ``conf`` the recogniser's confidence from 0 to 1."""

    word: str
    start: float
    end: float
    conf: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"word": self.word, "start": self.start, "end": self.end, "conf": self.conf}


@dataclass(frozen=True)
class Transcript:
    """A recording's transcript. ``duration`` is the audio's length in seconds; ``model``
    names the Vosk model that made it. Serialise with :meth:`to_json`."""

    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)
    duration: float = 0.0
    model: str = ""

    @property
    def confidence(self) -> float:
        """Mean word confidence (0 when nothing was recognised)."""
        if not self.words:
            return 0.0
        return sum(w.conf for w in self.words) / len(self.words)

    @property
    def is_empty(self) -> bool:
        """True when no speech was recognised (silence, an empty recording)."""
        return not self.text.strip()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``confidence`` included for readers of the JSON)."""
        return {
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
            "duration": self.duration,
            "model": self.model,
            "confidence": round(self.confidence, 4),
        }

    def to_json(self) -> str:
        """JSON text, Cyrillic kept readable."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        """The inverse of :meth:`to_dict` (``confidence`` is derived, so ignored)."""
        words = tuple(
            Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w["conf"])) for w in data.get("words", ())
        )
        return cls(
            text=str(data["text"]),
            words=words,
            duration=float(data.get("duration", 0.0)),
            model=str(data.get("model", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> Transcript:
        """The inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))
