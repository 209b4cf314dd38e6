"""Reference data: the shipped files are complete and consistent; bad edits fail clearly."""

from __future__ import annotations

import shutil
from collections import Counter
from importlib import resources
from pathlib import Path

import pymorphy3
import pytest

from callcenter.reference import (
    CATEGORIES_FILE,
    DEPARTMENTS_FILE,
    DISTRICTS,
    STREETS_FILE,
    ReferenceData,
    ReferenceError,
    load_reference,
)

IVR_CODES = (
    "water_leak",
    "no_water",
    "no_electricity",
    "no_heating",
    "road_pothole",
    "street_lighting",
    "garbage",
    "elevator",
    "other",
)


@pytest.fixture(scope="module")
def shipped() -> ReferenceData:
    return load_reference()


@pytest.fixture(scope="module")
def morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    """Editable copies of the shipped files, as an admin would make them."""
    package = resources.files("callcenter.reference")
    for name in (DEPARTMENTS_FILE, CATEGORIES_FILE, STREETS_FILE):
        with resources.as_file(package.joinpath(name)) as source:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


# ---------------------------------------------------------------- the shipped data


def test_exactly_38_departments_with_unique_codes(shipped: ReferenceData) -> None:
    codes = [d.code for d in shipped.departments]
    assert len(codes) == 38
    assert len(set(codes)) == 38


def test_departments_cover_every_district_and_kind(shipped: ReferenceData) -> None:
    kinds = Counter(d.kind for d in shipped.departments)
    assert set(kinds) == {"utility", "department", "district", "management_company", "service"}
    district_admins = {d.districts for d in shipped.departments if d.kind == "district"}
    assert {x for t in district_admins for x in t} == set(DISTRICTS)
    assert shipped.department("vodokanal").short_name == "ГУПС «Водоканал»"


def test_every_category_department_exists(shipped: ReferenceData) -> None:
    for category in shipped.categories:
        assert shipped.department(category.department).code == category.department


def test_ivr_codes_exist(shipped: ReferenceData) -> None:
    for code in IVR_CODES:
        assert shipped.category(code).code == code


def test_category_count_and_targets(shipped: ReferenceData) -> None:
    assert 25 <= len(shipped.categories) <= 35
    gas = shipped.category("gas_smell")
    assert gas.department == "sevastopolgaz" and gas.priority == 1
    assert gas.accept_target_minutes <= 10
    # An emergency is taken faster than a routine request.
    assert gas.accept_target_minutes < shipped.category("road_pothole").accept_target_minutes
    assert all(c.callback for c in shipped.categories)


def test_keywords_are_pymorphy3_normal_forms(shipped: ReferenceData, morph: pymorphy3.MorphAnalyzer) -> None:
    for category in shipped.categories:
        assert 8 <= len(category.keywords) <= 20, category.code
        for keyword in category.keywords:
            assert morph.parse(keyword)[0].normal_form == keyword, (category.code, keyword)


def test_keywords_are_discriminative(shipped: ReferenceData) -> None:
    owners = Counter(k for c in shipped.categories for k in set(c.keywords))
    for category in shipped.categories:
        own = [k for k in category.keywords if owners[k] == 1]
        assert len(own) >= 5, (category.code, own)


def test_lookups_reject_unknown_codes(shipped: ReferenceData) -> None:
    with pytest.raises(KeyError, match="nope"):
        shipped.category("nope")
    with pytest.raises(KeyError, match="nope"):
        shipped.department("nope")
    assert not shipped.has_category("nope") and shipped.has_department("vodokanal")
    assert {c.code for c in shipped.categories_of("vodokanal")} >= {"water_leak", "no_water"}


def test_streets_include_the_well_known_ones(shipped: ReferenceData) -> None:
    names = {s.name for s in shipped.streets}
    for name in (
        "проспект Генерала Острякова",
        "проспект Октябрьской Революции",
        "проспект Победы",
        "проспект Гагарина",
        "проспект Героев Сталинграда",
        "улица Большая Морская",
        "улица Ленина",
        "проспект Нахимова",
        "площадь Нахимова",
        "улица Хрусталёва",
        "Камышовое шоссе",
        "Балаклавское шоссе",
        "улица Горпищенко",
        "Античный проспект",
    ):
        assert name in names
    assert len(shipped.streets) >= 150
    assert {s.district for s in shipped.streets} == set(DISTRICTS)


def test_loads_from_a_directory_with_admin_edits(copies: Path) -> None:
    edit(copies / DEPARTMENTS_FILE, 'short_name = "ГУПС «Водоканал»"', 'short_name = "Водоканал"')
    data = load_reference(copies)
    assert data.department("vodokanal").short_name == "Водоканал"


# ---------------------------------------------------------------- bad edits


def test_unknown_department_in_category(copies: Path) -> None:
    edit(copies / CATEGORIES_FILE, 'department = "vodokanal"', 'department = "vodokanall"')
    with pytest.raises(ReferenceError) as caught:
        load_reference(copies)
    message = str(caught.value)
    assert "categories.toml" in message and "'water_leak'" in message
    assert "unknown department 'vodokanall'" in message


def test_duplicate_department_code(copies: Path) -> None:
    edit(copies / DEPARTMENTS_FILE, 'code = "gorsvet"', 'code = "vodokanal"')
    with pytest.raises(ReferenceError, match=r"departments\.toml, department 'vodokanal': duplicate code"):
        load_reference(copies)


def test_duplicate_category_code(copies: Path) -> None:
    edit(copies / CATEGORIES_FILE, 'code = "no_water"', 'code = "water_leak"')
    with pytest.raises(ReferenceError, match=r"categories\.toml, category 'water_leak': duplicate code"):
        load_reference(copies)


