"""Offline geocoder over the street gazetteer of Sevastopol.

No network: everything is answered from ``streets.csv``.  Three jobs:

* ``suggest`` — autocomplete for the citizen portal and the operator's form
  (word-prefix search over street names, bases and aliases);
* ``geocode`` — parse a typed address ("ул. Ленина, д. 5, кв. 12",
  "Острякова 160") into street, house and flat and place it on the map;
* ``find_street_mentions`` — find streets named in a speech-to-text transcript,
  where words come in oblique cases ("на улице Ленина", "по проспекту Победы").
  Word forms are reduced with pymorphy3 rather than hand-made suffix rules.

The coordinates returned are the street's approximate centre point, not the
house: good enough to open a map near the place and to pick a district, not to
navigate to a door.  Building a Gazetteer is CPU work (pymorphy3 analysis of
every name) and, if no analyzer is passed in, loads pymorphy3's dictionaries:
do it once at start-up or in an executor, then share the instance.  All its
methods are read-only and safe to call from several threads.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from callcenter.reference.loader import Street

logger = logging.getLogger(__name__)

# Abbreviations and words that name the kind of a street, as people type them.
KIND_WORDS: dict[str, str] = {
    "ул": "улица",
    "улица": "улица",
    "пр": "проспект",
    "пр-т": "проспект",
    "пр-кт": "проспект",
    "просп": "проспект",
    "проспект": "проспект",
    "пркт": "проспект",
    "прт": "проспект",
    "пер": "переулок",
    "переулок": "переулок",
    "пер-к": "переулок",
    "ш": "шоссе",
    "шос": "шоссе",
    "шоссе": "шоссе",
    "пл": "площадь",
    "площадь": "площадь",
    "б-р": "бульвар",
    "бр": "бульвар",
    "бул": "бульвар",
    "бульв": "бульвар",
    "бульвар": "бульвар",
    "наб": "набережная",
    "набережная": "набережная",
    "сп": "спуск",
    "спуск": "спуск",
    "пр-д": "проезд",
    "прд": "проезд",
    "проезд": "проезд",
    "туп": "тупик",
    "тупик": "тупик",
    "балка": "балка",
    "дор": "дорога",
    "дорога": "дорога",
    "подъем": "подъём",
    "лестница": "лестница",
    "ал": "аллея",
    "аллея": "аллея",
    "съезд": "съезд",
    "кольцо": "кольцо",
    "тракт": "тракт",
}
# Lemmas (ё folded) of the kind words as they occur in speech.
KIND_LEMMAS: dict[str, str] = {
    "улица": "улица",
    "проспект": "проспект",
    "переулок": "переулок",
    "шоссе": "шоссе",
    "площадь": "площадь",
    "бульвар": "бульвар",
    "набережная": "набережная",
    "набережный": "набережная",
    "спуск": "спуск",
    "проезд": "проезд",
    "тупик": "тупик",
    "балка": "балка",
    "дорога": "дорога",
    "подъем": "подъём",
    "лестница": "лестница",
    "аллея": "аллея",
    "съезд": "съезд",
    "кольцо": "кольцо",
    "тракт": "тракт",
}
# Words that, before a street name in speech, make it a place rather than a person.
CONTEXT_LEMMAS = frozenset(
    {
        "на",
        "по",
        "с",
        "со",
        "в",
        "во",
        "у",
        "около",
        "возле",
        "напротив",
        "до",
        "от",
        "к",
        "ко",
        "за",
        "из",
        "между",
        "вдоль",
        "угол",
        "район",
        "пересечение",
        "перекресток",
        "адрес",
        "жить",
        "дом",
    }
)
# Title words that people drop: "на Острякова" means "проспект Генерала Острякова".
TITLE_WORDS = frozenset(
    {
        "генерала",
        "адмирала",
        "маршала",
        "вице-адмирала",
        "контр-адмирала",
        "капитана",
        "лейтенанта",
        "полковника",
        "подполковника",
        "майора",
        "сержанта",
        "матроса",
        "академика",
        "профессора",
        "героя",
        "героев",
        "летчика",
        "братьев",
        "юнги",
        "комиссара",
    }
)
CITY_WORDS = frozenset(
    {
        "г",
        "город",
        "гор",
        "севастополь",
        "севастополя",
        "россия",
        "рф",
        "крым",
        "республика",
        "российская",
        "федерация",
        "снт",
        "тсн",
    }
)
HOUSE_MARKERS = frozenset({"д", "дом", "дома", "домовладение", "вл", "влд", "здание", "зд", "№"})
FLAT_MARKERS = frozenset({"кв", "квартира", "квартиры", "квар", "офис", "оф", "комната", "ком", "пом", "помещение"})
BUILDING_MARKERS = frozenset({"корп", "корпус", "к", "стр", "строение", "лит", "литер", "литера"})
SKIP_MARKERS = frozenset({"подъезд", "под", "этаж", "эт"})

_ORDINAL = re.compile(r"^\d+-?(я|й|ая|ый|ий|ой|го|е)$")
_HOUSE_FLAT = re.compile(r"^(\d+[а-я]?)-(\d+)$")
_TOKEN = re.compile(r"№|[0-9a-zа-я]+(?:[-/][0-9a-zа-я]+)*")
_STUCK_MARKER = re.compile(r"\b(д|дом|кв|корп|к|стр|оф)\.?(?=\d)")


class MorphAnalyzerLike(Protocol):
    """What Gazetteer needs of ``pymorphy3.MorphAnalyzer``."""

    def parse(self, word: str) -> list:  # pragma: no cover - protocol
        ...


@dataclass(frozen=True)
class GeocodeResult:
    """An address placed at its street's approximate centre.

    ``lat``/``lon`` are the street's centre point from the gazetteer (the house
    number does not move it); ``confidence`` (0..1) says how sure the street
    match is: 1.0 exact name and kind, lower for a guess from a misspelling,
    an abbreviation or an ambiguous name.  ``house`` is "" when none was given.
    """

    street: Street
    house: str
    flat: str | None
    lat: float
    lon: float
    district: str
    confidence: float


def fold(text: str) -> str:
    """Lower-case and fold ё to е: the form every index key uses."""
    return text.lower().replace("ё", "е")


def tokenize(text: str) -> list[str]:
    """Words of an address or transcript, folded; punctuation dropped."""
    return _TOKEN.findall(fold(text))


def _strip_kind(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in KIND_WORDS]


class Gazetteer:
    """Street search, address parsing and street mentions over a fixed street list."""

    def __init__(self, streets: Iterable[Street], morph: MorphAnalyzerLike | None = None) -> None:
        """Index ``streets``; ``morph`` is a shared ``pymorphy3.MorphAnalyzer`` (one is made if None)."""
        self.streets: tuple[Street, ...] = tuple(streets)
        if morph is None:
            import pymorphy3  # loaded here: its dictionaries take a while and some memory

            morph = pymorphy3.MorphAnalyzer()
        self._morph = morph
        # Per instance, bounded: transcripts repeat words, pymorphy3 parsing does not need repeating.
        self._lemmas = functools.lru_cache(maxsize=50_000)(self._compute_lemmas)
        self._words: list[tuple[str, int]] = []  # sorted (word, street index) for prefix search
        self._by_key: dict[str, list[int]] = {}  # "генерала острякова" -> street indexes
        self._by_first_lemma: dict[str, list[tuple[tuple[frozenset[str], ...], int]]] = {}
        self._build()
        logger.debug("gazetteer: %d streets, %d words, %d keys", len(self.streets), len(self._words), len(self._by_key))

    # ------------------------------------------------------------ indexing

    def _build(self) -> None:
        words: set[tuple[str, int]] = set()
        for index, street in enumerate(self.streets):
            for text in (street.name, street.base, *street.aliases):
                words.update((w, index) for w in tokenize(text))
            for key in self._variants(street):
                self._by_key.setdefault(key, [])
                if index not in self._by_key[key]:
                    self._by_key[key].append(index)
                lemma_seq = tuple(self._lemmas(w) for w in key.split())
                for lemma in lemma_seq[0]:
                    self._by_first_lemma.setdefault(lemma, []).append((lemma_seq, index))
        self._words = sorted(words)
        self._word_keys = [w for w, _ in self._words]
        self._fuzzy_keys = sorted(self._by_key)

    @staticmethod
    def _variants(street: Street) -> set[str]:
        """Ways to say the street without its kind: base, name, aliases, base without a title."""
        variants = set()
        for text in (street.base, street.name, *street.aliases):
            words = _strip_kind(tokenize(text))
            if words:
                variants.add(" ".join(words))
        base_words = tokenize(street.base)
        if len(base_words) > 1 and base_words[0] in TITLE_WORDS:
            variants.add(" ".join(base_words[1:]))
        return variants

    def _compute_lemmas(self, word: str) -> frozenset[str]:
        forms = {word}
        if not word.isdigit():
            forms.update(fold(p.normal_form) for p in self._morph.parse(word))
        return frozenset(forms)

    # ------------------------------------------------------------ suggest

    def suggest(self, prefix: str, limit: int = 10) -> list[Street]:
        """Streets whose words start with every word typed, best first.

        Case- and ё-insensitive; matches the name, the base and the aliases
        ("ост" finds проспект Генерала Острякова, "пр геро" the проспекты
        Героев Сталинграда).  A typed kind word narrows by kind.
        """
        tokens = [t for t in tokenize(prefix) if not t.isdigit()] or tokenize(prefix)
        if not tokens or limit <= 0:
            return []
        matched: set[int] | None = None
        for token in tokens:
            found = self._streets_with_word_prefix(token)
            matched = found if matched is None else matched & found
            if not matched:
                return []
        query = " ".join(_strip_kind(tokens))
        ranked = sorted(matched, key=lambda i: self._suggest_rank(i, query, tokens[0]))
        return [self.streets[i] for i in ranked[:limit]]

    def _streets_with_word_prefix(self, token: str) -> set[int]:
        found: set[int] = set()
        start = bisect.bisect_left(self._word_keys, token)
        for position in range(start, len(self._words)):
            word, index = self._words[position]
            if not word.startswith(token):
                break
            found.add(index)
        return found

    def _suggest_rank(self, index: int, query: str, first: str) -> tuple:
        street = self.streets[index]
        base = fold(street.base)
        base_words = tokenize(street.base)
        return (
            0 if query and base.startswith(query) else 1,
            0 if any(w.startswith(first) for w in base_words) else 1,
            len(street.name),
            fold(street.name),
        )

    # ------------------------------------------------------------ geocode

    def geocode(self, address: str) -> GeocodeResult | None:
        """Parse a free-form Russian address; None if no street is recognised.

        Understands "ул. Ленина, д. 5, кв. 12", "Острякова 160",
        "проспект Генерала Острякова дом 160 квартира 3", "Ленина 5-12",
        a leading "г. Севастополь" and postcode.
        """
        parsed = _parse_address(address)
        if not parsed.street_words:
            return None
        match = self._match_street(parsed.street_words, parsed.kind)
        if match is None:
            return None
        index, confidence = match
        street = self.streets[index]
        return GeocodeResult(
            street=street,
            house=parsed.house,
            flat=parsed.flat,
            lat=street.lat,
            lon=street.lon,
            district=street.district,
            confidence=round(confidence, 2),
        )

    def _match_street(self, words: list[str], kind: str | None) -> tuple[int, float] | None:
        key = " ".join(words)
        if key in self._by_key:
            return self._pick(self._by_key[key], kind, 1.0)
        lemma_hits = self._lemma_matches([self._lemmas(w) for w in words], exact_length=True)
        if lemma_hits:
            return self._pick(lemma_hits, kind, 0.85)
        window = self._match_window(words)
        if window:
            return self._pick(window, kind, 0.85)
        close = difflib.get_close_matches(key, self._fuzzy_keys, n=1, cutoff=0.8)
        if close:
            ratio = difflib.SequenceMatcher(None, key, close[0]).ratio()
            return self._pick(self._by_key[close[0]], kind, 0.8 * ratio)
        prefixed = self.suggest(key, limit=2)
        if len(prefixed) == 1:
            return self._pick([self.streets.index(prefixed[0])], kind, 0.5)
        return None

    def _match_window(self, words: list[str]) -> list[int]:
        """Streets named by a part of the words ("балаклава новикова", "на ленина"), longest part first."""
        lemmas = [self._lemmas(w) for w in words]
        for size in range(len(words) - 1, 0, -1):
            for start in range(len(words) - size + 1):
                key = " ".join(words[start : start + size])
                if key in self._by_key:
                    return self._by_key[key]
                length, indexes = self._longest_match(lemmas[start : start + size], 0)
                if length == size:
                    return indexes
        return []

    def _pick(self, candidates: list[int], kind: str | None, confidence: float) -> tuple[int, float]:
        """Choose among streets sharing a name; a matching kind wins, ambiguity costs confidence."""
        same_kind = [i for i in candidates if kind and self.streets[i].kind == kind]
        if same_kind:
            pool = same_kind
        else:
            pool = candidates
            if kind:  # the kind typed does not fit: a weaker match
                confidence *= 0.8
            elif len({self.streets[i].kind for i in candidates}) == 1:
                confidence *= 0.95  # no kind given, but the name is clear
        if len(pool) > 1:
            confidence *= 0.6
        best = min(pool, key=lambda i: (_KIND_ORDER.get(self.streets[i].kind, 99), i))
        return best, confidence

    # ------------------------------------------------------------ mentions

    def find_street_mentions(self, text: str) -> list[Street]:
        """Streets named in a transcript, in order of first mention, without repeats.

        Words may be in any case ("на улице Ленина", "на Острякова", "по проспекту
        Победы", "на Большой Морской").  To keep people apart from streets ("памятник
        Ленину"), a one-word name counts only after a kind word ("улица"), a
        preposition ("на", "по", "возле"), or before a house number.
        """
        tokens = tokenize(text)
        lemmas = [self._lemmas(t) for t in tokens]
        found: list[Street] = []
        position, last_end = 0, -1
        while position < len(tokens):
            # "на Кесаева и Юмашева": the second name inherits the first one's context.
            follows_mention = position == last_end + 1 and tokens[last_end] in _CONJUNCTIONS
            hit = self._mention_at(tokens, lemmas, position, follows_mention)
            if hit is None:
                position += 1
                continue
            length, indexes = hit
            for index in indexes:
                if self.streets[index] not in found:
                    found.append(self.streets[index])
            position += length
            last_end = position
        return found

    def _mention_at(
        self, tokens: list[str], lemmas: list[frozenset[str]], position: int, follows_mention: bool
    ) -> tuple[int, list[int]] | None:
        length, indexes = self._longest_match(lemmas, position)
        if not indexes:
            return None
        kind = self._kind_before(lemmas, position)
        in_context = (
            kind is not None
            or length > 1
            or follows_mention
            or (position > 0 and lemmas[position - 1] & CONTEXT_LEMMAS)
            or self._number_follows(tokens, position + length)
        )
        if not in_context:
            return None
        if kind:
            same_kind = [i for i in indexes if self.streets[i].kind == kind]
            indexes = same_kind or indexes
        indexes = sorted(indexes, key=lambda i: (_KIND_ORDER.get(self.streets[i].kind, 99), i))
        return length, indexes

    def _longest_match(self, lemmas: list[frozenset[str]], position: int) -> tuple[int, list[int]]:
        best_length, best = 0, []
        for lemma in lemmas[position]:
            for sequence, index in self._by_first_lemma.get(lemma, ()):
                length = len(sequence)
                if length < best_length or position + length > len(lemmas):
                    continue
                if all(sequence[k] & lemmas[position + k] for k in range(1, length)):
                    if length > best_length:
                        best_length, best = length, []
                    if index not in best:
                        best.append(index)
        return best_length, best

    def _lemma_matches(self, lemmas: list[frozenset[str]], exact_length: bool) -> list[int]:
        length, indexes = self._longest_match(lemmas, 0)
        if exact_length and length != len(lemmas):
            return []
        return indexes

    @staticmethod
    def _kind_before(lemmas: list[frozenset[str]], position: int) -> str | None:
        # "на улице Ленина" (kind just before) or "улица имени Ленина" (one word between).
        for back in (1, 2):
            if position - back < 0:
                break
            for lemma in lemmas[position - back]:
                if lemma in KIND_LEMMAS:
                    return KIND_LEMMAS[lemma]
        return None

    def _number_follows(self, tokens: list[str], position: int) -> bool:
        if position >= len(tokens):
            return False
        word = tokens[position]
        if word[0].isdigit() or word in HOUSE_MARKERS:
            return True
        return any("NUMR" in p.tag for p in self._morph.parse(word)[:1])

    # ------------------------------------------------------------ nearest

    def nearest(self, lat: float, lon: float) -> Street | None:
        """The street whose centre point is closest to (lat, lon); None if there are no streets."""
        if not self.streets:
            return None
        scale = math.cos(math.radians(lat))
        return min(
            self.streets,
            key=lambda s: (s.lat - lat) ** 2 + ((s.lon - lon) * scale) ** 2,
        )


_CONJUNCTIONS = frozenset({"и", "или", "а"})

# Which street to prefer when one name fits several kinds (проспект and площадь Нахимова).
_KIND_ORDER = {"улица": 0, "проспект": 1, "шоссе": 2, "бульвар": 3, "набережная": 4, "площадь": 5}


@dataclass
class _ParsedAddress:
    street_words: list[str]
    kind: str | None
    house: str
    flat: str | None


def _parse_address(address: str) -> _ParsedAddress:
    """Split an address into street words, kind, house and flat."""
    text = _STUCK_MARKER.sub(r"\1 ", fold(address))  # "д.5" / "кв12" -> "д 5" / "кв 12"
    tokens = _TOKEN.findall(text)
    parsed = _ParsedAddress(street_words=[], kind=None, house="", flat=None)
    position = 0
    while position < len(tokens):
        position = _consume(tokens, position, parsed)
    return parsed


def _consume(tokens: list[str], position: int, parsed: _ParsedAddress) -> int:
    """Take one token (and the value after a marker); returns the next position."""
    token = tokens[position]
    following = tokens[position + 1] if position + 1 < len(tokens) else None
    if token in CITY_WORDS or (token.isdigit() and len(token) == 6):  # postcode
        return position + 1
    if token in FLAT_MARKERS and following:
        parsed.flat = parsed.flat or following
        return position + 2
    if token in HOUSE_MARKERS and following and following[0].isdigit():
        _set_house(parsed, following)
        return position + 2
    if token in BUILDING_MARKERS and following and parsed.house:
        parsed.house += f"к{following}" if token.startswith("к") else f"с{following}"
        return position + 2
    if token in SKIP_MARKERS and following:
        return position + 2
    if not parsed.house and token in KIND_WORDS and not parsed.kind:
        parsed.kind = KIND_WORDS[token]
        return position + 1
    if token[0].isdigit() and not _ORDINAL.match(token) and parsed.street_words:
        _set_house(parsed, token)
        return position + 1
    if not parsed.house and token not in KIND_WORDS:
        parsed.street_words.append(token)
    elif parsed.house and len(token) == 1 and token.isalpha() and parsed.house[-1].isdigit():
        parsed.house += token  # "160 а"
    return position + 1


def _set_house(parsed: _ParsedAddress, token: str) -> None:
    house_flat = _HOUSE_FLAT.match(token)
    if house_flat and not parsed.house:  # "5-12": house 5, flat 12
        parsed.house = house_flat.group(1)
        parsed.flat = parsed.flat or house_flat.group(2)
    elif not parsed.house:
        parsed.house = token.replace("-", "")
    elif parsed.flat is None:  # "Ленина 5, 12": a second bare number is the flat
        parsed.flat = token
