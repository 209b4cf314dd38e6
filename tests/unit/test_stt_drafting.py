"""Drafting: category, executor, address and title from Russian complaints as people say them."""

from __future__ import annotations

import json

import pytest

from callcenter.reference import ReferenceData, load_reference
from callcenter.stt.drafting import Draft, Drafter
from callcenter.stt.transcript import Transcript, Word

# (what the caller said, as the recogniser writes it or an operator typed it,
#  expected category, expected address line)
COMPLAINTS = [
    # --- water leaks
    (
        "алло здравствуйте у нас на большой морской прорвало трубу вода хлещет прямо на дорогу дом двадцать два",
        "water_leak",
        "ул. Большая Морская, д. 22",
    ),
    (
        "на проспекте генерала острякова возле дома сто шестьдесят из колодца бьёт фонтан воды",
        "water_leak",
        "просп. Генерала Острякова, д. 160",
    ),
    ("течь водопровода улица пожарова дом двенадцать бэ заливает подвал", "water_leak", "ул. Пожарова, д. 12б"),
    (
        "из-под асфальта вытекает вода уже второй день на улице косарева возле дома семь течь не устраняют",
        "water_leak",
        "ул. Косарева, д. 7",
    ),
    # --- no electricity
    (
        "добрый день у нас нет света с утра улица хрусталёва дом семьдесят четыре квартира восемь",
        "no_electricity",
        "ул. Хрусталёва, д. 74, кв. 8",
    ),
    (
        "в доме девять на улице богданова отключили электричество уже третий час",
        "no_electricity",
        "ул. Богданова, д. 9",
    ),
    (
        "девушка у нас выбило автомат в щитке и во всём доме нет электроэнергии проспект победы двадцать один",
        "no_electricity",
        "просп. Победы, д. 21",
    ),
    ("Нет света, ул. Гоголя, д. 14, кв. 3", "no_electricity", "ул. Гоголя, д. 14, кв. 3"),
    # --- no heating
    (
        "батареи холодные в квартире уже неделю дом тридцать один квартира пятьдесят шесть на проспекте победы",
        "no_heating",
        "просп. Победы, д. 31, кв. 56",
    ),
    (
        "нет отопления мёрзнем с детьми улица вакуленчука дом двадцать шесть корпус два квартира сто пять",
        "no_heating",
        "ул. Вакуленчука, д. 26, корп. 2, кв. 105",
    ),
    (
        "котельная не работает в доме холодно радиаторы еле тёплые на улице николая музыки дом пятьдесят",
        "no_heating",
        "ул. Николая Музыки, д. 50",
    ),
    # --- potholes
    (
        "на дороге огромная яма на улице кулакова напротив дома пятнадцать колесо пробил",
        "road_pothole",
        "ул. Кулакова, д. 15",
    ),
    ("на камышовом шоссе выбоины по всей проезжей части асфальт разбит", "road_pothole", "Камышовое ш."),
    (
        "провал асфальта на проспекте гагарина возле дома десять машины объезжают",
        "road_pothole",
        "просп. Гагарина, д. 10",
    ),
    # --- elevators
    (
        "лифт не работает уже три дня улица героев севастополя дом сорок четыре третий подъезд",
        "elevator",
        "ул. Героев Севастополя, д. 44, подъезд 3",
    ),
    (
        "застрял человек в лифте улица степаняна дом девять подъезд два срочно",
        "elevator",
        "ул. Степаняна, д. 9, подъезд 2",
    ),
    (
        "у нас в пятом подъезде лифт стоит кнопки не нажимаются дом сто двадцать пять по проспекту октябрьской революции",
        "elevator",
        "просп. Октябрьской Революции, д. 125, подъезд 5",
    ),
    # --- garbage
    ("мусор не вывозят уже неделю контейнеры переполнены улица репина дом шесть", "garbage", "ул. Репина, д. 6"),
    (
        "возле дома восемнадцать на улице ерошенко мусорные баки переполнены крысы бегают",
        "garbage",
        "ул. Ерошенко, д. 18",
    ),
    ("когда будут вывозить мусор с площадки у дома два по улице льва толстого", "garbage", "ул. Льва Толстого, д. 2"),
    # --- street lighting
    ("на улице маячной не горят фонари вечером темно идти страшно", "street_lighting", "ул. Маячная"),
    (
        "уличное освещение не работает на проспекте героев сталинграда от дома пятьдесят до дома шестьдесят",
        "street_lighting",
        "просп. Героев Сталинграда, д. 50",
    ),
    ("возле дома тридцать три по улице колобова фонарь мигает и гаснет", "street_lighting", "ул. Колобова, д. 33"),
    # --- no water
    (
        "здравствуйте у нас нет холодной воды с утра улица челнокова дом семнадцать квартира сорок",
        "no_water",
        "ул. Челнокова, д. 17, кв. 40",
    ),
    (
        "отключили воду по улице тараса шевченко дом три и не сообщили когда дадут водоснабжение",
        "no_water",
        "ул. Тараса Шевченко, д. 3",
    ),
    ("воды нет в кранах второй день улица руднева дом двадцать девять а", "no_water", "ул. Руднева, д. 29а"),
    # --- sewage
    ("канализация забилась в подвале воняет улица меньшикова дом сорок один", "sewage", "ул. Меньшикова, д. 41"),
    ("из люка канализации текут нечистоты по двору на улице шостака дом пять", "sewage", "ул. Шостака, д. 5"),
    (
        "засор канализации унитаз не сливается квартира двенадцать дом восемь на улице павла дыбенко",
        "sewage",
        "ул. Павла Дыбенко, д. 8, кв. 12",
    ),
    # --- gas
    ("сильно пахнет газом в подъезде улица астана кесаева дом четырнадцать", "gas_smell", "ул. Астана Кесаева, д. 14"),
    ("запах газа на лестничной площадке дом шесть квартира девяносто", "gas_smell", "д. 6, кв. 90"),
    (
        "утечка газа шипит труба возле дома двадцать по улице адмирала фадеева",
        "gas_smell",
        "ул. Адмирала Фадеева, д. 20",
    ),
    # --- addresses said other ways
    ("на ленина пять квартира двенадцать нет света", "no_electricity", "ул. Ленина, д. 5, кв. 12"),
    ("в сто шестьдесят втором доме по острякова не работает лифт", "elevator", "просп. Генерала Острякова, д. 162"),
    ("мусор не вывезли дом 12а кв 45 ул. Репина", "garbage", "ул. Репина, д. 12а, кв. 45"),
    # --- nothing to go on
    ("подскажите пожалуйста номер телефона управы", "other", ""),
]


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference()


