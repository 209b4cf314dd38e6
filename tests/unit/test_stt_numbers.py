"""Spoken Russian numbers and address parts ("дом пять квартира двенадцать" -> "д. 5, кв. 12")."""

from __future__ import annotations

import pytest

from callcenter.stt.spoken_numbers import (
    parse_address_parts,
    read_number,
    spoken_numbers_to_digits,
    words_to_number,
)
from callcenter.stt.tokens import Morphology


@pytest.fixture(scope="module")
def morphology() -> Morphology:
    return Morphology()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("пять", 5),
        ("двенадцать", 12),
        ("сорок", 40),
        ("сорока", 40),  # genitive: "до сорока"
        ("шестидесяти двух", 62),
        ("сто шестьдесят", 160),
        ("сто шестьдесят два", 162),
        ("сто шестьдесят второй", 162),  # ordinal last word
        ("сто шестьдесят второго", 162),
        ("сто шестьдесят втором", 162),
        ("двести", 200),
        ("двумстам пяти", 205),
        ("триста одиннадцать", 311),
        ("девятьсот девяносто девять", 999),
        ("тысяча сто", 1100),
        ("две тысячи двадцать четыре", 2024),
        ("двенадцатой", 12),
        ("третий", 3),
        ("четвёртом", 4),
        ("ноль", 0),
        ("162", 162),
    ],
)
def test_words_to_number(morphology: Morphology, text: str, value: int) -> None:
    assert words_to_number(text, morphology) == value


@pytest.mark.parametrize(
    "text",
    [
        "пять двенадцать",  # two numbers, not 17
        "двенадцать пять",
        "шестьдесят двенадцать",
        "сто сто",
        "квартира",
        "",
    ],
)
def test_not_one_number(morphology: Morphology, text: str) -> None:
    assert words_to_number(text, morphology) is None


def test_consecutive_numbers_are_read_one_at_a_time(morphology: Morphology) -> None:
    tokens = morphology.tokens("пять двенадцать")
    first = read_number(tokens, 0)
    assert first is not None and (first.value, first.end) == (5, 1)
    second = read_number(tokens, first.end)
    assert second is not None and (second.value, second.end) == (12, 2)


def test_spoken_numbers_to_digits(morphology: Morphology) -> None:
    assert spoken_numbers_to_digits("дом пять квартира двенадцать", morphology) == "дом 5 квартира 12"
    assert spoken_numbers_to_digits("дом сто шестьдесят два корпус два", morphology) == "дом 162 корпус 2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("дом пять квартира двенадцать", "д. 5, кв. 12"),
        ("дом сто шестьдесят корпус два", "д. 160, корп. 2"),
        ("дом сто шестьдесят два корпус два квартира сорок пять", "д. 162, корп. 2, кв. 45"),
        ("в доме пять в квартире двенадцать", "д. 5, кв. 12"),
        ("дом пять в квартире двенадцать", "д. 5, кв. 12"),  # "в" is a preposition here
        ("дом двенадцать а квартира три", "д. 12а, кв. 3"),  # ...and a letter here
        ("дом двенадцать а у нас течёт", "д. 12"),  # ...and a conjunction here
        ("дом двенадцать а", "д. 12а"),
        ("дом пять бэ", "д. 5б"),
        ("дом двадцать один литера в", "д. 21в"),
        ("дом пять дробь три", "д. 5/3"),
        ("дом номер семь", "д. 7"),
        ("дом 12а кв 45", "д. 12а, кв. 45"),
        ("д. 5, кв. 12", "д. 5, кв. 12"),
        ("дом 12-а", "д. 12а"),
        ("третий подъезд", "подъезд 3"),
        ("подъезд номер три", "подъезд 3"),
        ("в пятом подъезде на девятом этаже", "подъезд 5, этаж 9"),
        ("в двенадцатой квартире", "кв. 12"),
        ("в сто двадцать второй квартире дом три", "д. 3, кв. 122"),
        ("в сто шестьдесят втором доме", "д. 162"),
        ("квартира сорок пять дом двадцать", "д. 20, кв. 45"),
        ("у нас течёт третий день", ""),  # an ordinal, but no address word
    ],
)
def test_address_parts(morphology: Morphology, text: str, expected: str) -> None:
    assert parse_address_parts(morphology.tokens(text)).format() == expected


def test_house_number_right_after_the_street(morphology: Morphology) -> None:
    tokens = morphology.tokens("на ленина пять квартира двенадцать")
    parts = parse_address_parts(tokens, street_end=2, skip=frozenset({1}))
    assert (parts.house, parts.flat) == ("5", "12")
    # The words used are reported so they do not count as complaint keywords.
    assert parts.used == {2, 3, 4}


def test_an_ordinal_after_the_street_is_not_a_house(morphology: Morphology) -> None:
    tokens = morphology.tokens("на ленина третий день нет света")
    assert parse_address_parts(tokens, street_end=2).house is None
