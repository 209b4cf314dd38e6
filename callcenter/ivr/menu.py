"""IVR menus as data: load ``ivr/menu.yaml`` and ``ivr/prompts.yaml`` into frozen dataclasses.

A supervisor edits the YAML; the program checks it at start and refuses to run with a
list of every problem, each naming its place (``menus.report.choices."1".category``).
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from callcenter.ivr.outage import OutageDef, read_outage
from callcenter.ivr.ports import TICKET_STATUSES

DATA_PACKAGE = "callcenter_ivr"
MENU_FILE = "menu.yaml"
PROMPTS_FILE = "prompts.yaml"

ACTION_MENU = "menu"
ACTION_RECORD = "record"
ACTION_STATUS = "status"
ACTION_QUEUE = "queue"
ACTION_HANGUP = "hangup"
ACTIONS = (ACTION_MENU, ACTION_RECORD, ACTION_STATUS, ACTION_QUEUE, ACTION_HANGUP)
FALLBACKS = (ACTION_QUEUE, ACTION_HANGUP)
END = "hangup"  # a "next" that ends the call instead of naming a menu

KEYS = "0123456789*#"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_PLACE_KEY_RE = re.compile(r"^[a-z_][a-z0-9_]*(\[\d+\])?$")  # shown unquoted in a place
_CONSENT_KEY_RE = re.compile(r"^[0-9*#]$")  # one phone key
_MISSING = object()


class MenuError(ValueError):
    """The menu or prompt file is wrong; ``problems`` lists each problem with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"{source}: {count}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Choice:
    """What one key does in a menu."""

    key: str
    action: str
    menu: str | None = None  # for "menu"
    category: str | None = None  # for "record"


@dataclass(frozen=True)
class MenuDef:
    """One menu: prompts played (keys interrupt them), then a wait for one key."""

    id: str
    prompts: tuple[str, ...]
    choices: Mapping[str, Choice]
    timeout_seconds: float
    retries: int
    no_input_prompt: str | None
    invalid_prompt: str | None
    on_exhausted: str


@dataclass(frozen=True)
class WorkingHours:
    """When operators answer; outside these hours the night message plays."""

    timezone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    open_minute: int
    close_minute: int  # 1440 = 24:00; close <= open means the hours run past midnight
    night_prompt: str
    night_menu: str | None  # None: after the night message the call ends

    def is_open(self, now: datetime) -> bool:
        """True when ``now`` (aware) falls in working hours in the service's time zone."""
        local = now.astimezone(self.timezone)
        minute = local.hour * 60 + local.minute
        if self.open_minute < self.close_minute:
            return local.weekday() in self.days and self.open_minute <= minute < self.close_minute
        if minute >= self.open_minute:  # the evening part of an overnight shift
            return local.weekday() in self.days
        return minute < self.close_minute and (local.weekday() - 1) % 7 in self.days


@dataclass(frozen=True)
class RecordingDef:
    """The voice report: prompt, limits, and what the caller hears afterwards."""

    prompt: str
    max_seconds: int
    silence_seconds: int
    retries: int
    empty_prompt: str
    accepted_prompt: str
    number_prompt: str
    next: str | None  # a menu, or None: the call ends


@dataclass(frozen=True)
class StatusDef:
    """Status lookup by a ticket number typed on the keypad."""

    prompt: str
    max_digits: int
    timeout_seconds: float
    retries: int
    no_input_prompt: str
    invalid_prompt: str
    not_found_prompt: str
    number_prompt: str
    status_prompts: Mapping[str, str]
    next: str | None
    on_exhausted: str


@dataclass(frozen=True)
class KnownCallerDef:
    """A caller with an open ticket hears it first, then gets this menu."""

    prompt: str
    menu: str


@dataclass(frozen=True)
class CallbackDef:
    """The satisfaction call made when a ticket is done."""

    intro_prompt: str
    done_prompt: str
    question_prompt: str
    timeout_seconds: float
    retries: int
    no_input_prompt: str
    invalid_prompt: str
    comment_prompt: str
    comment_max_seconds: int
    comment_silence_seconds: int
    satisfied_prompt: str
    not_satisfied_prompt: str
    operator_prompt: str
    goodbye_prompt: str


