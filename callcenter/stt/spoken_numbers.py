"""Spoken Russian numbers and the number parts of an address.

"дом сто шестьдесят два корпус два квартира двенадцать" -> house 162, building 2, flat 12;
"в пятом подъезде" -> entrance 5; "двенадцать а" and "12а" -> house "12а". Case endings
("шестидесяти", "в двенадцатой квартире") are undone by pymorphy3 (see
:mod:`callcenter.stt.tokens`); this module only knows the numeral lemmas and how numerals
combine (thousands, hundreds, tens, units, with an ordinal as the last word).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from callcenter.stt.tokens import Morphology, Token

CARDINALS = {
    "ноль": 0,
    "один": 1,
    "два": 2,
    "три": 3,
    "четыре": 4,
    "пять": 5,
    "шесть": 6,
    "семь": 7,
    "восемь": 8,
    "девять": 9,
    "десять": 10,
    "одиннадцать": 11,
    "двенадцать": 12,
    "тринадцать": 13,
    "четырнадцать": 14,
    "пятнадцать": 15,
    "шестнадцать": 16,
    "семнадцать": 17,
    "восемнадцать": 18,
    "девятнадцать": 19,
    "двадцать": 20,
    "тридцать": 30,
    "сорок": 40,
    "пятьдесят": 50,
    "шестьдесят": 60,
    "семьдесят": 70,
    "восемьдесят": 80,
    "девяносто": 90,
    "сто": 100,
    "двести": 200,
    "триста": 300,
    "четыреста": 400,
    "пятьсот": 500,
    "шестьсот": 600,
    "семьсот": 700,
    "восемьсот": 800,
    "девятьсот": 900,
    "тысяча": 1000,
}
ORDINALS = {
    "первый": 1,
    "второй": 2,
    "третий": 3,
    "четвертый": 4,
    "пятый": 5,
    "шестой": 6,
    "седьмой": 7,
    "восьмой": 8,
    "девятый": 9,
    "десятый": 10,
    "одиннадцатый": 11,
    "двенадцатый": 12,
    "тринадцатый": 13,
    "четырнадцатый": 14,
    "пятнадцатый": 15,
    "шестнадцатый": 16,
    "семнадцатый": 17,
    "восемнадцатый": 18,
    "девятнадцатый": 19,
    "двадцатый": 20,
    "тридцатый": 30,
    "сороковой": 40,
    "пятидесятый": 50,
    "шестидесятый": 60,
    "семидесятый": 70,
    "восьмидесятый": 80,
    "девяностый": 90,
    "сотый": 100,
    "двухсотый": 200,
    "трехсотый": 300,
    "четырехсотый": 400,
    "пятисотый": 500,
    "шестисотый": 600,
    "семисотый": 700,
    "восьмисотый": 800,
    "девятисотый": 900,
    "тысячный": 1000,
}

# Address words (lemmas or written abbreviations) -> the part of the address they name.
PART_WORDS = {
    "дом": "house",
    "д": "house",
    "домовладение": "house",
    "корпус": "building",
    "корп": "building",
    "квартира": "flat",
    "кв": "flat",
    "подъезд": "entrance",
    "этаж": "floor",
    "эт": "floor",
}
# Words between a part word and its number: "дом номер пять", "кв. № 12".
_FILLERS = frozenset({"номер", "н", "no"})
# A house letter as written ("а") or as spoken ("бэ").
_LETTERS = {
    "а": "а",
    "б": "б",
    "в": "в",
    "г": "г",
    "д": "д",
    "е": "е",
    "бэ": "б",
    "вэ": "в",
    "гэ": "г",
    "дэ": "д",
}
_SPOKEN_LETTER_NAMES = frozenset({"бэ", "вэ", "гэ", "дэ"})
_LETTER_MARKERS = frozenset({"литер", "литера", "буква"})
_FRACTION_WORDS = frozenset({"дробь", "слэш", "слеш"})


@dataclass(frozen=True)
class NumberSpan:
    """A number read from tokens ``start``..``end`` (exclusive); ``text`` is how an address
    writes it (``"162"``, ``"12а"``, ``"5/3"``)."""

    value: int
    text: str
    start: int
    end: int
    ordinal: bool = False


def _numeral(token: Token) -> tuple[int, bool] | None:
    """(value, is_ordinal) if any reading of the word is a numeral."""
    for lemma in token.lemmas:
        if lemma in CARDINALS:
            return CARDINALS[lemma], False
        if lemma in ORDINALS:
            return ORDINALS[lemma], True
    return None


_THOUSAND_CLASS = 4


def _size_class(value: int) -> int:
    """0 units, 1 teens (and ten), 2 tens, 3 hundreds: a number's words go downwards."""
    if value < 10:
        return 0
    if value < 20:
        return 1
    return 2 if value < 100 else 3


