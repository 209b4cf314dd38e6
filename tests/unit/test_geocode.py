"""Offline geocoder: real Sevastopol spellings, suggestions, street mentions in transcripts."""

from __future__ import annotations

import pymorphy3
import pytest

from callcenter.reference import Gazetteer, GeocodeResult, Street, load_reference


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    # One shared analyzer, as the speech-to-text drafting passes its own.
    return Gazetteer(load_reference().streets, morph=pymorphy3.MorphAnalyzer())


def geocoded(gazetteer: Gazetteer, address: str) -> GeocodeResult:
    result = gazetteer.geocode(address)
    assert result is not None, address
    return result


@pytest.mark.parametrize(
    ("address", "street", "house", "flat"),
    [
        ("ул. Ленина, д. 5, кв. 12", "улица Ленина", "5", "12"),
        ("Острякова 160", "проспект Генерала Острякова", "160", None),
        ("проспект Генерала Острякова дом 160 квартира 3", "проспект Генерала Острякова", "160", "3"),
        ("пр-т Острякова, 211Б", "проспект Генерала Острякова", "211б", None),
        ("г. Севастополь, ул. Хрусталева, 74б", "улица Хрусталёва", "74б", None),
        ("299011, Севастополь, Большая Морская 5-12", "улица Большая Морская", "5", "12"),
        ("Героев Сталинграда пр-т, д.64, кв.5", "проспект Героев Сталинграда", "64", "5"),
        ("пр. Октябрьской Революции 57а", "проспект Октябрьской Революции", "57а", None),
        ("ул Астана Кесаева 9 кв 1", "улица Астана Кесаева", "9", "1"),
        ("Юмашева, 26", "улица Адмирала Юмашева", "26", None),
        ("пл. Нахимова, 1", "площадь Нахимова", "1", None),
        ("Камышовое ш., 32", "Камышовое шоссе", "32", None),
        ("ул. 6-я Бастионная, д. 10", "улица 6-я Бастионная", "10", None),
        ("Балаклава, ул. Новикова, 4", "улица Новикова", "4", None),
        ("ул. Горпищенко 139 корп 2 кв 40", "улица Горпищенко", "139к2", "40"),
        ("Острякова 160 а", "проспект Генерала Острякова", "160а", None),
    ],
)
def test_geocode_real_spellings(gazetteer: Gazetteer, address: str, street: str, house: str, flat: str | None) -> None:
    result = geocoded(gazetteer, address)
    assert (result.street.name, result.house, result.flat) == (street, house, flat)


def test_result_is_placed_at_the_street_centre(gazetteer: Gazetteer) -> None:
    result = geocoded(gazetteer, "ул. Ленина, д. 5")
    assert (result.lat, result.lon) == (result.street.lat, result.street.lon)
    assert result.district == "Ленинский"
    assert geocoded(gazetteer, "Горпищенко 39").district == "Нахимовский"
    assert geocoded(gazetteer, "Столетовский пр-т 17А").district == "Гагаринский"
    assert geocoded(gazetteer, "ул. Калича 15").district == "Балаклавский"


def test_confidence_orders_exact_over_guessed(gazetteer: Gazetteer) -> None:
    exact = geocoded(gazetteer, "ул. Ленина 5").confidence
    typo = geocoded(gazetteer, "ул. Ленинаа 5")
    assert typo.street.name == "улица Ленина"
    assert exact == 1.0 and typo.confidence < exact
    # "Нахимова" alone is a проспект and a площадь: found, but less sure.
    ambiguous = geocoded(gazetteer, "Нахимова 3")
    assert ambiguous.street.name == "проспект Нахимова" and ambiguous.confidence < 0.9
    assert geocoded(gazetteer, "пл. Нахимова 3").confidence == 1.0


def test_yo_and_ye_are_the_same(gazetteer: Gazetteer) -> None:
    with_yo = geocoded(gazetteer, "ул. Хрусталёва 45")
    with_ye = geocoded(gazetteer, "ул. Хрусталева 45")
    assert with_yo == with_ye
    assert gazetteer.suggest("лётч")[0].name == gazetteer.suggest("летч")[0].name == "улица Лётчиков"


def test_unknown_or_empty_address(gazetteer: Gazetteer) -> None:
    assert gazetteer.geocode("ул. Несуществующая 5") is None
    assert gazetteer.geocode("") is None
    assert gazetteer.geocode("д. 5 кв. 7") is None


def test_address_without_house(gazetteer: Gazetteer) -> None:
    result = geocoded(gazetteer, "Фиолентовское шоссе")
    assert result.street.name == "Фиолентовское шоссе" and result.house == "" and result.flat is None


def test_suggest_by_word_prefix(gazetteer: Gazetteer) -> None:
    assert "проспект Генерала Острякова" in [s.name for s in gazetteer.suggest("ост")]
    assert gazetteer.suggest("лен")[0].name == "улица Ленина"
    assert gazetteer.suggest("ХРУСТ")[0].name == "улица Хрусталёва"
    assert gazetteer.suggest("пр гер")[0].name == "проспект Героев Сталинграда"
    assert gazetteer.suggest("б мор")[0].name == "улица Большая Морская"
    assert gazetteer.suggest("пл нах")[0].name == "площадь Нахимова"


def test_suggest_limit_and_nothing(gazetteer: Gazetteer) -> None:
    many = gazetteer.suggest("у", limit=3)
    assert len(many) == 3 and all(isinstance(s, Street) for s in many)
    assert gazetteer.suggest("") == []
    assert gazetteer.suggest("жжжж") == []
    assert gazetteer.suggest("лен", limit=0) == []


@pytest.mark.parametrize(
    ("transcript", "streets"),
    [
        ("у меня на улице ленина прорвало трубу", ["улица Ленина"]),
        ("живу на острякова дом сто шестьдесят", ["проспект Генерала Острякова"]),
        ("по проспекту победы не горят фонари", ["проспект Победы"]),
        ("на большой морской огромная яма", ["улица Большая Морская"]),
        ("на площади нахимова переполнены урны", ["площадь Нахимова"]),
        ("возле хрусталёва течёт вода", ["улица Хрусталёва"]),
        ("на университетской нет света", ["улица Университетская"]),
        ("в районе кесаева и юмашева нет воды", ["улица Астана Кесаева", "улица Адмирала Юмашева"]),
        ("по камышовому шоссе не работает светофор", ["Камышовое шоссе"]),
        ("на героев сталинграда шестьдесят четыре", ["проспект Героев Сталинграда"]),
    ],
)
def test_street_mentions_in_oblique_cases(gazetteer: Gazetteer, transcript: str, streets: list[str]) -> None:
    assert [s.name for s in gazetteer.find_street_mentions(transcript)] == streets


def test_people_are_not_streets(gazetteer: Gazetteer) -> None:
    assert gazetteer.find_street_mentions("памятник ленину весь в грязи") == []
    assert gazetteer.find_street_mentions("мусор не вывозят уже неделю") == []


def test_ambiguous_mention_lists_every_candidate(gazetteer: Gazetteer) -> None:
    names = [s.name for s in gazetteer.find_street_mentions("на нахимова")]
    assert names == ["проспект Нахимова", "площадь Нахимова"]


def test_nearest(gazetteer: Gazetteer) -> None:
    nahimova = gazetteer.geocode("пл. Нахимова").street
    assert gazetteer.nearest(nahimova.lat, nahimova.lon) == nahimova
    assert gazetteer.nearest(44.4999, 33.6000).district == "Балаклавский"
    assert Gazetteer([], morph=pymorphy3.MorphAnalyzer()).nearest(44.6, 33.5) is None
