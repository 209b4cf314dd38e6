"""No empty answers: the per-category rule for «Выполнено» (pure domain) and its reference flags."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from callcenter.domain.done_evidence import (
    DEFAULT_DONE_RULE,
    NOTE_MISSING,
    DoneRule,
    check_done_evidence,
    photo_is_public,
)
from callcenter.domain.errors import IllegalTransition, MissingField
from callcenter.domain.tickets import Actor, Role, Status, TicketState, plan_transition
from callcenter.reference import CATEGORIES_FILE, DEPARTMENTS_FILE, STREETS_FILE, ReferenceError, load_reference

EXECUTOR = Actor(role=Role.EXECUTOR, name="Дорожная служба", department="road_service")
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")
POTHOLE = DoneRule(note=True, photo=True, photo_public=True, category="Яма на дороге")
IN_WORK = TicketState("2600001", Status.IN_PROGRESS, "road_service")


def test_the_default_rule_wants_a_note_and_no_photo() -> None:
    assert DEFAULT_DONE_RULE == DoneRule(note=True, photo=False, photo_public=False)
    check_done_evidence(DEFAULT_DONE_RULE, note="Заменили трубу", photos=0)
    with pytest.raises(MissingField) as err:
        check_done_evidence(DEFAULT_DONE_RULE, note="   ", photos=3)
    assert err.value.field == "note" and err.value.message == NOTE_MISSING


def test_a_photo_rule_refuses_without_a_photo_naming_the_category() -> None:
    with pytest.raises(MissingField) as err:
        check_done_evidence(POTHOLE, note="Заделали яму", photos=0)
    assert err.value.field == "photo"
    assert err.value.message == (
        "Приложите фото результата работ: по категории «Яма на дороге» заявку нельзя отметить выполненной без фото"
    )
    check_done_evidence(POTHOLE, note="Заделали яму", photos=1)


def test_the_note_is_asked_for_first_when_both_are_missing() -> None:
    with pytest.raises(MissingField) as err:
        check_done_evidence(POTHOLE, note=None, photos=0)
    assert err.value.field == "note"


def test_a_category_may_drop_the_note_but_keep_the_photo() -> None:
    photo_only = DoneRule(note=False, photo=True, category="Стихийная свалка")
    check_done_evidence(photo_only, note=None, photos=1)
    with pytest.raises(MissingField, match="без фото"):
        check_done_evidence(photo_only, note=None, photos=0)
    check_done_evidence(DoneRule(note=False), note="", photos=0)


def test_the_photo_is_public_only_where_the_category_says_and_the_note_is_shown() -> None:
    assert photo_is_public(POTHOLE, note_public=True)
    assert not photo_is_public(POTHOLE, note_public=False)
    assert not photo_is_public(DoneRule(photo=True), note_public=True)


def test_plan_transition_applies_the_rule_to_done_only() -> None:
    with pytest.raises(MissingField, match="без фото"):
        plan_transition(IN_WORK, Status.DONE, EXECUTOR, note="Заделали", done_rule=POTHOLE)
    plan = plan_transition(IN_WORK, Status.DONE, EXECUTOR, note="Заделали", done_rule=POTHOLE, photos=1)
    assert plan is not None and plan.to_status is Status.DONE and plan.note == "Заделали"
    # Operators marking done on an executor's word are held to the same rule.
    with pytest.raises(MissingField):
        plan_transition(IN_WORK, Status.DONE, OPERATOR, note="Со слов исполнителя", done_rule=POTHOLE)
    # Without a rule: today's behaviour, the note is required.
    with pytest.raises(MissingField, match="Опишите, что сделано"):
        plan_transition(IN_WORK, Status.DONE, EXECUTOR)
    # A note-free category moves without one.
    assert plan_transition(IN_WORK, Status.DONE, EXECUTOR, done_rule=DoneRule(note=False)) is not None
    # The rule never makes an illegal move legal, nor touches other moves.
    dispatched = TicketState("2600002", Status.DISPATCHED, "road_service")
    with pytest.raises(IllegalTransition):
        plan_transition(dispatched, Status.DONE, EXECUTOR, note="x", done_rule=POTHOLE, photos=1)
    assert plan_transition(dispatched, Status.IN_PROGRESS, EXECUTOR, done_rule=POTHOLE) is not None


# ---------------------------------------------------------------- reference flags


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    package = resources.files("callcenter.reference")
    for name in (DEPARTMENTS_FILE, CATEGORIES_FILE, STREETS_FILE):
        with resources.as_file(package.joinpath(name)) as source:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_shipped_categories_require_photos_outdoors_only() -> None:
    reference = load_reference()
    with_photo = {c.code for c in reference.categories if c.done_requires_photo}
    assert {"road_pothole", "trees", "garbage", "illegal_dump"} <= with_photo
    assert not with_photo & {"elevator", "no_heating", "water_leak", "noise", "other"}
    assert all(c.done_requires_note for c in reference.categories)
    # Public photos only of the outdoors, never of a home: every public one is a required one here.
    assert {c.code for c in reference.categories if c.done_photo_public} <= with_photo
    assert reference.done_rule("road_pothole") == DoneRule(True, True, True, "Яма на дороге")
    assert reference.done_rule("elevator") == DoneRule(True, False, False, "Не работает лифт")
    assert reference.done_rule(None) == DEFAULT_DONE_RULE
    assert reference.done_rule("no_such_category") == DEFAULT_DONE_RULE


def test_an_admin_can_set_the_flags_and_a_bad_value_names_the_entry(copies: Path) -> None:
    path = copies / CATEGORIES_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            'code = "elevator"\n', 'code = "elevator"\ndone_requires_note = false\ndone_requires_photo = true\n'
        ),
        encoding="utf-8",
    )
    rule = load_reference(copies).done_rule("elevator")
    assert rule.note is False and rule.photo is True and rule.photo_public is False
    path.write_text(
        text.replace('code = "elevator"\n', 'code = "elevator"\ndone_requires_photo = "да"\n'), encoding="utf-8"
    )
    with pytest.raises(ReferenceError, match=r"'elevator': field 'done_requires_photo' must be true or false"):
        load_reference(copies)