def _accepts(previous_class: int | None, value: int) -> bool:
    if previous_class is None:
        return True
    if previous_class <= 1:  # nothing follows units or teens ("пять двенадцать" is two numbers)
        return False
    size = _size_class(value)
    if previous_class == 2:  # tens take units only: "шестьдесят два"
        return size == 0 and value > 0
    return size < previous_class and value > 0  # after hundreds or a thousand


def read_spoken_number(tokens: Sequence[Token], start: int) -> NumberSpan | None:
    """Read numeral words from ``start``: "сто шестьдесят второй" -> 162 (ordinal).

    Stops at the first word that cannot continue the number, so "пять двенадцать" reads
    as 5 and leaves "двенадцать" for the next call.
    """
    total, group = 0, 0
    previous_class: int | None = None
    index, ordinal = start, False
    while index < len(tokens) and not ordinal:
        reading = _numeral(tokens[index])
        if reading is None:
            break
        value, is_ordinal = reading
        if value == 1000 and not total:  # "две тысячи", "тысяча"
            total, group, previous_class = (group or 1) * 1000, 0, _THOUSAND_CLASS
        elif value != 1000 and _accepts(previous_class, value):
            group += value
            previous_class = _size_class(value)
        else:
            break
        ordinal = is_ordinal
        index += 1
    if index == start:
        return None
    value = total + group
    return NumberSpan(value, str(value), start, index, ordinal=ordinal)


def read_number(tokens: Sequence[Token], start: int) -> NumberSpan | None:
    """A number written in digits (``12``, ``12а``, ``5/3``) or spoken in words."""
    if start >= len(tokens):
        return None
    token = tokens[start]
    if token.is_digits:
        text = token.text.replace("-", "")
        digits = "".join(ch for ch in text.split("/")[0] if ch.isdigit())
        if token.text.endswith(("-я", "-й", "-е")):  # "6-я" is an ordinal, not house 6я
            return NumberSpan(int(digits), digits, start, start + 1, ordinal=True)
        return NumberSpan(int(digits), text, start, start + 1)
    return read_spoken_number(tokens, start)


def words_to_number(text: str, morphology: Morphology) -> int | None:
    """The value of a text that is exactly one number ("сто шестьдесят два" -> 162)."""
    tokens = morphology.tokens(text)
    span = read_number(tokens, 0)
    if span is None or span.end != len(tokens):
        return None
    return span.value


def spoken_numbers_to_digits(text: str, morphology: Morphology) -> str:
    """Rewrite every spoken number as digits: "дом пять квартира двенадцать" ->
    "дом 5 квартира 12" (ordinals too: "пятый подъезд" -> "5 подъезд")."""
    tokens = morphology.tokens(text)
    words, index = [], 0
    while index < len(tokens):
        span = read_spoken_number(tokens, index)
        if span is None:
            words.append(tokens[index].text)
            index += 1
        else:
            words.append(span.text)
            index = span.end
    return " ".join(words)


@dataclass
class AddressParts:
    """House, building (корпус), flat, entrance (подъезд) and floor, as an address writes
    them; ``used`` holds the token indices they came from (not complaint keywords)."""

    house: str | None = None
    building: str | None = None
    flat: str | None = None
    entrance: str | None = None
    floor: str | None = None
    used: set[int] = field(default_factory=set)

    def is_empty(self) -> bool:
        """True when no number part was found."""
        return not any((self.house, self.building, self.flat, self.entrance, self.floor))

    def format(self) -> str:
        """``д. 5, корп. 2, кв. 12, подъезд 3, этаж 4`` (only the parts present)."""
        labels = (
            ("д.", self.house),
            ("корп.", self.building),
            ("кв.", self.flat),
            ("подъезд", self.entrance),
            ("этаж", self.floor),
        )
        return ", ".join(f"{label} {value}" for label, value in labels if value)


