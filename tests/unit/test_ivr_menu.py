"""Menu and prompt files: the shipped ones load; every mistake is reported with its place."""

from __future__ import annotations

import copy
import re
import wave
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from callcenter.ivr.menu import (
    ACTION_QUEUE,
    ACTION_RECORD,
    MenuError,
    WorkingHours,
    ivr_data_dir,
    load_menu,
    load_prompts,
    parse_menu,
    parse_prompts,
)
from callcenter.ivr.ports import TICKET_STATUSES
from callcenter.ivr.prompts import generate_prompts

PROMPTS = {
    name: f"Текст {name}"
    for name in (
        "hello",
        "main",
        "cats",
        "op",
        "bye",
        "sorry",
        "silence",
        "wrong",
        "night",
        "yours",
        "ticketmenu",
        "rec",
        "empty",
        "ok",
        "number",
        "enter",
        "notfound",
        "cb-intro",
        "cb-done",
        "cb-q",
        "cb-comment",
        "cb-yes",
        "cb-no",
        *(f"s-{status}" for status in TICKET_STATUSES),
    )
}

BASE: dict[str, Any] = {
    "version": 1,
    "sound_prefix": "1563/",
    "greeting": ["hello"],
    "start": "main",
    "operator_prompt": "op",
    "goodbye_prompt": "bye",
    "error_prompt": "sorry",
    "defaults": {"timeout_seconds": 5, "retries": 2, "no_input_prompt": "silence", "invalid_prompt": "wrong"},
    "hours": {"timezone": "Europe/Simferopol", "open": "08:00", "close": "20:00", "night_prompt": "night"},
    "known_caller": {"prompt": "yours", "menu": "ticket"},
    "menus": {
        "main": {"prompts": ["main"], "choices": {"1": {"action": "menu", "menu": "report"}, "0": {"action": "queue"}}},
        "report": {
            "prompts": ["cats"],
            "choices": {"1": {"action": "record", "category": "water_leak"}, "*": {"action": "menu", "menu": "main"}},
        },
        "ticket": {"prompts": ["ticketmenu"], "choices": {"2": {"action": "status"}, "9": {"action": "hangup"}}},
    },
    "recording": {"prompt": "rec", "empty_prompt": "empty", "accepted_prompt": "ok", "number_prompt": "number"},
    "status": {
        "prompt": "enter",
        "not_found_prompt": "notfound",
        "number_prompt": "number",
        "status_prompts": {status: f"s-{status}" for status in TICKET_STATUSES},
        "next": "ticket",
    },
    "callback": {
        "intro_prompt": "cb-intro",
        "done_prompt": "cb-done",
        "question_prompt": "cb-q",
        "comment_prompt": "cb-comment",
        "satisfied_prompt": "cb-yes",
        "not_satisfied_prompt": "cb-no",
        "operator_prompt": "op",
        "goodbye_prompt": "bye",
    },
}


