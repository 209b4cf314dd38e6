"""IVR flows end to end: the real AgiServer and scripts, a fake Asterisk on a real socket,
and an in-memory IvrBackend (our own port) that records what the IVR asked of it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import EngineSettings, RecordingSettings
from callcenter.ivr.menu import Menu, parse_menu, parse_prompts
from callcenter.ivr.ports import TicketBrief
from callcenter.ivr.scripts import IvrDependencies, build_routes
from tests.protocol.agi_peer import DEAD, HANGUP, FakeAsterisk, PeerResult, Step, environment_lines, step

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
CALLER = "+79780001122"
UNIQUEID = "1795979627.17"
ESC = '"0123456789*#"'
ZONE = ZoneInfo("Europe/Simferopol")
DAYTIME = datetime(2026, 3, 4, 12, 0, tzinfo=ZONE)  # a Wednesday, in working hours
NIGHT = datetime(2026, 3, 4, 23, 30, tzinfo=ZONE)
WAV = b"RIFF" + b"\0" * 40 + b"voice" * 100

PROMPTS = """
hello: "Здравствуйте"
main: "Сообщить о проблеме — 1, статус — 2, оператор — 0"
cats: "Протечка — 1, нет воды — 2"
op: "Соединяю с оператором"
bye: "До свидания"
sorry: "Техническая ошибка"
silence: "Вы ничего не выбрали"
wrong: "Такого варианта нет"
night: "Операторы не работают"
nightmenu: "Сообщение — 1, выход — 9"
yours: "У вас есть открытая заявка"
ticketmenu: "Новая проблема — 1, другая заявка — 2, оператор — 0, выход — 9"
beep-after: "Говорите после сигнала"
empty: "Мы ничего не услышали"
accepted: "Сообщение записано"
number: "Номер заявки"
enter: "Введите номер заявки"
digits-only: "Только цифры"
notfound: "Заявка не найдена"
s-new: "Новая"
s-dispatched: "Передана"
s-in_progress: "В работе"
s-done: "Выполнена"
s-closed: "Закрыта"
s-archived: "В архиве"
s-rejected: "Отклонена"
cb-intro: "Ваша заявка номер"
cb-done: "выполнена"
cb-question: "Довольны — 1, нет — 2, оператор — 0"
cb-comment: "Расскажите, что не так"
cb-yes: "Спасибо"
cb-no: "Заявка возвращена в работу"
sms-ask: "Чтобы получать СМС о ходе работ по заявке, нажмите 1"
sms-ok: "Хорошо, будем сообщать по СМС"
"""

MENU = """
version: 1
sound_prefix: "t/"
greeting: [hello]
start: main
operator_prompt: op
goodbye_prompt: bye
error_prompt: sorry
defaults: {timeout_seconds: 5, retries: 1, no_input_prompt: silence, invalid_prompt: wrong, on_exhausted: queue}
hours: {timezone: Europe/Simferopol, days: [mon, tue, wed, thu, fri], open: "08:00", close: "20:00",
        night_prompt: night, night_menu: night}
known_caller: {prompt: yours, menu: ticket}
menus:
  main:
    prompts: [main]
    choices: {"1": {action: menu, menu: report}, "2": {action: status}, "0": {action: queue}}
  report:
    prompts: [cats]
    choices:
      "1": {action: record, category: water_leak}
      "2": {action: record, category: no_water}
      "0": {action: queue}
      "*": {action: menu, menu: main}
  ticket:
    prompts: [ticketmenu]
    choices: {"1": {action: menu, menu: report}, "2": {action: status}, "0": {action: queue}, "9": {action: hangup}}
  night:
    prompts: [nightmenu]
    on_exhausted: hangup
    choices: {"1": {action: menu, menu: report}, "9": {action: hangup}}
recording: {prompt: beep-after, max_seconds: 60, silence_seconds: 4, retries: 1, empty_prompt: empty,
            accepted_prompt: accepted, number_prompt: number, next: hangup}
status:
  prompt: enter
  max_digits: 8
  timeout_seconds: 10
  retries: 1
  invalid_prompt: digits-only
  not_found_prompt: notfound
  number_prompt: number
  status_prompts: {new: s-new, dispatched: s-dispatched, in_progress: s-in_progress, done: s-done,
                   closed: s-closed, archived: s-archived, rejected: s-rejected}
  next: ticket
