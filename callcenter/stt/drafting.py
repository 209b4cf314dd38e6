"""A draft ticket from a transcript: category (and so the executor), address, title.

The draft is a suggestion shown to an operator, who confirms or corrects it; it is never
dispatched unchecked. It therefore says why it suggests what it does: the keywords that
matched, the runner-up categories, a confidence.

Classification: the words of the transcript are reduced to lemmas with pymorphy3 and
matched against each category's keyword lemmas (``categories.toml``). A keyword shared by
n categories weighs 1/n; a word the recogniser was unsure of weighs less. Words that
belong to the address ("подъезд" in "третий подъезд", the street's name) do not count.
The fallback category ("other") wins only when nothing else scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from callcenter.reference import Category, ReferenceData, Street
from callcenter.reference.geocode import KIND_LEMMAS, KIND_WORDS, TITLE_WORDS, Gazetteer
from callcenter.reference.loader import FALLBACK_CATEGORY
from callcenter.stt.spoken_numbers import AddressParts, parse_address_parts
from callcenter.stt.tokens import Morphology, Token, fold
from callcenter.stt.transcript import Transcript

# Short forms of street kinds for the address line ("ул. Ленина, д. 5").
KIND_ABBREVIATIONS = {
    "улица": "ул.",
    "проспект": "просп.",
    "переулок": "пер.",
    "шоссе": "ш.",
    "площадь": "пл.",
    "бульвар": "бул.",
    "набережная": "наб.",
    "проезд": "пр-д",
    "тупик": "туп.",
}
TITLE_LIMIT = 100
_SNIPPET_WORDS = 10


@dataclass(frozen=True)
class Draft:
    """Suggested ticket fields for an operator to confirm (``needs_confirmation`` is always
    True: a draft is never dispatched as it is).

    ``address`` is the address line ("ул. Ленина, д. 5, кв. 12"; "" if none was heard);
    ``street`` the street's full name; ``matched_keywords`` the lemmas behind the category;
    ``alternatives`` the next best (category code, score) pairs.
    """

    category_code: str
    category_name: str
    department_code: str
    score: float
    confidence: float
    address: str
    street: str | None
    house: str | None
    building: str | None
    flat: str | None
    entrance: str | None
    floor: str | None
    district: str | None
    lat: float | None
    lon: float | None
    title: str
    matched_keywords: tuple[str, ...]
    alternatives: tuple[tuple[str, float], ...]
    needs_confirmation: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = asdict(self)
        data["matched_keywords"] = list(self.matched_keywords)
        data["alternatives"] = [list(pair) for pair in self.alternatives]
        return data


@dataclass(frozen=True)
class _Scored:
    category: Category
    score: float
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class _StreetMention:
    street: Street
    start: int
    end: int


class Drafter:
    """Makes :class:`Draft` objects; build once (it indexes keywords and streets), then share.

    Read-only after construction, so safe to call from several threads. ``min_score``
    is what a category needs to beat the fallback (one keyword of its own is 1.0).
    """

    def __init__(
        self,
        reference: ReferenceData,
        *,
        morphology: Morphology | None = None,
        gazetteer: Gazetteer | None = None,
        min_score: float = 0.6,
    ) -> None:
        self.reference = reference
        self.morphology = morphology or Morphology()
        self.gazetteer = gazetteer or Gazetteer(reference.streets, morph=self.morphology.morph)
        self.min_score = min_score
        self.fallback = reference.category(FALLBACK_CATEGORY)
        self._keyword_display: dict[str, str] = {}
        self._keyword_weights = self._index_keywords(reference.categories)

    def _index_keywords(self, categories: Sequence[Category]) -> dict[str, dict[str, float]]:
        """keyword lemma -> {category code: weight}; shared keywords weigh less."""
        owners: dict[str, list[str]] = {}
        for category in categories:
            for keyword in category.keywords:
                owners.setdefault(fold(keyword), []).append(category.code)
                # Shown to the operator as the reference spells it ("мёрзнуть").
                self._keyword_display.setdefault(fold(keyword), keyword)
        return {k: {code: 1.0 / len(codes) for code in codes} for k, codes in owners.items()}

    def draft(self, transcript: Transcript) -> Draft:
        """Draft from a recogniser's transcript (word confidences are used)."""
        confidences = [w.conf for w in transcript.words] if transcript.words else None
        return self.draft_text(transcript.text, confidences)

    def draft_text(self, text: str, confidences: Sequence[float] | None = None) -> Draft:
        """Draft from any Russian text: a transcript or what an operator typed."""
        tokens = self.morphology.tokens(text, confidences)
        mention = self._street_mention(text, tokens)
        street_indices = frozenset(range(mention.start, mention.end)) if mention else frozenset()
        parts = parse_address_parts(tokens, street_end=mention.end if mention else None, skip=street_indices)
        ranked = self._rank(tokens, street_indices | parts.used)
        return self._build(text, ranked, mention.street if mention else None, parts)

    # ------------------------------------------------------------ category

    def _rank(self, tokens: Sequence[Token], excluded: frozenset[int] | set[int]) -> list[_Scored]:
        best_conf: dict[str, float] = {}
        for index, token in enumerate(tokens):
            if index in excluded or token.function_word:
                continue
            for form in {token.lemma, token.text}:
                if form in self._keyword_weights:
                    best_conf[form] = max(best_conf.get(form, 0.0), token.conf)
        totals: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        for keyword, conf in best_conf.items():
            # An unsure word still counts, but half at worst.
            for code, weight in self._keyword_weights[keyword].items():
                totals[code] = totals.get(code, 0.0) + weight * (0.5 + 0.5 * conf)
                matched.setdefault(code, []).append(self._keyword_display[keyword])
        ranked = [
            _Scored(self.reference.category(code), score, tuple(sorted(matched[code])))
            for code, score in totals.items()
        ]
        ranked.sort(key=lambda s: (-s.score, s.category.priority, s.category.code))
        return ranked

    def _choose(self, ranked: list[_Scored]) -> tuple[_Scored, list[_Scored]]:
        """The best category; the fallback only when no other scores enough or its own
        words ("подскажите", "справка") clearly outweigh the best one's."""
        contenders = [s for s in ranked if s.category.code != self.fallback.code]
        fallback = next((s for s in ranked if s.category.code == self.fallback.code), None)
        fallback_score = fallback.score if fallback else 0.0
        if contenders and contenders[0].score >= max(self.min_score, fallback_score):
            return contenders[0], contenders[1:]
        return fallback or _Scored(self.fallback, 0.0, ()), contenders

    @staticmethod
    def _confidence(best: float, runner_up: float) -> float:
        """0..1: grows with the evidence (1 - e^-score) and with the lead over the runner-up."""
        if best <= 0:
            return 0.0
        return round((1.0 - math.exp(-best)) * best / (best + runner_up), 3)

    # ------------------------------------------------------------ street

    def _street_mention(self, text: str, tokens: Sequence[Token]) -> _StreetMention | None:
        # Typed text abbreviates the kind ("ул. Репина"); the gazetteer's mention search
        # expects it spoken ("улица Репина").
        spoken = " ".join(KIND_WORDS.get(word, word) for word in Morphology.split(text))
        for street in self.gazetteer.find_street_mentions(spoken):
            span = self._locate(street, tokens)
            if span is not None:
                return _StreetMention(street, *span)
        return None

    def _locate(self, street: Street, tokens: Sequence[Token]) -> tuple[int, int] | None:
        """Where in ``tokens`` the street is named: the earliest, then longest, match of
        any of its names, with a kind word just before ("на улице Ленина") included."""
        best: tuple[int, int] | None = None
        for words in self._street_word_variants(street):
            lemma_sets = [set(self.morphology.tokens(w)[0].lemmas) | {w} for w in words]
            for start in range(len(tokens) - len(words) + 1):
                if all(lemma_sets[k] & {tokens[start + k].text, *tokens[start + k].lemmas} for k in range(len(words))):
                    span = (start, start + len(words))
                    if best is None or (span[0], -span[1]) < (best[0], -best[1]):
                        best = span
                    break
        if best is not None and best[0] > 0 and _is_kind_word(tokens[best[0] - 1]):
            best = (best[0] - 1, best[1])
        return best

    @staticmethod
    def _street_word_variants(street: Street) -> list[list[str]]:
        variants = []
        for name in (street.base, street.name, *street.aliases):
            words = [w for w in Morphology.split(name) if w not in KIND_LEMMAS]
            if words:
                variants.append(words)
                if len(words) > 1 and words[0] in TITLE_WORDS:
                    variants.append(words[1:])  # "на Острякова" for "Генерала Острякова"
        return variants

    # ------------------------------------------------------------ result

    def _build(self, text: str, ranked: list[_Scored], street: Street | None, parts: AddressParts) -> Draft:
        chosen, others = self._choose(ranked)
        runner_up = others[0].score if others else 0.0
        address = format_address(street, parts)
        category = chosen.category
        return Draft(
            category_code=category.code,
            category_name=category.name,
            department_code=category.department,
            score=round(chosen.score, 3),
            confidence=self._confidence(chosen.score, runner_up) if category.code != self.fallback.code else 0.0,
            address=address,
            street=street.name if street else None,
            house=parts.house,
            building=parts.building,
            flat=parts.flat,
            entrance=parts.entrance,
            floor=parts.floor,
            district=street.district if street else None,
            lat=street.lat if street else None,
            lon=street.lon if street else None,
            title=make_title(category, address, text, is_fallback=category.code == self.fallback.code),
            matched_keywords=chosen.keywords,
            alternatives=tuple((s.category.code, round(s.score, 3)) for s in others[:3]),
        )