def build(**changes: Any) -> str:
    """BASE with changes given as dotted paths (None deletes), dumped as YAML text."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(data, allow_unicode=True)


def problems_of(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(MenuError) as err:
        parse_menu(text, PROMPTS, source="menu.yaml", **kwargs)
    assert str(err.value).startswith("menu.yaml: ")
    return err.value.problems


def test_base_menu_is_valid() -> None:
    menu = parse_menu(build(), PROMPTS)
    assert menu.menus["report"].choices["1"].category == "water_leak"
    assert menu.menus["main"].choices["0"].action == ACTION_QUEUE
    assert menu.menus["main"].retries == 2 and menu.menus["main"].no_input_prompt == "silence"
    assert menu.recording.next is None and menu.status.next == "ticket"
    assert menu.sound("hello") == "1563/hello"


def test_shipped_menu_and_prompts_load() -> None:
    menu = load_menu()
    prompts = load_prompts()
    assert set(menu.prompts) == set(prompts)
    report = menu.menus["report"]
    codes = {key: choice.category for key, choice in report.choices.items() if choice.action == ACTION_RECORD}
    assert codes == {
        "1": "water_leak",
        "2": "no_water",
        "3": "no_electricity",
        "4": "no_heating",
        "5": "road_pothole",
        "6": "street_lighting",
        "7": "garbage",
        "8": "elevator",
        "9": "other",
    }
    assert set(menu.status.status_prompts) == set(TICKET_STATUSES)
    assert all(re.search("[а-яё]", text, re.IGNORECASE) for text in prompts.values())


def test_shipped_data_is_found_as_a_package_folder() -> None:
    names = {entry.name for entry in ivr_data_dir().iterdir()}
    assert {"menu.yaml", "prompts.yaml"} <= names


def test_every_shipped_prompt_is_used() -> None:
    text = (ivr_data_dir() / "menu.yaml").read_text(encoding="utf-8")
    unused = [name for name in load_prompts() if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    assert unused == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"menus__main__prompts": ["nope"]}, "menus.main.prompts[0]: prompt 'nope' is not listed in prompts.yaml"),
        ({"menus__main__choices__1__menu": "reprot"}, "menus.main.choices.\"1\".menu: no menu named 'reprot'"),
        ({"menus__main__choices__1": {"action": "jump"}}, "menus.main.choices.\"1\".action: 'jump' is not one of"),
        ({"menus__main__choices__1": {"action": "menu"}}, 'menus.main.choices."1".menu: is required for action: menu'),
        ({"menus__main__choices__11": {"action": "queue"}}, "menus.main.choices.\"11\": '11' is not a phone key"),
        ({"menus__main__choices__x": {"action": "queue"}}, "menus.main.choices.x: 'x' is not a phone key"),
        (
            {"menus__main__choices__0": {"action": "queue", "menu": "main"}},
            'menus.main.choices."0".menu: unknown setting',
        ),
        ({"menus__main__choices": {}}, "menus.main.choices: a menu needs at least one key"),
        ({"menus__main__timeout_secnds": 4}, "menus.main.timeout_secnds: unknown setting"),
        ({"menus__main__retries": 9}, "menus.main.retries: 9 is out of range 0..5"),
        ({"menus__main__retries": "two"}, "menus.main.retries: must be a whole number, not text"),
        (
            {"menus__main__on_exhausted": "voicemail"},
            "menus.main.on_exhausted: 'voicemail' is not one of: queue, hangup",
        ),
        ({"menus__hangup": {"prompts": ["main"], "choices": {"0": {"action": "queue"}}}}, "menus.hangup: menu name"),
        ({"menus__report__choices__1__category": "Water Leak"}, "menus.report.choices.\"1\".category: 'Water Leak'"),
        ({"start": "welcome"}, "start: no menu named 'welcome'"),
        ({"start": None}, "start: is required"),
        ({"known_caller__menu": "nowhere"}, "known_caller.menu: no menu named 'nowhere'"),
        ({"hours__night_menu": "nowhere"}, "hours.night_menu: no menu named 'nowhere'"),
        ({"status__next": "nowhere"}, "status.next: no menu named 'nowhere'"),
        ({"hours__timezone": "Europe/Sevastopol"}, "hours.timezone: unknown time zone 'Europe/Sevastopol'"),
        ({"hours__open": "8am"}, "hours.open: '8am' is not allowed here (expected a time \"HH:MM\" in quotes)"),
        ({"hours__days": ["monday"]}, "hours.days: must be a list of days from: mon"),
        ({"status__status_prompts__rejected": None}, "status.status_prompts.rejected: is required"),
        ({"status__status_prompts__lost": "s-new"}, "status.status_prompts.lost: unknown setting"),
        ({"recording__max_seconds": 3600}, "recording.max_seconds: 3600 is out of range 5..600"),
        ({"callback__question_prompt": "ask"}, "callback.question_prompt: prompt 'ask' is not listed in prompts.yaml"),
        ({"greting": ["hello"]}, "greting: unknown setting"),
        ({"version": 2}, "version: unsupported version 2"),
        ({"sound_prefix": "my sounds/"}, "sound_prefix: 'my sounds/' is not allowed here"),
    ],
)
def test_mistakes_are_named_by_place(changes: dict[str, Any], expected: str) -> None:
    problems = problems_of(build(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_unquoted_time_gets_a_hint() -> None:
    text = build().replace("close: '20:00'", "close: 20:00")
    assert "close: 20:00" in text
    assert problems_of(text) == ['hours.close: write the time in quotes, e.g. "20:00"']


def test_unquoted_digit_keys_are_accepted() -> None:
    text = build().replace("'1':", "1:").replace("'0':", "0:")
    menu = parse_menu(text, PROMPTS)
    assert set(menu.menus["main"].choices) == {"0", "1"}


def test_all_problems_are_listed_at_once() -> None:
    problems = problems_of(build(start="welcome", menus__main__retries=9, hours__timezone="Mars/Base"))
    assert len(problems) == 3
    with pytest.raises(MenuError, match=r"menu.yaml: 3 problems:\n  - "):
        parse_menu(
            build(start="welcome", menus__main__retries=9, hours__timezone="Mars/Base"), PROMPTS, source="menu.yaml"
        )


def test_unknown_category_when_codes_are_known() -> None:
    problems = problems_of(build(), known_categories={"no_water"})
    assert problems == ["menus.report.choices.\"1\".category: unknown category code 'water_leak'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("menus: [\n", "line 2, column 1: not valid YAML"),
        ("- a\n- b\n", "the file: must be a mapping of keys to values, not a list"),
    ],
)
def test_broken_yaml(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Greeting: Здравствуйте\n", "'Greeting': a prompt name uses lower-case latin letters"),
        ("greeting: ''\n", "greeting: the text to record is missing"),
        ("greeting: [a, b]\n", "greeting: the text to record is missing"),
        ("[]\n", "the file must be a mapping"),
    ],
)
def test_prompt_file_mistakes(text: str, expected: str) -> None:
    with pytest.raises(MenuError) as err:
        parse_prompts(text, source="prompts.yaml")
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


ZONE = ZoneInfo("Europe/Simferopol")


def hours(open_minute: int, close_minute: int, days: frozenset[int] = frozenset(range(7))) -> WorkingHours:
    return WorkingHours(
        timezone=ZONE,
        days=days,
        open_minute=open_minute,
        close_minute=close_minute,
        night_prompt="night",
        night_menu=None,
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 3, 4, 7, 59, tzinfo=ZONE), False),
        (datetime(2026, 3, 4, 8, 0, tzinfo=ZONE), True),
        (datetime(2026, 3, 4, 19, 59, tzinfo=ZONE), True),
        (datetime(2026, 3, 4, 20, 0, tzinfo=ZONE), False),
        (datetime(2026, 3, 4, 5, 30, tzinfo=ZoneInfo("UTC")), True),  # 08:30 in Simferopol (UTC+3)
    ],
)
def test_day_hours(when: datetime, expected: bool) -> None:
    assert hours(8 * 60, 20 * 60).is_open(when) is expected


def test_weekend_closed_and_overnight_shift() -> None:
    weekdays = hours(8 * 60, 20 * 60, days=frozenset({0, 1, 2, 3, 4}))
    assert not weekdays.is_open(datetime(2026, 3, 7, 12, 0, tzinfo=ZONE))  # Saturday
    overnight = hours(20 * 60, 8 * 60, days=frozenset({4}))  # Friday 20:00 to Saturday 08:00
    assert overnight.is_open(datetime(2026, 3, 6, 23, 0, tzinfo=ZONE))
    assert overnight.is_open(datetime(2026, 3, 7, 7, 0, tzinfo=ZONE))
    assert not overnight.is_open(datetime(2026, 3, 7, 21, 0, tzinfo=ZONE))
    assert hours(0, 24 * 60).is_open(datetime(2026, 3, 7, 3, 0, tzinfo=ZONE))


# --- placeholder prompts (real espeak-ng and sox) -----------------------------------------


async def test_generated_prompts_are_8khz_mono_16bit(tmp_path: Path) -> None:
    texts = {"greeting": "Здравствуйте! Вы позвонили в службу один пять шесть три.", "ticket-number": "Номер заявки:"}
    report = await generate_prompts(texts, tmp_path / "sounds", progress=False)
    assert sorted(p.name for p in report.generated) == ["greeting.wav", "ticket-number.wav"]
    for path in report.generated:
        with wave.open(str(path)) as sound:
            assert (sound.getframerate(), sound.getnchannels(), sound.getsampwidth()) == (8000, 1, 2)
            assert sound.getnframes() > 8000 * 0.5  # real speech, not an empty file
    assert sorted(p.name for p in (tmp_path / "sounds").iterdir()) == ["greeting.wav", "ticket-number.wav"]


async def test_existing_recordings_are_kept(tmp_path: Path) -> None:
    studio = tmp_path / "greeting.wav"
    studio.write_bytes(b"a speaker's real recording")
    report = await generate_prompts({"greeting": "Здравствуйте", "goodbye": "До свидания"}, tmp_path, progress=False)
    assert report.skipped == [studio] and [p.name for p in report.generated] == ["goodbye.wav"]
    assert studio.read_bytes() == b"a speaker's real recording"


async def test_sln_prompts_are_raw_samples(tmp_path: Path) -> None:
    report = await generate_prompts({"bye": "До свидания"}, tmp_path, fmt="sln", progress=False)
    [path] = report.generated
    data = path.read_bytes()
    assert path.suffix == ".sln" and len(data) % 2 == 0 and not data.startswith(b"RIFF")


async def test_unknown_prompt_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format must be one of wav, sln"):
        await generate_prompts({"bye": "До свидания"}, tmp_path, fmt="mp3", progress=False)


# --- the optional SMS consent question (after a voice report) -----------------------------


def test_consent_section_is_optional_and_read() -> None:
    assert parse_menu(build(), PROMPTS).consent is None  # absent section: no question
    menu = parse_menu(build(consent={"prompt": "hello", "key": "1", "timeout_seconds": 3}), PROMPTS)
    assert menu.consent is not None
    assert (menu.consent.prompt, menu.consent.key, menu.consent.timeout_seconds) == ("hello", "1", 3)
    assert menu.consent.recorded_prompt is None
    unquoted = parse_menu(build(consent={"prompt": "hello", "key": 2, "recorded_prompt": "bye"}), PROMPTS).consent
    assert unquoted is not None and unquoted.key == "2" and unquoted.recorded_prompt == "bye"


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"key": "1"}, "consent.prompt: is required"),
        ({"prompt": "ask-sms"}, "consent.prompt: prompt 'ask-sms' is not listed in prompts.yaml"),
        ({"prompt": "hello", "key": "12"}, "consent.key: '12' is not allowed here (expected one phone key"),
        ({"prompt": "hello", "timeout_seconds": 90}, "consent.timeout_seconds: 90 is out of range 1..30"),
        ({"prompt": "hello", "recorded_prompt": "nope"}, "consent.recorded_prompt: prompt 'nope' is not listed"),
        ({"prompt": "hello", "retries": 2}, "consent.retries: unknown setting"),
    ],
)
def test_consent_mistakes_are_named_by_place(consent: dict[str, Any], expected: str) -> None:
    problems = problems_of(build(consent=consent))
    assert any(p.startswith(expected) for p in problems), problems


def test_shipped_menu_asks_for_sms_consent() -> None:
    menu = load_menu()
    assert menu.consent is not None and menu.consent.key == "1"
    assert menu.prompts[menu.consent.prompt] == "Чтобы получать СМС о ходе работ по заявке, нажмите 1."
