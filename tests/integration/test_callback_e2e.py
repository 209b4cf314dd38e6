"""The whole loop over real sockets: ticket done -> AMI Originate (fake Asterisk) -> the satisfaction
IVR over FastAGI (fake Asterisk AGI peer, real AgiServer and script) -> ticket closed or reopened.

The AGI session is built from what the dispatcher really originated: its ChannelId becomes the
call's uniqueid and its TICKET_ID / CALLBACK_ID variables are what the script reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.callbacks.ami_dialer import AmiDialer, dial_outcome
from callcenter.callbacks.dialer import DialResult
from callcenter.domain.callbacks import CallbackState
from callcenter.domain.calls import OriginateOutcome, OriginateResult
from callcenter.domain.tickets import Status
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import EngineSettings, RecordingSettings
from callcenter.ivr.menu import load_menu
from callcenter.ivr.scripts import IvrDependencies, build_routes
from callcenter.ivr.store_backend import StoreIvrBackend
from callcenter.stt.voice_reports import VoiceReports
from callcenter.telephony.ami_link import AmiLink, AmiSettings
from tests.integration.test_callback_support import Rig, build_rig, local
from tests.protocol.agi_peer import FakeAsterisk, environment_lines, step
from tests.protocol.fake_ami import FakeAmi

pytestmark = pytest.mark.timeout(120)

HOST = "127.0.0.1"
WAV = b"RIFF" + b"\0" * 40 + b"voice" * 100
CITIZEN = "+79780001122"


def store_backend(services, outcomes) -> StoreIvrBackend:
    """The IVR port exactly as the app wires it, with the callbacks' outcome recorder."""
    voice = VoiceReports(services.tickets, None, services.settings.data_dir, services.sessions, services.reference)
    return StoreIvrBackend(services.tickets, voice, outcomes)


@pytest.fixture
async def asterisk() -> AsyncIterator[tuple[FakeAmi, AmiLink]]:
    fake = FakeAmi()
    await fake.start()
    link = AmiLink(AmiSettings(host=HOST, port=fake.port, username="callcenter", secret="labsecret", ping_interval=30))
    await link.start()
    assert await link.wait_connected(5)
    yield fake, link
    await link.close()
    await fake.close()


@pytest.fixture
async def loop(services, asterisk) -> AsyncIterator[tuple[Rig, FakeAmi, AgiServer, RecordingSettings]]:
    fake, link = asterisk
    dialer = AmiDialer(link, dial_template="PJSIP/{number}@city-trunk")
    rig = build_rig(services, start=local(2026, 12, 2, 12, 0), dialer=dialer)
    recordings = RecordingSettings(local_dir=Path(services.settings.data_dir) / "recordings")
    deps = IvrDependencies(
        menu=load_menu(),
        backend=store_backend(services, rig.outcomes),
        recordings=recordings,
        settings=EngineSettings(lookup_timeout=2, submit_timeout=5),
    )
    agi = AgiServer(HOST, 0, build_routes(deps))
    await agi.start()
    yield rig, fake, agi, recordings
    await rig.dispatcher.close()
    await agi.close()


def originates(fake: FakeAmi) -> list[dict]:
    return [a for a in fake.actions if a.get("Action") == "Originate"]


def variables(action: dict) -> dict[str, str]:
    raw = action.get("Variable", [])
    items = [raw] if isinstance(raw, str) else raw
    return dict(item.split("=", 1) for item in items)


async def citizen_answers(agi: AgiServer, action: dict, *keys_and_steps) -> None:
    """Play the citizen's side of the call the Originate ``action`` placed."""
    env = environment_lines(
        "callback",
        callerid="1563",
        calleridname="1563",
        uniqueid=action["ChannelId"],
        context="callback",
        extension="s",
        channel=action["Channel"] + "-00000001",
    )
    peer = FakeAsterisk(
        HOST,
        agi.port,
        env=env,
        script=list(keys_and_steps),
        auto_variables=True,
        variables=variables(action),
        recording_bytes=WAV,
    )
    result = await peer.run()
    await agi.wait_idle(5)
    assert result.mismatches == [] and result.script_left == 0, result.commands


def question(number: str, key: str) -> list:
    """The script's opening: answer, "your ticket number", the digits, "is done", the question, a key."""
    return [
        step("ANSWER", "200 result=0"),
        step("STREAM FILE ", "200 result=0 endpos=8000"),
        step(f"SAY DIGITS {number} ", "200 result=0"),
        step("STREAM FILE ", "200 result=0 endpos=8000"),
        step("STREAM FILE ", "200 result=0 endpos=8000"),
        step("WAIT FOR DIGIT 6000", f"200 result={ord(key)}"),
    ]