def _is_kind_word(token: Token) -> bool:
    return token.lemma in KIND_LEMMAS or token.text in KIND_WORDS


def street_short_name(street: Street) -> str:
    """ "ул. Ленина", "просп. Генерала Острякова" (the kind abbreviated where it is usual)."""
    abbreviation = KIND_ABBREVIATIONS.get(street.kind)
    if abbreviation is None or street.kind not in street.name:
        return street.name
    return " ".join(part for part in street.name.replace(street.kind, abbreviation, 1).split())


def format_address(street: Street | None, parts: AddressParts) -> str:
    """ "ул. Ленина, д. 5, кв. 12"; only the parts heard ("д. 5, кв. 12" without a street)."""
    pieces = [street_short_name(street)] if street else []
    numbers = parts.format()
    if numbers:
        pieces.append(numbers)
    return ", ".join(pieces)


def make_title(category: Category, address: str, text: str, *, is_fallback: bool) -> str:
    """A short ticket title: "Нет отопления — ул. Ленина, д. 5"; for the fallback the
    first words of what was said."""
    if is_fallback:
        words = text.split()
        snippet = " ".join(words[:_SNIPPET_WORDS]) + ("…" if len(words) > _SNIPPET_WORDS else "")
        head = f"Обращение: {snippet[:1].upper()}{snippet[1:]}" if snippet else "Голосовое обращение"
    else:
        head = category.name
    title = f"{head} — {address}" if address else head
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"