def _part_word(token: Token) -> str | None:
    return PART_WORDS.get(token.text) or PART_WORDS.get(token.lemma)


def parse_address_parts(
    tokens: Sequence[Token], street_end: int | None = None, skip: frozenset[int] = frozenset()
) -> AddressParts:
    """Find the number parts of an address in ``tokens``.

    ``street_end`` is the index just after a street name found in the tokens: a number
    right after it is the house ("на Ленина пять"). ``skip`` are indices already used
    (the street's own words, such as "четвертая" in "4-я Бастионная").
    """
    parts = AddressParts()
    for index, token in enumerate(tokens):
        if index in skip or index in parts.used:
            continue
        role = _part_word(token)
        if role is not None:
            _read_after_part_word(tokens, index, role, parts, skip)
    if street_end is not None and parts.house is None:
        _read_house_after_street(tokens, street_end, parts, skip)
    return parts


def _set_part(parts: AddressParts, role: str, span: NumberSpan, indices: range) -> None:
    if getattr(parts, role) is None:
        setattr(parts, role, span.text)
        parts.used.update(indices)


def _read_after_part_word(
    tokens: Sequence[Token], index: int, role: str, parts: AddressParts, skip: frozenset[int]
) -> None:
    # "пятый подъезд", "в двенадцатой квартире": an ordinal just before the part word.
    before = _ordinal_before(tokens, index, skip, parts)
    if before is not None:
        _set_part(parts, role, before, range(before.start, index + 1))
        return
    position = index + 1
    while position < len(tokens) and tokens[position].text in _FILLERS:
        position += 1
    span = read_number(tokens, position) if position not in skip else None
    if span is None:
        return
    if role == "house":
        span = _with_house_suffix(tokens, span)
    _set_part(parts, role, span, range(index, span.end))


def _ordinal_before(
    tokens: Sequence[Token], index: int, skip: frozenset[int], parts: AddressParts
) -> NumberSpan | None:
    if index == 0 or index - 1 in skip or index - 1 in parts.used:
        return None
    # Walk back over the numeral words ("сто двадцать пятой") to the number's start.
    start = index - 1
    while start > 0 and _numeral(tokens[start - 1]) is not None and start - 1 not in skip:
        start -= 1
    for first in range(start, index):
        span = read_spoken_number(tokens, first)
        if span is not None and span.end == index and span.ordinal:
            return span
    return None


def _read_house_after_street(
    tokens: Sequence[Token], street_end: int, parts: AddressParts, skip: frozenset[int]
) -> None:
    position = street_end
    if position < len(tokens) and tokens[position].text in _FILLERS:
        position += 1
    if position in skip or position in parts.used:
        return
    span = read_number(tokens, position)
    if span is not None and not span.ordinal:
        span = _with_house_suffix(tokens, span)
        _set_part(parts, "house", span, range(street_end, span.end))


def _with_house_suffix(tokens: Sequence[Token], span: NumberSpan) -> NumberSpan:
    """Add a letter ("двенадцать а", "12 бэ", "литера б") or a fraction ("пять дробь три")."""
    position = span.end
    if position >= len(tokens) or any(c.isalpha() for c in span.text):
        return span
    word = tokens[position].text
    if word in _FRACTION_WORDS:
        second = read_number(tokens, position + 1)
        if second is not None and not second.ordinal:
            return NumberSpan(span.value, f"{span.text}/{second.text}", span.start, second.end)
        return span
    if word in _LETTER_MARKERS and position + 1 < len(tokens):
        position, word = position + 1, tokens[position + 1].text
    elif not _letter_is_suffix(tokens, position):
        return span
    if word in _LETTERS:
        return NumberSpan(span.value, f"{span.text}{_LETTERS[word]}", span.start, position + 1)
    return span


def _letter_is_suffix(tokens: Sequence[Token], position: int) -> bool:
    """ "а" and "в" are also words ("дом пять а у нас..."): a lone letter belongs to the
    house number only at the end or before another address word."""
    word = tokens[position].text
    if word in _SPOKEN_LETTER_NAMES:
        return True
    if word not in _LETTERS:
        return False
    following = position + 1
    if following >= len(tokens):
        return True
    # "5 а квартира 12" (a letter) but "5 в квартире 12" (a preposition, so an inflected noun).
    next_token = tokens[following]
    return _part_word(next_token) is not None and next_token.text in PART_WORDS