callback:
  intro_prompt: cb-intro
  done_prompt: cb-done
  question_prompt: cb-question
  timeout_seconds: 6
  retries: 1
  comment_prompt: cb-comment
  comment_max_seconds: 30
  comment_silence_seconds: 3
  satisfied_prompt: cb-yes
  not_satisfied_prompt: cb-no
  operator_prompt: op
  goodbye_prompt: bye
"""


class BackendDown(Exception):
    """What a failing store raises in these tests."""


@dataclass
class InMemoryBackend:
    """An IvrBackend kept in memory that records every call (a fake of our own port)."""

    tickets: dict[str, TicketBrief] = field(default_factory=dict)
    open_by_phone: dict[str, list[TicketBrief]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    lookups: list[str] = field(default_factory=list)
    submits: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, str]] = field(default_factory=list)
    next_number: int = 2600001

    def _maybe_fail(self, name: str) -> None:
        if name in self.failing:
            raise BackendDown(f"{name}: store unavailable")

    async def open_tickets_for_phone(self, phone: str) -> list[TicketBrief]:
        self._maybe_fail("open_tickets_for_phone")
        return list(self.open_by_phone.get(phone, []))

    async def ticket_status(self, number: str) -> TicketBrief | None:
        self.lookups.append(number)
        self._maybe_fail("ticket_status")
        return self.tickets.get(number)

    async def submit_voice_report(
        self, *, phone: str, category_code: str | None, recording_path: str, call_uniqueid: str, ivr_path: str
    ) -> TicketBrief:
        self.submits.append(
            dict(
                phone=phone,
                category_code=category_code,
                recording_path=recording_path,
                call_uniqueid=call_uniqueid,
                ivr_path=ivr_path,
            )
        )
        self._maybe_fail("submit_voice_report")
        brief = TicketBrief(
            str(self.next_number), "new", category_code or "other", "Другое", phone_known=phone.startswith("+7")
        )
        self.next_number += 1
        self.tickets[brief.number] = brief
        return brief

    async def record_sms_consent(self, *, ticket_number: str, call_uniqueid: str) -> bool:
        self.consents.append(dict(ticket_number=ticket_number, call_uniqueid=call_uniqueid))
        self._maybe_fail("record_sms_consent")
        return True

    async def record_callback_outcome(
        self,
        *,
        ticket_number: str,
        callback_id: str | None,
        outcome: str,
        comment_recording: str | None,
        call_uniqueid: str,
    ) -> None:
        self.outcomes.append(
            dict(
                ticket_number=ticket_number,
                callback_id=callback_id,
                outcome=outcome,
                comment_recording=comment_recording,
                call_uniqueid=call_uniqueid,
            )
        )
        self._maybe_fail("record_callback_outcome")


CONSENT_SECTION = """
consent: {prompt: sms-ask, key: "1", timeout_seconds: 3, recorded_prompt: sms-ok}
"""


ASK_CONSENT = pytest.mark.parametrize("menu", ["ask_consent"], indirect=True)


@pytest.fixture
def menu(request: pytest.FixtureRequest) -> Menu:
    """The test menu; a test marked ``@ASK_CONSENT`` gets the optional SMS consent question too."""
    text = MENU + CONSENT_SECTION if getattr(request, "param", None) == "ask_consent" else MENU
    return parse_menu(text, parse_prompts(PROMPTS), source="test-menu.yaml")


@pytest.fixture
def backend() -> InMemoryBackend:
    return InMemoryBackend()


@pytest.fixture
def recordings(tmp_path: Path) -> RecordingSettings:
    return RecordingSettings(local_dir=tmp_path / "recordings")


@dataclass
class Clock:
    now: datetime = DAYTIME

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(
    menu: Menu, backend: InMemoryBackend, recordings: RecordingSettings, clock: Clock
) -> AsyncIterator[AgiServer]:
    deps = IvrDependencies(
        menu=menu,
        backend=backend,
        recordings=recordings,
        settings=EngineSettings(lookup_timeout=2, submit_timeout=2),
        clock=clock,
    )
    agi = AgiServer(HOST, 0, build_routes(deps))
    await agi.start()
    yield agi
    await agi.close()


Call = Callable[..., Any]


@pytest.fixture
def call(server: AgiServer) -> Call:
    async def run(
        script: list[Step],
        *,
        name: str = "ivr",
        dead_after: bool = False,
        callerid: str = CALLER,
        variables: dict[str, str] | None = None,
        recording: bytes | None = WAV,
        strict: bool = True,
    ) -> PeerResult:
        env = environment_lines(name, callerid=callerid, uniqueid=UNIQUEID)
        peer = FakeAsterisk(
            HOST,
            server.port,
            env=env,
            script=script,
            auto_variables=True,
            dead_after=dead_after,
            variables=variables,
            recording_bytes=recording,
        )
        result = await peer.run()
        await server.wait_idle(5)
        if strict:
            assert result.mismatches == [], result.commands
            assert result.script_left == 0, result.commands
            assert result.server_closed
        return result

    return run


def play(name: str, key: str | None = None, endpos: int = 8000) -> Step:
    """STREAM FILE t/<name> with every key as an escape digit; ``key`` interrupts it."""
    return step(f"STREAM FILE t/{name} {ESC}", f"200 result={ord(key) if key else 0} endpos={endpos}")


def wait(key: str | None = None, ms: int = 5000) -> Step:
    return step(f"WAIT FOR DIGIT {ms}", f"200 result={ord(key) if key else 0}")


def say(number: str, key: str | None = None) -> Step:
    return step(f"SAY DIGITS {number} {ESC}", f"200 result={ord(key) if key else 0}")


def record(endpos: int = 16000, how: str = "dtmf") -> Step:
    result = {"dtmf": "35", "timeout": "0", "hangup": "-1", "writefile": "-1"}[how]
    reply = f"200 result={result} ({how}) endpos={endpos}" if how != "writefile" else "200 result=-1 (writefile)"
    return step("RECORD FILE ", *((HANGUP,) if how == "hangup" else ()), reply)


def get_data(typed: str | None, ms: int = 10000, max_digits: int = 8) -> Step:
    reply = "200 result= (timeout)" if typed is None else f"200 result={typed}"
    return step(f"GET DATA t/enter {ms} {max_digits}", reply)


ANSWER = step("ANSWER", "200 result=0")

REPORT_SCRIPT = [
    ANSWER,
    play("hello"),
    play("main", "1"),
    play("cats", "1"),
    play("beep-after"),
    record(),
    play("accepted"),
    play("number"),
    say("2600001"),
    play("bye"),
]


# --- 1: report a problem ---------------------------------------------------------------


async def test_report_flow_creates_a_draft_and_reads_its_number(
    call: Call, backend: InMemoryBackend, recordings: RecordingSettings
) -> None:
    result = await call(REPORT_SCRIPT)

    [submit] = backend.submits
    record_command = next(c for c in result.commands if c.startswith("RECORD FILE"))
    path = record_command.split()[2]
    assert record_command == f'RECORD FILE {path} wav "#" 60000 0 BEEP s=4'
    assert path.startswith(str(recordings.local_dir) + "/ivr-") and "1795979627-17" in path
    assert submit == dict(
        phone=CALLER,
        category_code="water_leak",
        recording_path=path + ".wav",
        call_uniqueid=UNIQUEID,
        ivr_path="1>water_leak>record",
    )
    assert Path(submit["recording_path"]).read_bytes() == WAV
    assert result.variables[cv.IVR_PATH] == "1>water_leak>record"
    assert result.variables[cv.IVR_TICKET] == "2600001"
    assert result.variables[cv.IVR_CHOICE] == "1"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_DONE


# --- the SMS consent question after a report (menu section "consent") -------------------

REPORTED = REPORT_SCRIPT[:-1]  # up to the number read back; then the question, then goodbye


@ASK_CONSENT
async def test_consent_key_records_sms_consent_for_the_new_ticket(call: Call, backend: InMemoryBackend) -> None:
    result = await call([*REPORTED, play("sms-ask"), wait("1", ms=3000), play("sms-ok"), play("bye")])
    assert backend.consents == [dict(ticket_number="2600001", call_uniqueid=UNIQUEID)]
    assert result.variables[cv.IVR_PATH] == "1>water_leak>record>sms"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_DONE


@ASK_CONSENT
async def test_consent_key_pressed_during_the_question_counts(call: Call, backend: InMemoryBackend) -> None:
    await call([*REPORTED, play("sms-ask", "1"), play("sms-ok"), play("bye")])
    assert [c["ticket_number"] for c in backend.consents] == ["2600001"]


@ASK_CONSENT
@pytest.mark.parametrize("answer", [None, "2", "#"])
async def test_no_key_or_another_key_is_no_consent(call: Call, backend: InMemoryBackend, answer: str | None) -> None:
    result = await call([*REPORTED, play("sms-ask"), wait(answer, ms=3000), play("bye")])  # asked once only
    assert backend.consents == []
    assert result.variables[cv.IVR_PATH] == "1>water_leak>record>no_sms"
    assert result.variables[cv.IVR_TICKET] == "2600001"


@ASK_CONSENT
async def test_key_during_the_readback_is_not_taken_as_consent(call: Call, backend: InMemoryBackend) -> None:
    script = [*REPORT_SCRIPT[:-2], say("2600001", "1"), play("sms-ask"), wait(None, ms=3000), play("bye")]
    await call(script)
    assert backend.consents == []


@ASK_CONSENT
@pytest.mark.parametrize("callerid", ["unknown", "anonymous", ""])
async def test_withheld_number_gets_no_question(call: Call, backend: InMemoryBackend, callerid: str) -> None:
    script = [ANSWER, play("hello"), *REPORT_SCRIPT[2:]]  # the report, the number, then goodbye at once
    result = await call(script, callerid=callerid)
    assert backend.consents == [] and len(backend.submits) == 1
    assert "sms-ask" not in " ".join(result.commands)


@ASK_CONSENT
async def test_consent_store_failure_is_logged_and_the_call_ends_normally(
    call: Call, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.failing.add("record_sms_consent")
    with caplog.at_level(logging.ERROR, logger="callcenter.ivr.engine"):
        result = await call([*REPORTED, play("sms-ask", "1"), play("bye")])  # no "recorded" prompt
    assert "SMS consent for ticket 2600001" in caplog.text and "NOT recorded" in caplog.text
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_DONE


async def test_without_the_consent_section_nothing_is_asked(call: Call, backend: InMemoryBackend) -> None:
    result = await call(REPORT_SCRIPT)  # the number read back, then goodbye at once
    assert backend.consents == []
    assert result.variables[cv.IVR_PATH] == "1>water_leak>record"


async def test_key_pressed_during_greeting_answers_the_menu(call: Call, backend: InMemoryBackend) -> None:
    backend.open_by_phone[CALLER] = [TicketBrief("2611042", "in_progress", "no_water", "Нет воды")]
    script = [
        ANSWER,
        play("hello", "1"),
        play("cats", "2"),
        play("beep-after"),
        record(),
        play("accepted"),
        play("number"),
        say("2600001"),
        play("bye"),
    ]
    result = await call(script)
    assert backend.submits[0]["category_code"] == "no_water"
    assert result.variables[cv.IVR_PATH] == "1>no_water>record"


async def test_report_recording_missing_locally_is_still_submitted(
    call: Call, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="callcenter.ivr.engine"):
        result = await call(REPORT_SCRIPT, recording=None)
    [submit] = backend.submits
    assert not Path(submit["recording_path"]).exists()
    assert "missing; submitting it anyway" in caplog.text
    assert result.variables[cv.IVR_TICKET] == "2600001"


async def test_report_ended_by_silence_counts(call: Call, backend: InMemoryBackend) -> None:
    script = [*REPORT_SCRIPT[:5], record(how="timeout"), *REPORT_SCRIPT[6:]]
    await call(script)
    assert len(backend.submits) == 1


async def test_empty_recording_is_retried_then_operator(call: Call, backend: InMemoryBackend) -> None:
    script = [
        ANSWER,
        play("hello"),
        play("main", "1"),
        play("cats", "1"),
        play("beep-after"),
        record(endpos=0),
        play("empty"),
        play("beep-after"),
        record(endpos=0),
        play("op"),
    ]
    result = await call(script)
    assert backend.submits == []
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert result.variables[cv.IVR_PATH] == "1>water_leak>record>empty>operator"


async def test_caller_chooses_to_wait_for_an_operator(call: Call, backend: InMemoryBackend) -> None:
    result = await call([ANSWER, play("hello"), play("main", "1"), play("cats", "0"), play("op")])
    assert backend.submits == []
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert result.variables[cv.IVR_PATH] == "1>operator"


async def test_backend_refusing_the_report_keeps_the_file_and_routes_to_operator(
    call: Call, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.failing.add("submit_voice_report")
    with caplog.at_level(logging.ERROR):
        result = await call([*REPORT_SCRIPT[:6], play("sorry")])
    [submit] = backend.submits
    assert Path(submit["recording_path"]).read_bytes() == WAV  # nothing lost: the file stays
    assert "voice report NOT saved" in caplog.text and submit["recording_path"] in caplog.text
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_recording_write_failure_routes_to_operator(call: Call, backend: InMemoryBackend) -> None:
    result = await call([*REPORT_SCRIPT[:5], record(how="writefile"), play("sorry")])
    assert backend.submits == []
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


def _hangup_variant(exchange: Step, late: bool) -> Step:
    """The same command, answered as Asterisk does when the caller has just hung up."""
    if exchange.expect.startswith("RECORD FILE"):
        return record(endpos=12000, how="hangup")
    if late and exchange.expect.startswith(("STREAM FILE", "SAY DIGITS")):
        return step(exchange.expect, "200 result=-1 endpos=100")  # the HANGUP line comes later
    return step(exchange.expect, HANGUP, DEAD)


RECORD_INDEX = next(i for i, s in enumerate(REPORT_SCRIPT) if s.expect.startswith("RECORD FILE"))


HANGUP_POINTS = [
    (at, late)
    for at, exchange in enumerate(REPORT_SCRIPT)
    for late in (False, True)
    if not late or exchange.expect.startswith(("STREAM FILE", "SAY DIGITS"))
]


def _point_id(at: int, late: bool) -> str:
    words = REPORT_SCRIPT[at].expect.split(" ")
    return f"{at}-{words[2] if words[0] == 'STREAM' else words[0]}-{'late' if late else 'inline'}"


@pytest.mark.parametrize(("at", "late"), HANGUP_POINTS, ids=[_point_id(at, late) for at, late in HANGUP_POINTS])
async def test_hangup_at_every_step_of_the_report_loses_nothing(
    call: Call, backend: InMemoryBackend, server: AgiServer, at: int, late: bool
) -> None:
    script = [*REPORT_SCRIPT[:at], _hangup_variant(REPORT_SCRIPT[at], late)]
    result = await call(script, dead_after=True)

    if at >= RECORD_INDEX:  # something was recorded before the hang-up: it becomes a draft ticket
        [submit] = backend.submits
        assert submit["category_code"] == "water_leak" and submit["ivr_path"] == "1>water_leak>record"
        assert Path(submit["recording_path"]).read_bytes() == WAV
        assert result.variables[cv.IVR_TICKET] == "2600001"
    else:
        assert backend.submits == []
    assert result.variables.get(cv.IVR_ROUTE) != cv.ROUTE_OPERATOR  # nobody to queue
    assert server.stats.failed == 0
    # the server stops at the first 511: at most one channel command after the hang-up
    scripted = [c for c in result.commands if not c.startswith(("SET VARIABLE", "GET VARIABLE"))]
    assert scripted[at].startswith(REPORT_SCRIPT[at].expect)
    assert len(scripted[at + 1 :]) <= 1, scripted[at + 1 :]


# --- 2: status by number ---------------------------------------------------------------


async def test_status_by_number(call: Call, backend: InMemoryBackend) -> None:
    backend.tickets["2611042"] = TicketBrief("2611042", "in_progress", "no_water", "Нет воды")
    script = [
        ANSWER,
        play("hello"),
        play("main", "2"),
        get_data("2611042"),
        play("number"),
        say("2611042"),
        play("s-in_progress"),
        play("ticketmenu"),
        wait("9"),
        play("bye"),
    ]
    result = await call(script)
    assert backend.lookups == ["2611042"]
    assert result.variables[cv.IVR_TICKET] == "2611042"
    assert result.variables[cv.IVR_PATH] == "status>hangup"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_HANGUP


async def test_unknown_ticket_number_then_retry(call: Call, backend: InMemoryBackend) -> None:
    backend.tickets["2611042"] = TicketBrief("2611042", "done", "no_water", "Нет воды")
    script = [
        ANSWER,
        play("hello"),
        play("main", "2"),
        get_data("999"),
        play("notfound"),
        get_data("2611042"),
        play("number"),
        say("2611042"),
        play("s-done"),
        play("ticketmenu", "0"),
        play("op"),
    ]
    result = await call(script)
    assert backend.lookups == ["999", "2611042"]
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_status_no_input_and_bad_input_go_to_operator(call: Call, backend: InMemoryBackend) -> None:
    script = [
        ANSWER,
        play("hello"),
        play("main", "2"),
        get_data(None),
        play("silence"),
        get_data("12*4"),
        play("digits-only"),
        play("op"),
    ]
    result = await call(script)
    assert backend.lookups == []
    assert result.variables[cv.IVR_PATH] == "status>invalid>operator"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_status_backend_down_apologises_and_routes_to_operator(call: Call, backend: InMemoryBackend) -> None:
    backend.failing.add("ticket_status")
    result = await call([ANSWER, play("hello"), play("main", "2"), get_data("2611042"), play("sorry")])
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_known_caller_hears_open_ticket_then_status_menu(call: Call, backend: InMemoryBackend) -> None:
    backend.open_by_phone[CALLER] = [
        TicketBrief("2611042", "dispatched", "water_leak", "Протечка"),
        TicketBrief("2500001", "new", "garbage", "Вывоз мусора"),
    ]
    script = [
        ANSWER,
        play("hello"),
        play("yours"),
        play("number"),
        say("2611042"),
        play("s-dispatched"),
        play("ticketmenu", "0"),
        play("op"),
    ]
    result = await call(script)
    assert result.variables[cv.IVR_TICKET] == "2611042"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_key_during_readback_answers_the_status_menu(call: Call, backend: InMemoryBackend) -> None:
    backend.open_by_phone[CALLER] = [TicketBrief("2611042", "dispatched", "water_leak", "Протечка")]
    script = [ANSWER, play("hello"), play("yours"), play("number"), say("2611042", "9"), play("bye")]
    result = await call(script)
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_HANGUP


async def test_open_ticket_lookup_failure_does_not_stop_the_call(call: Call, backend: InMemoryBackend) -> None:
    backend.failing.add("open_tickets_for_phone")
    result = await call([ANSWER, play("hello"), play("main", "0"), play("op")])
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


# --- 0: operator, no input, invalid input, night -----------------------------------------


async def test_operator(call: Call) -> None:
    result = await call([ANSWER, play("hello"), play("main"), wait("0"), play("op")])
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert result.variables[cv.IVR_PATH] == "operator"
    assert result.variables[cv.IVR_CHOICE] == "0"


async def test_no_input_retries_then_operator(call: Call) -> None:
    script = [
        ANSWER,
        play("hello"),
        play("main"),
        wait(),
        play("silence"),
        play("main"),
        wait(),
        play("silence"),
        play("op"),
    ]
    result = await call(script)
    assert result.variables[cv.IVR_PATH] == "no_input>operator"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_invalid_input_then_valid(call: Call) -> None:
    script = [ANSWER, play("hello"), play("main", "7"), play("wrong", "0"), play("op")]
    result = await call(script)
    assert result.variables[cv.IVR_PATH] == "operator"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_star_goes_back_to_the_main_menu(call: Call) -> None:
    script = [ANSWER, play("hello"), play("main", "1"), play("cats", "*"), play("main", "0"), play("op")]
    result = await call(script)
    assert result.variables[cv.IVR_PATH] == "1>*>operator"


async def test_caller_going_round_in_circles_reaches_an_operator(
    menu: Menu, backend: InMemoryBackend, recordings: RecordingSettings, clock: Clock
) -> None:
    deps = IvrDependencies(
        menu=menu, backend=backend, recordings=recordings, settings=EngineSettings(max_steps=3), clock=clock
    )
    async with AgiServer(HOST, 0, build_routes(deps)) as agi:
        script = [ANSWER, play("hello"), play("main", "1"), play("cats", "*"), play("main", "1")]
        peer = FakeAsterisk(HOST, agi.port, env=environment_lines("ivr"), script=script, auto_variables=True)
        result = await peer.run()
    assert result.mismatches == [] and result.script_left == 0
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert result.variables[cv.IVR_PATH] == "1>*>1"


async def test_night_message_and_night_menu(call: Call, clock: Clock, backend: InMemoryBackend) -> None:
    clock.now = NIGHT
    script = [
        ANSWER,
        play("hello"),
        play("night"),
        play("nightmenu", "1"),
        play("cats", "2"),
        play("beep-after"),
        record(),
        play("accepted"),
        play("number"),
        say("2600001"),
        play("bye"),
    ]
    result = await call(script)
    assert backend.submits[0]["ivr_path"] == "night>1>no_water>record"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_DONE


async def test_night_operator_choice_plays_night_message(call: Call, clock: Clock) -> None:
    clock.now = NIGHT
    script = [
        ANSWER,
        play("hello"),
        play("night"),
        play("nightmenu", "1"),
        play("cats", "0"),
        play("night"),
        play("nightmenu"),
        wait(),
        play("silence"),
        play("nightmenu"),
        wait(),
        play("silence"),
        play("bye"),
    ]
    result = await call(script)
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_HANGUP  # a silent caller at night is not looped
    assert result.variables[cv.IVR_PATH] == "night>1>night>no_input>hangup"


async def test_unknown_caller_id_skips_the_lookup(call: Call, backend: InMemoryBackend) -> None:
    backend.failing.add("open_tickets_for_phone")  # would log an error if it were called
    result = await call([ANSWER, play("hello"), play("main", "0"), play("op")], callerid="unknown")
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


# --- the callback script ---------------------------------------------------------------

CB_VARS = {cv.TICKET_ID: "2611042", cv.CALLBACK_ID: "77"}
CB_START = [ANSWER, play("cb-intro"), say("2611042"), play("cb-done"), play("cb-question")]


async def test_callback_satisfied(call: Call, backend: InMemoryBackend) -> None:
    result = await call([*CB_START, wait("1", 6000), play("cb-yes")], name="callback", variables=CB_VARS)
    assert backend.outcomes == [
        dict(
            ticket_number="2611042",
            callback_id="77",
            outcome="satisfied",
            comment_recording=None,
            call_uniqueid=UNIQUEID,
        )
    ]
    assert result.variables[cv.CALLBACK_RESULT] == "satisfied"
    assert result.commands[:2] == ["GET VARIABLE TICKET_ID", "GET VARIABLE CALLBACK_ID"]


async def test_callback_not_satisfied_records_a_comment(
    call: Call, backend: InMemoryBackend, recordings: RecordingSettings
) -> None:
    script = [*CB_START, wait("2", 6000), play("cb-comment"), record(), play("cb-no")]
    result = await call(script, name="callback", variables=CB_VARS)
    [outcome] = backend.outcomes
    assert outcome["outcome"] == "not_satisfied"
    assert Path(outcome["comment_recording"]).read_bytes() == WAV
    assert outcome["comment_recording"].startswith(str(recordings.local_dir) + "/callback-2611042-")
    record_command = next(c for c in result.commands if c.startswith("RECORD FILE"))
    assert record_command.endswith(' wav "#" 30000 0 BEEP s=3')
    assert result.variables[cv.CALLBACK_RESULT] == "not_satisfied"


async def test_callback_operator(call: Call, backend: InMemoryBackend) -> None:
    result = await call([*CB_START[:2], say("2611042", "0"), play("op")], name="callback", variables=CB_VARS)
    assert backend.outcomes[0]["outcome"] == "operator"
    assert result.variables[cv.CALLBACK_RESULT] == "operator"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR


async def test_callback_no_input_retries_once(call: Call, backend: InMemoryBackend) -> None:
    script = [
        *CB_START,
        wait(None, 6000),
        play("silence"),
        play("cb-question"),
        wait(None, 6000),
        play("silence"),
        play("bye"),
    ]
    result = await call(script, name="callback", variables=CB_VARS)
    assert backend.outcomes[0]["outcome"] == "no_input"
    assert result.variables[cv.CALLBACK_RESULT] == "no_input"


async def test_callback_wrong_key_then_right_one(call: Call, backend: InMemoryBackend) -> None:
    script = [*CB_START, wait("5", 6000), play("wrong"), play("cb-question", "1"), play("cb-yes")]
    await call(script, name="callback", variables=CB_VARS)
    assert backend.outcomes[0]["outcome"] == "satisfied"


async def test_callback_hangup_before_choosing(call: Call, backend: InMemoryBackend) -> None:
    result = await call(
        [*CB_START, step("WAIT FOR DIGIT 6000", HANGUP, DEAD)], name="callback", variables=CB_VARS, dead_after=True
    )
    assert backend.outcomes[0]["outcome"] == "hangup"
    assert result.variables[cv.CALLBACK_RESULT] == "hangup"


async def test_callback_choice_before_hangup_still_counts(call: Call, backend: InMemoryBackend) -> None:
    result = await call(
        [*CB_START, wait("1", 6000), step(f"STREAM FILE t/cb-yes {ESC}", HANGUP, DEAD)],
        name="callback",
        variables=CB_VARS,
        dead_after=True,
    )
    assert backend.outcomes[0]["outcome"] == "satisfied"
    assert result.variables[cv.CALLBACK_RESULT] == "satisfied"


async def test_callback_hangup_during_comment_keeps_the_comment(call: Call, backend: InMemoryBackend) -> None:
    script = [*CB_START, wait("2", 6000), play("cb-comment"), record(endpos=9000, how="hangup")]
    await call(script, name="callback", variables=CB_VARS, dead_after=True)
    [outcome] = backend.outcomes
    assert outcome["outcome"] == "not_satisfied"
    assert Path(outcome["comment_recording"]).read_bytes() == WAV


async def test_callback_hangup_before_comment(call: Call, backend: InMemoryBackend) -> None:
    script = [*CB_START, wait("2", 6000), step(f"STREAM FILE t/cb-comment {ESC}", HANGUP, DEAD)]
    await call(script, name="callback", variables=CB_VARS, dead_after=True)
    assert backend.outcomes[0]["outcome"] == "not_satisfied"
    assert backend.outcomes[0]["comment_recording"] is None


async def test_callback_without_ticket_goes_to_operator(call: Call, backend: InMemoryBackend) -> None:
    result = await call([], name="callback", variables={})
    assert backend.outcomes == []
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert result.variables[cv.CALLBACK_RESULT] == "operator"


async def test_callback_backend_failure_is_logged_with_the_outcome(
    call: Call, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.failing.add("record_callback_outcome")
    with caplog.at_level(logging.ERROR):
        result = await call([*CB_START, wait("1", 6000), play("cb-yes")], name="callback", variables=CB_VARS)
    assert "callback outcome NOT saved: ticket 2611042, callback 77, outcome satisfied" in caplog.text
    assert result.variables[cv.CALLBACK_RESULT] == "satisfied"


# --- the shipped menu ------------------------------------------------------------------


def _open_moment(menu: Menu) -> datetime:
    """Some moment in the shipped working hours (they may be edited)."""
    start = datetime(2026, 3, 2, 0, 0, tzinfo=ZONE)
    return next(
        t for t in (start.replace(hour=h, day=2 + d) for d in range(7) for h in range(24)) if menu.hours.is_open(t)
    )


async def test_shipped_menu_reaches_the_operator_and_a_report(backend: InMemoryBackend, tmp_path: Path) -> None:
    from callcenter.ivr.menu import load_menu

    menu = load_menu()
    deps = IvrDependencies(
        menu=menu, backend=backend, recordings=RecordingSettings(tmp_path / "rec"), clock=Clock(_open_moment(menu))
    )
    main = menu.menus[menu.start]
    to_report = next(
        k
        for k, c in main.choices.items()
        if c.action == "menu" and any(x.action == "record" for x in menu.menus[c.menu].choices.values())
    )
    report = menu.menus[main.choices[to_report].menu]
    water = next(k for k, c in report.choices.items() if c.category == "water_leak")

    def sound(prompt: str, key: str | None = None) -> Step:
        return step(f"STREAM FILE {menu.sound(prompt)} {ESC}", f"200 result={ord(key) if key else 0} endpos=10")

    script = [
        ANSWER,
        *(sound(p) for p in menu.greeting[:-1]),
        sound(menu.greeting[-1], to_report),
        sound(report.prompts[0], water),
        sound(menu.recording.prompt),
        record(),
        sound(menu.recording.accepted_prompt),
        sound(menu.recording.number_prompt),
        say("2600001"),
    ]
    async with AgiServer(HOST, 0, build_routes(deps)) as agi:
        peer = FakeAsterisk(
            HOST,
            agi.port,
            env=environment_lines("ivr"),
            script=script,
            auto_variables=True,
            dead_after=True,
            recording_bytes=WAV,
        )
        result = await peer.run()
        await agi.wait_idle(5)
    assert result.mismatches == [] and result.script_left == 0
    assert backend.submits[0]["category_code"] == "water_leak"
    assert backend.submits[0]["ivr_path"] == f"{to_report}>water_leak>record"


async def test_callback_fault_sends_the_citizen_to_an_operator(call: Call, backend: InMemoryBackend) -> None:
    script = [ANSWER, step(f"STREAM FILE t/cb-intro {ESC}", "510 Invalid or unknown command"), play("sorry")]
    result = await call(script, name="callback", variables=CB_VARS)
    assert backend.outcomes[0]["outcome"] == "operator"
    assert result.variables[cv.CALLBACK_RESULT] == "operator"
    assert result.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