async def test_done_originate_answered_press_1_closes(loop) -> None:
    rig, fake, agi, _ = loop
    ticket = await rig.done_ticket(CITIZEN)
    rig.clock.advance(minutes=15)
    await rig.tick()
    [action] = originates(fake)
    [cb] = await rig.callbacks_rows()
    [attempt] = await rig.attempts(cb.id)
    assert action["Channel"] == f"PJSIP/{CITIZEN}@city-trunk"
    assert (action["Context"], action["Exten"], action["Async"]) == ("callback", "s", "true")
    assert action["ActionID"] == attempt.action_id and action["ChannelId"] == "cc-" + attempt.action_id
    assert variables(action)["TICKET_ID"] == ticket.number and variables(action)["CALLBACK_ID"] == str(cb.id)
    assert (cb.state, attempt.call_uniqueid, attempt.result) == (CallbackState.CLAIMED, action["ChannelId"], None)

    await citizen_answers(agi, action, *question(ticket.number, "1"), step("STREAM FILE ", "200 result=0 endpos=8000"))
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.CLOSED
    assert detail.events[-1].note.startswith("Заявитель подтвердил выполнение")
    [attempt] = await rig.attempts(cb.id)
    assert (attempt.result, attempt.call_uniqueid) == ("satisfied", action["ChannelId"])
    await rig.tick()
    assert len(originates(fake)) == 1


async def test_busy_retry_answered_press_2_reopens_with_the_spoken_comment(loop) -> None:
    rig, fake, agi, recordings = loop
    ticket = await rig.done_ticket(CITIZEN)
    rig.clock.advance(minutes=15)
    fake.originate_reason = "5"
    await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.last_result, cb.due_at) == (
        CallbackState.PLANNED,
        "busy",
        rig.clock.now + timedelta(minutes=15),
    )
    fake.originate_reason = "4"
    rig.clock.advance(minutes=15)
    await rig.tick()
    busy, answered = originates(fake)
    assert busy["ActionID"] != answered["ActionID"]

    await citizen_answers(
        agi,
        answered,
        *question(ticket.number, "2"),
        step("STREAM FILE ", "200 result=0 endpos=8000"),
        step("RECORD FILE ", "200 result=35 (dtmf) endpos=16000"),
        step("STREAM FILE ", "200 result=0 endpos=8000"),
    )
    detail = await rig.tickets.detail(ticket.number)
    assert detail.ticket.status is Status.IN_PROGRESS and detail.ticket.department == ticket.department
    assert detail.events[-1].note == (
        "Заявитель не удовлетворён выполнением: комментарий заявителя записан голосом (вложение)"
    )
    [comment] = [a for a in detail.attachments if a.kind == "comment"]
    assert comment.path.startswith(f"recordings/callback-{ticket.number}-") and comment.size == len(WAV)
    assert (Path(rig.services.settings.data_dir) / comment.path).read_bytes() == WAV
    assert [a.result for a in await rig.attempts(cb.id)] == ["busy", "not_satisfied"]


async def test_no_answer_three_times_is_unreachable(loop) -> None:
    rig, fake, agi, _ = loop
    ticket = await rig.done_ticket(CITIZEN)
    fake.originate_reason = "3"
    for wait in (15, 15, 120):
        rig.clock.advance(minutes=wait)
        await rig.tick()
    [cb] = await rig.callbacks_rows()
    assert (cb.state, cb.attempts) == (CallbackState.UNREACHABLE, 3)
    assert [a.result for a in await rig.attempts(cb.id)] == ["no_answer"] * 3
    assert len(originates(fake)) == 3
    rig.clock.advance(days=1)
    await rig.tick()
    assert len(originates(fake)) == 3
    assert (await rig.tickets.get(ticket.number)).status is Status.DONE


async def test_dialer_is_unavailable_without_the_link_and_sends_nothing() -> None:
    link = AmiLink(AmiSettings(host=HOST, port=9, username="callcenter", secret="x"))  # never started
    dialer = AmiDialer(link, dial_template="PJSIP/{number}@city-trunk")
    assert not dialer.available
    outcome = await dialer.originate_callback(
        phone=CITIZEN, callback_id=1, ticket_numbers=["2600001"], action_id="cb1a1-test"
    )
    assert outcome.result is DialResult.NOT_SENT
    bad = await dialer.originate_callback(
        phone="89780001122", callback_id=1, ticket_numbers=["2600001"], action_id="cb1a2-test"
    )
    assert bad.result is DialResult.FAILED and "E.164" in bad.detail


def test_originate_outcomes_map_to_the_port() -> None:
    expected = {
        OriginateOutcome.ANSWERED: DialResult.ANSWERED,
        OriginateOutcome.BUSY: DialResult.BUSY,
        OriginateOutcome.NO_ANSWER: DialResult.NO_ANSWER,
        OriginateOutcome.HUNG_UP: DialResult.NO_ANSWER,
        OriginateOutcome.FAILED: DialResult.FAILED,
        OriginateOutcome.CONGESTION: DialResult.FAILED,
        OriginateOutcome.REJECTED: DialResult.FAILED,
        OriginateOutcome.NOT_SENT: DialResult.NOT_SENT,
        OriginateOutcome.TIMED_OUT: DialResult.UNKNOWN,
        OriginateOutcome.IN_PROGRESS: DialResult.ANSWERED,
    }
    assert set(expected) == set(OriginateOutcome)
    for outcome, result in expected.items():
        assert dial_outcome(OriginateResult("k", outcome)).result is result