@dataclass(frozen=True)
class EscalationDef:
    """The escalation call to a department's duty phone (ivr/scripts/escalation.py)."""

    intro_prompt: str = "escalation-intro"  # "... не принята вовремя. Номер заявки" + the number
    intro_done_prompt: str = "escalation-intro-done"
    question_prompt: str = "escalation-question"  # "... нажмите 1"
    question_done_prompt: str = "escalation-question-done"
    accepted_prompt: str = "escalation-accepted"
    acknowledged_prompt: str = "escalation-acknowledged"
    not_accepted_prompt: str = "escalation-not-accepted"
    timeout_seconds: float = 8
    retries: int = 1


@dataclass(frozen=True)
class ConsentDef:
    """After a voice report: one question, whether the caller wants SMS about the ticket (152-ФЗ).

    Asked once, with a short wait; no key or another key means no consent. Not asked when the
    caller's number is withheld (nothing to send to)."""

    prompt: str  # "Чтобы получать СМС о ходе работ по заявке, нажмите 1"
    key: str
    timeout_seconds: float
    recorded_prompt: str | None  # "Согласие записано", or None: straight on


@dataclass(frozen=True)
class Menu:
    """The whole IVR definition, validated."""

    sound_prefix: str
    greeting: tuple[str, ...]
    start: str
    operator_prompt: str
    goodbye_prompt: str
    error_prompt: str
    menus: Mapping[str, MenuDef]
    hours: WorkingHours
    known_caller: KnownCallerDef
    recording: RecordingDef
    status: StatusDef
    callback: CallbackDef
    prompts: Mapping[str, str]  # every prompt name -> its Russian text
    escalation: EscalationDef = EscalationDef()
    outage: OutageDef | None = None  # outage mode (ivr/outage.py); None when the section is absent
    consent: ConsentDef | None = None  # the SMS question after a report; None when the section is absent

    def sound(self, prompt: str) -> str:
        """The sound name Asterisk plays for a prompt (prefix + name, no extension)."""
        return self.sound_prefix + prompt


# --- loading ----------------------------------------------------------------------------


def ivr_data_dir() -> Traversable:
    """The folder holding menu.yaml and prompts.yaml (the installed ``callcenter_ivr``)."""
    try:
        return importlib.resources.files(DATA_PACKAGE)
    except ModuleNotFoundError:
        # A source checkout that is not pip-installed: the top-level ivr/ folder.
        return Path(__file__).resolve().parents[2] / "ivr"


def load_menu(
    menu_file: Traversable | Path | None = None,
    prompts_file: Traversable | Path | None = None,
    *,
    known_categories: Collection[str] | None = None,
) -> Menu:
    """Read and validate the menu and the prompt list (blocking: call at start-up)."""
    data = ivr_data_dir()
    menu_file = menu_file if menu_file is not None else data / MENU_FILE
    prompts_file = prompts_file if prompts_file is not None else data / PROMPTS_FILE
    prompts = parse_prompts(prompts_file.read_text(encoding="utf-8"), source=_name(prompts_file))
    return parse_menu(
        menu_file.read_text(encoding="utf-8"), prompts, source=_name(menu_file), known_categories=known_categories
    )


def load_prompts(prompts_file: Traversable | Path | None = None) -> dict[str, str]:
    """Read and validate the prompt list: name -> Russian text to record."""
    prompts_file = prompts_file if prompts_file is not None else ivr_data_dir() / PROMPTS_FILE
    return parse_prompts(prompts_file.read_text(encoding="utf-8"), source=_name(prompts_file))


def _name(file: Traversable | Path) -> str:
    return str(file) if isinstance(file, Path) else f"{DATA_PACKAGE}/{file.name}"


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise MenuError(source, [f"{where}not valid YAML ({problem})"]) from err