@pytest.fixture(scope="module")
def drafter(reference: ReferenceData) -> Drafter:
    return Drafter(reference)


@pytest.mark.parametrize(("text", "category", "address"), COMPLAINTS)
def test_complaint_is_drafted(
    drafter: Drafter, reference: ReferenceData, text: str, category: str, address: str
) -> None:
    draft = drafter.draft_text(text)
    assert (draft.category_code, draft.address) == (category, address)
    assert draft.department_code == reference.category(category).department
    assert draft.needs_confirmation is True
    if category != "other":
        assert draft.matched_keywords, "the operator must see why"
        assert set(draft.matched_keywords) <= set(reference.category(category).keywords)
        assert 0 < draft.confidence <= 1


def test_the_table_covers_the_common_complaints() -> None:
    covered = {category for _, category, _ in COMPLAINTS}
    assert len(COMPLAINTS) >= 30
    assert {
        "water_leak",
        "no_electricity",
        "no_heating",
        "road_pothole",
        "elevator",
        "garbage",
        "street_lighting",
        "no_water",
        "sewage",
        "gas_smell",
    } <= covered


def test_draft_fields_for_a_full_address(drafter: Drafter) -> None:
    draft = drafter.draft_text(
        "нет отопления мёрзнем с детьми улица вакуленчука дом двадцать шесть корпус два квартира сто пять"
    )
    assert draft.street == "улица Вакуленчука"
    assert (draft.house, draft.building, draft.flat) == ("26", "2", "105")
    assert draft.district and draft.lat and draft.lon
    assert draft.title == "Нет отопления — ул. Вакуленчука, д. 26, корп. 2, кв. 105"
    assert "отопление" in draft.matched_keywords


def test_address_words_are_not_complaint_keywords(drafter: Drafter) -> None:
    # "подъезд" is a keyword of entrance_cleaning, but here it is part of the address.
    draft = drafter.draft_text("лифт не работает дом сорок четыре третий подъезд")
    assert draft.category_code == "elevator"
    assert "подъезд" not in draft.matched_keywords
    assert all(code != "entrance_cleaning" for code, _ in draft.alternatives)


def test_street_name_is_not_a_complaint_keyword(drafter: Drafter) -> None:
    # "Парковая" must not vote for the parks category.
    draft = drafter.draft_text("на улице парковой дом два нет света")
    assert draft.category_code == "no_electricity"
    assert draft.address == "ул. Парковая, д. 2"
    assert all(code != "parks" for code, _ in draft.alternatives)


def test_silence_gives_an_empty_fallback_draft(drafter: Drafter) -> None:
    draft = drafter.draft(Transcript(text="", words=(), duration=5.0, model="test"))
    assert draft.category_code == "other"
    assert draft.confidence == 0.0
    assert draft.address == ""
    assert draft.title == "Голосовое обращение"


def test_unsure_words_lower_the_score(drafter: Drafter) -> None:
    words = ["нет", "света", "дом", "пять"]

    def transcript(conf: float) -> Transcript:
        return Transcript(
            text=" ".join(words),
            words=tuple(Word(w, i * 0.5, i * 0.5 + 0.4, conf) for i, w in enumerate(words)),
            duration=2.0,
            model="test",
        )

    sure, unsure = drafter.draft(transcript(1.0)), drafter.draft(transcript(0.2))
    assert sure.category_code == unsure.category_code == "no_electricity"
    assert unsure.score < sure.score
    assert unsure.confidence < sure.confidence


def test_a_clear_complaint_is_more_confident_than_a_vague_one(drafter: Drafter) -> None:
    clear = drafter.draft_text("прорвало трубу течь из колодца вода хлещет фонтаном")
    vague = drafter.draft_text("что-то течёт")
    assert clear.category_code == "water_leak"
    assert clear.confidence > vague.confidence


def test_title_is_short(drafter: Drafter) -> None:
    long_text = "подскажите " + "очень " * 80 + "пожалуйста"
    draft = drafter.draft_text(long_text)
    assert draft.category_code == "other"
    assert len(draft.title) <= 100
    assert draft.title.startswith("Обращение: Подскажите")


def test_draft_is_json_serialisable(drafter: Drafter) -> None:
    draft = drafter.draft_text("на ленина пять квартира двенадцать нет света")
    data = json.loads(json.dumps(draft.to_dict(), ensure_ascii=False))
    assert data["category_code"] == "no_electricity"
    assert data["address"] == "ул. Ленина, д. 5, кв. 12"
    assert data["matched_keywords"] == list(draft.matched_keywords)
    assert (
        Draft(
            **{
                **data,
                "matched_keywords": tuple(data["matched_keywords"]),
                "alternatives": tuple(tuple(a) for a in data["alternatives"]),
            }
        )
        == draft
    )
