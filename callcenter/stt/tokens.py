"""Words of a transcript with their lemmas, from pymorphy3.

Vosk writes lower-case words without punctuation; an operator's typed text has capitals,
digits and punctuation. Both become the same :class:`Token` list, so drafting and number
parsing work on either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pymorphy3

# A house number with its letter or fraction ("12а", "12-а", "5/3") is one token.
_TOKEN = re.compile(r"\d+(?:-?[а-яa-z](?![а-яa-z]))?(?:/\d+)?|[а-яa-z]+(?:-[а-яa-z]+)*")
# Grammatical words never count as complaint keywords.
_FUNCTION_POS = frozenset({"PREP", "CONJ", "PRCL", "INTJ", "NPRO"})


def fold(text: str) -> str:
    """Lower case with ё as е: Vosk, operators and the reference files disagree on ё."""
    return text.lower().replace("ё", "е")


@dataclass(frozen=True)
class Token:
    """One word: ``text`` as written (folded), ``lemma`` its dictionary form (folded),
    ``lemmas`` every dictionary form pymorphy3 considers, ``conf`` the recogniser's
    confidence (1.0 for typed text)."""

    text: str
    lemma: str
    lemmas: tuple[str, ...]
    function_word: bool
    conf: float = 1.0

    @property
    def is_digits(self) -> bool:
        """True for ``12``, ``12а``, ``5/3``."""
        return self.text[:1].isdigit()


class Morphology:
    """Lemmatiser over pymorphy3 with a per-instance cache (transcripts repeat words).

    Thread-safe for reading: pymorphy3's dictionaries are immutable once loaded.
    """

    def __init__(self, morph: pymorphy3.MorphAnalyzer | None = None, cache_size: int = 20000):
        self.morph = morph if morph is not None else pymorphy3.MorphAnalyzer()
        self._analyse = lru_cache(maxsize=cache_size)(self._analyse_uncached)

    def _analyse_uncached(self, word: str) -> tuple[str, tuple[str, ...], bool]:
        if word[:1].isdigit():
            return word, (word,), False
        parses = self.morph.parse(word)
        lemmas = tuple(dict.fromkeys(fold(p.normal_form) for p in parses))
        function_word = bool(parses) and parses[0].tag.POS in _FUNCTION_POS
        return (lemmas[0] if lemmas else word), lemmas or (word,), function_word

    @staticmethod
    def split(text: str) -> list[str]:
        """The folded words of ``text``, punctuation dropped (no analysis)."""
        return _TOKEN.findall(fold(text))

    def lemma(self, word: str) -> str:
        """The most likely dictionary form of one word, folded."""
        return self._analyse(fold(word))[0]

    def tokens(self, text: str, confidences: Sequence[float] | None = None) -> list[Token]:
        """Split ``text`` into tokens. ``confidences``, if given, are per word of
        ``text.split()`` (Vosk's output, where each word is one token)."""
        words = _TOKEN.findall(fold(text))
        if confidences is not None and len(confidences) != len(words):
            confidences = None  # typed or edited text: no per-word confidence
        result = []
        for index, word in enumerate(words):
            lemma, lemmas, function_word = self._analyse(word)
            conf = confidences[index] if confidences is not None else 1.0
            result.append(Token(word, lemma, lemmas, function_word, conf))
        return result