def parse_prompts(text: str, *, source: str = PROMPTS_FILE) -> dict[str, str]:
    """Validate prompts.yaml text: a mapping of prompt name to non-empty Russian text."""
    data = _load_yaml(text, source)
    if not isinstance(data, dict) or not data:
        raise MenuError(source, ["the file must be a mapping of prompt name to the text to record"])
    problems = []
    for name, text_value in data.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(f"{name!r}: a prompt name uses lower-case latin letters, digits, '-' and '_'")
        elif not isinstance(text_value, str) or not text_value.strip():
            problems.append(f"{name}: the text to record is missing")
    if problems:
        raise MenuError(source, problems)
    return {name: value.strip() for name, value in data.items()}


def parse_menu(
    text: str, prompts: Mapping[str, str], *, source: str = MENU_FILE, known_categories: Collection[str] | None = None
) -> Menu:
    """Validate menu.yaml text against the prompt list; raise MenuError listing every problem."""
    data = _load_yaml(text, source)
    problems: list[str] = []
    root = _Section(data if data is not None else {}, "", problems, prompts)
    menu = _build_menu(root, known_categories)
    if problems:
        raise MenuError(source, problems)
    assert menu is not None  # every None path above adds a problem
    return menu


# --- validation helpers -------------------------------------------------------------