def test_missing_field_names_the_entry(copies: Path) -> None:
    edit(copies / CATEGORIES_FILE, 'name = "Нет горячей воды"\n', "")
    with pytest.raises(ReferenceError, match=r"category 'hot_water': missing field 'name'"):
        load_reference(copies)


def test_wrong_types_and_ranges(copies: Path) -> None:
    edit(copies / CATEGORIES_FILE, "priority = 1", "priority = 7")
    with pytest.raises(ReferenceError, match=r"'water_leak': field 'priority' must be an integer from 1 to 3"):
        load_reference(copies)


def test_boolean_is_not_an_integer(copies: Path) -> None:
    edit(copies / CATEGORIES_FILE, "accept_target_minutes = 10", "accept_target_minutes = true")
    with pytest.raises(ReferenceError, match="accept_target_minutes"):
        load_reference(copies)


def test_too_few_keywords(copies: Path) -> None:
    edit(
        copies / CATEGORIES_FILE,
        'keywords = ["напор", "давление", "слабый", "еле", "струйка", "капать", "этаж", "верхний", "насос", "доходить"]',
        'keywords = ["напор"]',
    )
    with pytest.raises(ReferenceError, match=r"'low_water_pressure': needs 8 to 20 keywords, has 1"):
        load_reference(copies)


def test_unknown_field_is_a_typo(copies: Path) -> None:
    edit(copies / DEPARTMENTS_FILE, 'kind = "utility"', 'kind = "utility"\nphon = "1"')
    with pytest.raises(ReferenceError, match=r"department 'vodokanal': unknown field\(s\) phon"):
        load_reference(copies)


def test_bad_kind_and_district(copies: Path) -> None:
    edit(copies / DEPARTMENTS_FILE, 'districts = ["Гагаринский"]', 'districts = ["Гагаринскй"]')
    with pytest.raises(ReferenceError, match=r"'uk_gagarinsky': unknown district 'Гагаринскй'"):
        load_reference(copies)


def test_invalid_toml(copies: Path) -> None:
    edit(copies / DEPARTMENTS_FILE, 'code = "vodokanal"', 'code = "vodokanal')
    with pytest.raises(ReferenceError, match=r"departments\.toml: not valid TOML"):
        load_reference(copies)


def test_missing_file(copies: Path) -> None:
    (copies / CATEGORIES_FILE).unlink()
    with pytest.raises(ReferenceError, match=r"categories\.toml: file not found"):
        load_reference(copies)


def test_fallback_category_required(copies: Path) -> None:
    edit(copies / CATEGORIES_FILE, 'code = "other"', 'code = "misc"')
    with pytest.raises(ReferenceError, match="'other' is required"):
        load_reference(copies)


def test_street_outside_sevastopol_names_the_line(copies: Path) -> None:
    edit(
        copies / STREETS_FILE,
        "улица Ленина,улица,Ленина,Ленинский,44.6085,33.5265",
        "улица Ленина,улица,Ленина,Ленинский,33.5265,44.6085",
    )
    with pytest.raises(ReferenceError) as caught:
        load_reference(copies)
    message = str(caught.value)
    assert message.startswith("streets.csv, line 4 ('улица Ленина')")
    assert "outside Sevastopol" in message


def test_street_bad_number_kind_district_and_columns(copies: Path) -> None:
    path = copies / STREETS_FILE
    original = path.read_text(encoding="utf-8")
    cases = {
        "улица Ленина,улица,Ленина,Ленинский,44.6085,abc,": "column 'lon' is not a number",
        "улица Ленина,улиц,Ленина,Ленинский,44.6085,33.5265,": "kind 'улиц' is not one of",
        "улица Ленина,улица,Ленина,Центральный,44.6085,33.5265,": "unknown district 'Центральный'",
        "улица Ленина,улица,Ленина,Ленинский,44.6085": "needs exactly 7 columns",
        "улица Ленина,улица,Ленина,Ленинский,44.6085,33.5265,ул. Ленина,x": "needs exactly 7 columns",
    }
    for row, problem in cases.items():
        path.write_text(original + row + "\n", encoding="utf-8")
        with pytest.raises(ReferenceError, match=problem):
            load_reference(copies)


def test_duplicate_street_in_a_district(copies: Path) -> None:
    path = copies / STREETS_FILE
    path.write_text(
        path.read_text(encoding="utf-8") + "улица Ленина,улица,Ленина,Ленинский,44.6,33.5,\n",
        encoding="utf-8",
    )
    with pytest.raises(ReferenceError, match="duplicate street in the same district"):
        load_reference(copies)


def test_wrong_street_header(copies: Path) -> None:
    edit(copies / STREETS_FILE, "name,kind,base,district,lat,lon,aliases", "name,kind,base,district,lat,lng,aliases")
    with pytest.raises(ReferenceError, match="streets.csv: header must be"):
        load_reference(copies)


def test_failed_load_changes_nothing(copies: Path) -> None:
    """A bad edit is refused without touching the files: the admin fixes and reloads."""
    edit(copies / CATEGORIES_FILE, 'department = "gorsvet"', 'department = "nobody"')
    before = {p.name: p.read_bytes() for p in copies.iterdir()}
    with pytest.raises(ReferenceError):
        load_reference(copies)
    assert {p.name: p.read_bytes() for p in copies.iterdir()} == before
    edit(copies / CATEGORIES_FILE, 'department = "nobody"', 'department = "gorsvet"')
    assert load_reference(copies).category("street_lighting").department == "gorsvet"