class _Section:
    """A mapping being read at a place in the file; collects problems instead of raising."""

    def __init__(self, data: Any, place: str, problems: list[str], prompts: Mapping[str, str]) -> None:
        self.place = place
        self.problems = problems
        self.prompts = prompts
        self.used: set[str] = set()
        if not isinstance(data, dict):
            self.error("", f"must be a mapping of keys to values, not {_kind(data)}")
            data = {}
        self.data: dict[Any, Any] = data

    def at(self, key: Any) -> str:
        key_text = str(key) if _PLACE_KEY_RE.match(str(key)) else f'"{key}"'
        return f"{self.place}.{key_text}" if self.place else key_text

    def error(self, key: Any, message: str) -> None:
        place = self.at(key) if key != "" else (self.place or "the file")
        self.problems.append(f"{place}: {message}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if default is _MISSING:
                self.error(key, "is required")
            return None if default is _MISSING else default
        return self.data[key]

    def section(self, key: str) -> _Section:
        return _Section(self.raw(key, {}), self.at(key), self.problems, self.prompts)

    def text(self, key: str, default: Any = _MISSING, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self.raw(key, default)
        if value is None or value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            self.error(key, f"must be text, not {_kind(value)}")
            return None
        if pattern is not None and not pattern.match(value):
            self.error(key, f"{value!r} is not allowed here (expected {_describe(pattern)})")
            return None
        return value

    def prompt(self, key: str, default: Any = _MISSING) -> str | None:
        name = self.text(key, default)
        return self._known_prompt(key, name)

    def _known_prompt(self, key: Any, name: str | None) -> str | None:
        if name is not None and name not in self.prompts:
            self.error(key, f"prompt {name!r} is not listed in prompts.yaml")
            return None
        return name

    def prompt_list(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            if value is not None:
                self.error(key, "must be a list of prompt names")
            return ()
        names = [self._known_prompt(f"{key}[{i}]", n if isinstance(n, str) else None) for i, n in enumerate(value)]
        if any(not isinstance(n, str) for n in value):
            self.error(key, "every item must be a prompt name")
        return tuple(n for n in names if n)

    def number(self, key: str, default: Any, low: float, high: float, integer: bool = True) -> Any:
        value = self.raw(key, default)
        wanted = int if integer else (int, float)
        if value is None or isinstance(value, bool) or not isinstance(value, wanted):
            if value is not None:
                self.error(key, f"must be {'a whole number' if integer else 'a number'}, not {_kind(value)}")
            return default if default is not _MISSING else None
        if not low <= value <= high:
            self.error(key, f"{value} is out of range {low:g}..{high:g}")
            return default if default is not _MISSING else None
        return value

    def choice_of(self, key: str, options: Collection[str], default: Any = _MISSING) -> str | None:
        value = self.text(key, default)
        if value is not None and value not in options:
            self.error(key, f"{value!r} is not one of: {', '.join(options)}")
            return None
        return value

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                self.error(key, f"unknown setting (known here: {', '.join(sorted(self.used)) or 'none'})")


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "yes/no",
        int: "a number",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def _describe(pattern: re.Pattern[str]) -> str:
    return {
        _NAME_RE.pattern: "lower-case latin letters, digits, '-' and '_'",
        _ID_RE.pattern: "lower-case latin letters, digits and '_', starting with a letter",
        _TIME_RE.pattern: 'a time "HH:MM" in quotes',
        _CONSENT_KEY_RE.pattern: 'one phone key in quotes, e.g. "1"',
    }.get(pattern.pattern, pattern.pattern)


# --- building the dataclasses -----------------------------------------------------------


def _build_menu(root: _Section, known_categories: Collection[str] | None) -> Menu | None:
    version = root.raw("version", 1)
    if version != 1:
        root.error("version", f"unsupported version {version!r} (this program reads version 1)")
    defaults = _read_defaults(root.section("defaults"))
    menus_section = root.section("menus")
    menus = {key: _read_menu(menus_section, key, defaults, known_categories) for key in menus_section.data}
    parts = dict(
        sound_prefix=root.text("sound_prefix", "", re.compile(r'^[^\s"\\]*$')),
        greeting=root.prompt_list("greeting"),
        start=root.text("start"),
        operator_prompt=root.prompt("operator_prompt"),
        goodbye_prompt=root.prompt("goodbye_prompt"),
        error_prompt=root.prompt("error_prompt"),
        hours=_read_hours(root.section("hours")),
        known_caller=_read_known_caller(root.section("known_caller")),
        recording=_read_recording(root.section("recording")),
        status=_read_status(root.section("status"), defaults),
        callback=_read_callback(root.section("callback"), defaults),
        escalation=_read_escalation(root.section("escalation")),
        outage=read_outage(root.section("outage")) if "outage" in root.data else None,
        consent=_read_consent(root.section("consent")) if "consent" in root.data else None,
    )
    root.finish()
    _check_targets(root, menus, parts)
    if root.problems:
        return None
    return Menu(menus=menus, prompts=dict(root.prompts), **parts)


def _read_defaults(section: _Section) -> dict[str, Any]:
    defaults = dict(
        timeout_seconds=section.number("timeout_seconds", 5, 1, 60, integer=False),
        retries=section.number("retries", 2, 0, 5),
        no_input_prompt=section.prompt("no_input_prompt", None),
        invalid_prompt=section.prompt("invalid_prompt", None),
        on_exhausted=section.choice_of("on_exhausted", FALLBACKS, ACTION_QUEUE),
    )
    section.finish()
    return defaults


def _read_menu(
    menus: _Section, key: Any, defaults: Mapping[str, Any], known_categories: Collection[str] | None
) -> MenuDef | None:
    if not isinstance(key, str) or not _ID_RE.match(key) or key == END:
        menus.error(key, f"menu name {key!r}: use {_describe(_ID_RE)}, not {END!r}")
    section = _Section(menus.data[key], menus.at(key), menus.problems, menus.prompts)
    prompts = section.prompt_list("prompts")
    choices_section = section.section("choices")
    choices = {}
    for raw_key in choices_section.data:
        choice = _read_choice(choices_section, raw_key, known_categories)
        if choice is not None:
            choices[choice.key] = choice
    if not choices_section.data:
        section.error("choices", "a menu needs at least one key")
    menu = MenuDef(
        id=str(key),
        prompts=prompts,
        choices=choices,
        timeout_seconds=section.number("timeout_seconds", defaults["timeout_seconds"], 1, 60, integer=False),
        retries=section.number("retries", defaults["retries"], 0, 5),
        no_input_prompt=section.prompt("no_input_prompt", defaults["no_input_prompt"]),
        invalid_prompt=section.prompt("invalid_prompt", defaults["invalid_prompt"]),
        on_exhausted=section.choice_of("on_exhausted", FALLBACKS, defaults["on_exhausted"]),
    )
    section.finish()
    return menu


def _read_choice(choices: _Section, raw_key: Any, known_categories: Collection[str] | None) -> Choice | None:
    # YAML reads an unquoted 1 as a number; accept it, as a supervisor would expect.
    key = str(raw_key) if isinstance(raw_key, (int, str)) and not isinstance(raw_key, bool) else None
    if key is None or len(key) != 1 or key not in KEYS:
        choices.error(raw_key, f'{raw_key!r} is not a phone key (one of {KEYS}; quote "*" and "#")')
        return None
    section = _Section(choices.data[raw_key], choices.at(key), choices.problems, choices.prompts)
    action = section.choice_of("action", ACTIONS)
    target = section.text("menu", None) if action == ACTION_MENU else None
    if action == ACTION_MENU and target is None:
        section.error("menu", "is required for action: menu (the menu to go to)")
    category = section.text("category", None, _ID_RE) if action == ACTION_RECORD else None
    if category is not None and known_categories is not None and category not in known_categories:
        section.error("category", f"unknown category code {category!r}")
    section.finish()
    return Choice(key=key, action=action, menu=target, category=category) if action else None


def _read_time(section: _Section, key: str) -> int:
    value = section.raw(key)
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 20:00 unquoted as the number 1200 (base 60).
        section.error(key, f'write the time in quotes, e.g. "{value // 60:02d}:{value % 60:02d}"')
        return 0
    text = section.text(key, None, _TIME_RE) if value is not None else None
    if text is None:
        return 0
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _read_hours(section: _Section) -> WorkingHours | None:
    zone = None
    zone_name = section.text("timezone", "Europe/Simferopol")
    try:
        zone = ZoneInfo(zone_name) if zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        section.error("timezone", f"unknown time zone {zone_name!r} (e.g. Europe/Simferopol)")
    days = section.raw("days", list(DAY_NAMES))
    if not isinstance(days, list) or not days or any(d not in DAY_NAMES for d in days):
        section.error("days", f"must be a list of days from: {', '.join(DAY_NAMES)}")
        days = []
    hours = WorkingHours(
        timezone=zone or ZoneInfo("UTC"),
        days=frozenset(DAY_NAMES.index(d) for d in days),
        open_minute=_read_time(section, "open"),
        close_minute=_read_time(section, "close"),
        night_prompt=section.prompt("night_prompt"),
        night_menu=section.text("night_menu", None),
    )
    section.finish()
    return hours


def _read_known_caller(section: _Section) -> KnownCallerDef:
    known = KnownCallerDef(prompt=section.prompt("prompt"), menu=section.text("menu"))
    section.finish()
    return known


def _read_recording(section: _Section) -> RecordingDef:
    recording = RecordingDef(
        prompt=section.prompt("prompt"),
        max_seconds=section.number("max_seconds", 120, 5, 600),
        silence_seconds=section.number("silence_seconds", 5, 1, 30),
        retries=section.number("retries", 1, 0, 3),
        empty_prompt=section.prompt("empty_prompt"),
        accepted_prompt=section.prompt("accepted_prompt"),
        number_prompt=section.prompt("number_prompt"),
        next=_next_menu(section),
    )
    section.finish()
    return recording


def _read_status(section: _Section, defaults: Mapping[str, Any]) -> StatusDef:
    status = StatusDef(
        prompt=section.prompt("prompt"),
        max_digits=section.number("max_digits", 10, 1, 20),
        timeout_seconds=section.number("timeout_seconds", 10, 1, 60, integer=False),
        retries=section.number("retries", defaults["retries"], 0, 5),
        no_input_prompt=section.prompt("no_input_prompt", defaults["no_input_prompt"]),
        invalid_prompt=section.prompt("invalid_prompt", defaults["invalid_prompt"]),
        not_found_prompt=section.prompt("not_found_prompt"),
        number_prompt=section.prompt("number_prompt"),
        status_prompts=_read_status_prompts(section.section("status_prompts")),
        next=_next_menu(section),
        on_exhausted=section.choice_of("on_exhausted", FALLBACKS, defaults["on_exhausted"]),
    )
    section.finish()
    return status


def _next_menu(section: _Section) -> str | None:
    value = section.text("next", END)
    return None if value == END else value


def _read_status_prompts(section: _Section) -> dict[str, str]:
    prompts = {status: section.prompt(status) for status in TICKET_STATUSES}
    section.finish()
    return {status: name for status, name in prompts.items() if name}


def _read_callback(section: _Section, defaults: Mapping[str, Any]) -> CallbackDef:
    names = (
        "intro_prompt",
        "done_prompt",
        "question_prompt",
        "comment_prompt",
        "satisfied_prompt",
        "not_satisfied_prompt",
        "operator_prompt",
        "goodbye_prompt",
    )
    callback = CallbackDef(
        **{name: section.prompt(name) for name in names},
        no_input_prompt=section.prompt("no_input_prompt", defaults["no_input_prompt"]),
        invalid_prompt=section.prompt("invalid_prompt", defaults["invalid_prompt"]),
        timeout_seconds=section.number("timeout_seconds", 6, 1, 60, integer=False),
        retries=section.number("retries", 1, 0, 5),
        comment_max_seconds=section.number("comment_max_seconds", 60, 5, 600),
        comment_silence_seconds=section.number("comment_silence_seconds", 3, 1, 30),
    )
    section.finish()
    return callback


def _read_escalation(section: _Section) -> EscalationDef:
    """The escalation call's prompts; a menu without this section keeps the shipped names."""
    shipped = EscalationDef()
    if not section.data:  # a menu from before escalations (or a test's): the shipped prompt names
        section.finish()
        return shipped
    names = (
        "intro_prompt",
        "intro_done_prompt",
        "question_prompt",
        "question_done_prompt",
        "accepted_prompt",
        "acknowledged_prompt",
        "not_accepted_prompt",
    )
    escalation = EscalationDef(
        **{name: section.prompt(name, getattr(shipped, name)) for name in names},
        timeout_seconds=section.number("timeout_seconds", 8, 1, 60, integer=False),
        retries=section.number("retries", 1, 0, 5),
    )
    section.finish()
    return escalation


def _read_consent(section: _Section) -> ConsentDef:
    consent = ConsentDef(
        prompt=section.prompt("prompt") or "",
        key=_consent_key(section),
        timeout_seconds=section.number("timeout_seconds", 4, 1, 30, integer=False),
        recorded_prompt=section.prompt("recorded_prompt", None),
    )
    section.finish()
    return consent


def _consent_key(section: _Section) -> str:
    raw = section.data.get("key")
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 9:  # key: 1 unquoted, as in choices
        section.used.add("key")
        return str(raw)
    return section.text("key", "1", _CONSENT_KEY_RE) or "1"


def _check_targets(root: _Section, menus: Mapping[str, MenuDef | None], parts: Mapping[str, Any]) -> None:
    """Every menu a key, a 'next' or the start names must exist."""
    for place, target in _targets(menus, parts):
        if target is not None and target not in menus:
            root.problems.append(f"{place}: no menu named {target!r} (menus: {', '.join(map(str, menus)) or 'none'})")


def _targets(menus: Mapping[str, MenuDef | None], parts: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    yield "start", parts["start"]
    for attr, owner in (("menu", "known_caller"), ("night_menu", "hours"), ("next", "recording"), ("next", "status")):
        value = getattr(parts[owner], attr, None) if parts[owner] is not None else None
        yield f"{owner}.{attr}", value
    for menu in menus.values():
        for choice in menu.choices.values() if menu else ():
            if choice.menu is not None:
                yield f'menus.{menu.id}.choices."{choice.key}".menu', choice.menu
