"""Journeys against a real Asterisk 22 running the project's asterisk-config/ and the whole app.

Each citizen is a Local channel originated by the tests' AMI session: one half runs the
shipped [hotline] dialplan (FastAGI into the app), the other half plays the citizen from
tests/asterisk/overlay/extensions.conf (DTMF and a spoken Russian complaint).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.store import models as m
from callcenter.telephony.ami_link import ChannelsSnapshot, LinkState, LinkStatus
from callcenter.tickets.schemas import NewTicket
from tests.asterisk.pbx import Driver, Event, Pbx, agi_lines, make_sound, missing_sounds, wav_seconds
from tests.stt_fixtures import HELLO, THANKS, korean_model_dir
from tests.telephony_fixtures import CALL_KEY_INPUT, HubWatch, RunningApp, make_user, signed_in

pytestmark = pytest.mark.timeout(180)

PHONE = "+79780001122"
JSON = {"Accept": "application/json"}
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор Смирнова")


def varset(driver: Driver, uniqueid: str, name: str) -> list[str]:
    return [
        e["Value"]
        for e in driver.events
        if e.get("Event") == "VarSet" and e.get("Uniqueid") == uniqueid and e.get("Variable") == name
    ]


async def the_ticket(app: RunningApp, phone: str):
    tickets = await app.services.tickets.tickets_for_phone(phone)
    assert len(tickets) == 1, tickets
    return await app.services.tickets.detail(tickets[0].number)


@pytest.mark.app_settings(ivr_recorder="record_file")  # the fallback: Asterisk writes into a shared folder
async def test_report_by_voice_makes_a_draft_with_the_recording_and_reads_its_number(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    async with aiohttp.ClientSession() as http:
        health = await (await http.get(hotline.url + "/healthz")).json()
    assert (health["ami"], health["recordings"], health["prompts"]) == ("connected", "ok", "ok"), health
    citizen = await driver.call_citizen("report", PHONE)
    ivr_leg = citizen + "-h"
    await driver.wait_hangup(ivr_leg, timeout=120)

    detail = await the_ticket(hotline, PHONE)
    assert detail.ticket.is_draft and detail.ticket.status is Status.NEW
    assert detail.ticket.category == "water_leak"
    [recording] = [a for a in detail.attachments if a.kind == "recording"]
    path = Path(hotline.services.settings.data_dir) / recording.path
    assert path.is_absolute() and path.stat().st_size > 10_000
    seconds = wav_seconds(path)
    # what the citizen said, give or take the beep and the key that ended it
    assert abs(seconds - pbx.complaint_seconds) < 1.5, (seconds, pbx.complaint_seconds)
    assert varset(driver, ivr_leg, "IVR_TICKET") == [detail.ticket.number]
    assert varset(driver, ivr_leg, "IVR_ROUTE") == ["done"]
    commands = agi_lines(pbx.asterisk.log_text(), log_mark)
    record = [c for c in commands if c.startswith("RECORD FILE ")]
    assert len(record) == 1 and record[0].split()[2].startswith(str(hotline.services.settings.recordings_dir))
    [say] = [i for i, c in enumerate(commands) if c.startswith(f"SAY DIGITS {detail.ticket.number} ")]
    assert commands.index(record[0]) < say


async def test_report_then_1_records_sms_consent_on_the_draft(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    """Issue 17, item 5: after the voice report the shipped menu asks about SMS; the citizen's
    1 (sent by real DTMF) records consent on the draft as the staff form would."""
    citizen = await driver.call_citizen("report-sms", PHONE)
    ivr_leg = citizen + "-h"
    await driver.wait_hangup(ivr_leg, timeout=120)

    detail = await the_ticket(hotline, PHONE)
    assert detail.ticket.is_draft
    consent = detail.ticket.extra.get("notify")
    assert consent is not None and (consent["sms"], consent["via"]) == (True, "ivr"), detail.ticket.extra
    commands = agi_lines(pbx.asterisk.log_text(), log_mark)
    assert any(c.startswith("STREAM FILE 1563/sms-consent ") for c in commands), commands
    assert varset(driver, ivr_leg, "IVR_PATH")[-1].endswith(">record>sms")
    assert varset(driver, ivr_leg, "IVR_ROUTE") == ["done"]


@pytest.mark.app_settings(agi_recordings_dir="/nonexistent/not-shared/recordings")
async def test_report_over_audiosocket_the_app_records_with_no_shared_folder(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    """The default: Asterisk streams the caller's audio; the app writes the file, ends the message
    on '#', and Asterisk is never told a path (the one configured for it does not even exist)."""
    modules = await driver.command("module show like audiosocket")
    assert "app_audiosocket.so" in modules and "res_audiosocket.so" in modules, modules
    citizen = await driver.call_citizen("report", PHONE)
    ivr_leg = citizen + "-h"
    await driver.wait_hangup(ivr_leg, timeout=120)

    detail = await the_ticket(hotline, PHONE)
    assert detail.ticket.is_draft and detail.ticket.category == "water_leak"
    [recording] = [a for a in detail.attachments if a.kind == "recording"]
    path = Path(hotline.services.settings.data_dir) / recording.path
    assert path.parent == hotline.services.settings.recordings_dir and recording.size == path.stat().st_size
    seconds = wav_seconds(path)
    assert abs(seconds - pbx.complaint_seconds) < 1.5, (seconds, pbx.complaint_seconds)
    commands = agi_lines(pbx.asterisk.log_text(), log_mark)
    assert not [c for c in commands if c.startswith("RECORD FILE ")]
    [audiosocket] = [c for c in commands if c.startswith("EXEC AudioSocket ")]
    [say] = [i for i, c in enumerate(commands) if c.startswith(f"SAY DIGITS {detail.ticket.number} ")]
    assert commands.index(audiosocket) < say
    assert varset(driver, ivr_leg, "IVR_ROUTE") == ["done"]
    assert "/nonexistent" not in pbx.asterisk.log_text()[log_mark:]


@pytest.mark.app_settings(
    stt_model=korean_model_dir(),
    stt_workers=1,
    ivr_menu_file=Path(__file__).with_name("menu-report-then-operator.yaml"),
)
async def test_caller_speaks_and_the_ringing_operator_sees_the_transcript_before_answering(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    """The issue's "done when": a caller leaves a voice report over AudioSocket, is put through to
    the queue, and the ringing operator's WebSocket carries what the caller said (the live
    transcript and its suggestion) before the operator answers."""
    services = hotline.services
    assert services.speech.available, services.speech.unavailable_reason
    make_sound(f"{HELLO} {THANKS} {HELLO}", pbx.layout.citizen_sounds / "complaint-ko.wav", voice="ko")
    op1 = await make_user(services, "op1", device="Local/op1@operators/n", full_name="Оператор Один")
    async with signed_in(hotline.url, "op1") as one, one.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        with HubWatch(services, lambda m: m.get("type") == "voice_live") as voice:
            # op1's phone rings 8 s (a loaded machine still decodes the last words meanwhile)
            citizen = await driver.call_citizen("report-ko", PHONE, variables={"__OP1_RING": "8"})
            said = await voice.next(90)
        talking = await inbox.wait_for(lambda m: m["type"] == "pop" and m["state"] == "talking", 90)
        await driver.wait_for(
            lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline", 10, "AgentConnect"
        )
        await driver.hangup(citizen)
    pops = inbox.of_type("pop")
    answered = pops.index(talking)
    before = [m for m in pops[:answered] if m.get("live") and m["live"]["text"]]
    assert before, [(m["state"], m.get("update"), m.get("live")) for m in pops]
    assert all(m["user_id"] == op1.id and m["state"] == "ringing" for m in before)
    assert said["call_uniqueid"] == citizen + "-h" and said["phone"] == PHONE
    live = before[-1]["live"]
    assert live["final"] and live["suggestion"] is not None
    await services.voice.drain()
    detail = await the_ticket(hotline, PHONE)
    [recording] = [a for a in detail.attachments if a.kind == "recording"]
    assert recording.transcript_status == "done" and recording.transcript["text"] == live["text"]
    assert detail.ticket.description == live["text"]


async def test_caller_hangs_up_while_speaking_leaves_a_draft_with_what_was_said(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    citizen = await driver.call_citizen("report-hangup", PHONE)
    await driver.wait_hangup(citizen + "-h", timeout=120)

    detail = await the_ticket(hotline, PHONE)
    assert detail.ticket.is_draft and detail.ticket.category == "water_leak"
    [recording] = [a for a in detail.attachments if a.kind == "recording"]
    seconds = wav_seconds(Path(hotline.services.settings.data_dir) / recording.path)
    assert abs(seconds - pbx.complaint_seconds) < 1.5, (seconds, pbx.complaint_seconds)


async def test_status_by_keypad_reads_the_number_and_status(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    ticket = await hotline.services.tickets.create(
        NewTicket(
            channel=Channel.PHONE,
            phone="+79785550011",
            category="no_water",
            description="Нет воды",
            address="ул. Ленина, 5",
        ),
        OPERATOR,
    )
    citizen = await driver.call_citizen("status", "+79780002233", variables={"STATUS_NUMBER": ticket.number})
    ivr_leg = citizen + "-h"
    await driver.wait_for(
        lambda e: e.get("Event") == "VarSet" and e.get("Uniqueid") == ivr_leg and e.get("Variable") == "IVR_TICKET",
        60,
        "IVR_TICKET",
    )
    # the readback: "Номер заявки", the digits, then the status prompt
    commands = await _wait_agi(pbx, log_mark, "STREAM FILE 1563/status-new")
    [say] = [i for i, c in enumerate(commands) if c.startswith(f"SAY DIGITS {ticket.number} ")]
    assert say < next(i for i, c in enumerate(commands) if c.startswith("STREAM FILE 1563/status-new"))
    assert varset(driver, ivr_leg, "IVR_TICKET") == [ticket.number]


async def _wait_agi(pbx: Pbx, since: int, prefix: str, timeout: float = 30.0) -> list[str]:
    """The AGI commands so far, once one starting with ``prefix`` was sent (Asterisk's log)."""
    async with asyncio.timeout(timeout):
        while True:
            commands = agi_lines(pbx.asterisk.log_text(), since)
            if any(c.startswith(prefix) for c in commands):
                return commands
            await asyncio.sleep(0.2)  # a file being written: polled, bounded by the timeout


async def test_zero_rings_the_queue_pops_for_the_ringing_operator_then_talking(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    services = hotline.services
    op1 = await make_user(services, "op1", device="Local/op1@operators/n", full_name="Оператор Один")
    await make_user(services, "op3", device="Local/op3@operators/n")
    async with (
        signed_in(hotline.url, "op1") as one,
        signed_in(hotline.url, "op3") as three,
        one.socket() as inbox1,
        three.socket() as inbox3,
    ):
        await inbox1.wait_for(lambda m: m["type"] == "hello")
        await inbox3.wait_for(lambda m: m["type"] == "hello")
        citizen = await driver.call_citizen("operator", PHONE)
        pop = await inbox1.wait_for(lambda m: m["type"] == "pop" and m.get("complete"), 40)
        talking = await inbox1.wait_for(lambda m: m["type"] == "pop" and m["state"] == "talking", 30)
        await driver.wait_for(
            lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline", 10, "AgentConnect"
        )
        await driver.hangup(citizen)
        await inbox1.wait_for(lambda m: m["type"] == "pop" and m["state"] == "ended", 30)
        assert inbox3.of_type("pop") == []
    assert pop["user_id"] == op1.id and pop["interface"] == "Local/op1@operators/n"
    assert pop["caller"] == PHONE and pop["queue"] == "hotline"
    assert pop["ivr_path"] == "operator" and pop["caller_display"] == "+7 978 000-11-22"
    assert talking["linkedid"] == pop["linkedid"] == citizen


async def test_fastagi_down_the_caller_still_reaches_the_queue(pbx: Pbx, driver: Driver, hotline: RunningApp) -> None:
    await hotline.services.agi.close()  # the app's FastAGI server stops listening
    citizen = await driver.call_citizen("listen", PHONE, variables={"TALK": "20"})
    joined = await driver.wait_for(
        lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Uniqueid") == citizen + "-h", 30, "QueueCallerJoin"
    )
    assert joined["Queue"] == "hotline"
    await driver.wait_for(
        lambda e: e.get("Event") == "AgentCalled" and e.get("Uniqueid") == citizen + "-h", 30, "AgentCalled"
    )


async def test_shipped_manager_conf_sends_what_the_tracker_needs_and_no_newexten(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    """The app's own AMI user (manager.conf as shipped): its events went into call rows and pops;
    Asterisk's disabledevents keeps Newexten from everyone, the driver included."""
    link = hotline.services.ami
    subscription = link.subscribe(name="journey")
    citizen = await driver.call_citizen("operator", PHONE)
    await driver.wait_for(lambda e: e.get("Event") == "AgentConnect", 40, "AgentConnect")
    await driver.hangup(citizen)
    await driver.wait_for(lambda e: e.get("Event") == "AgentComplete", 10, "AgentComplete")
    await link.send_action({"Action": "Ping"})  # its answer comes after every event before it
    link.unsubscribe(subscription)
    seen = sorted({item.get("Event") async for item in subscription if isinstance(item, dict)} - {None})
    for needed in (
        "Newchannel",
        "Newstate",
        "Hangup",
        "VarSet",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "BridgeEnter",
        "BridgeLeave",
    ):
        assert needed in seen, (needed, seen)
    assert "Newexten" not in seen and "AGIExecStart" not in seen
    # what the shipped eventfilter lets through, and nothing else (the driver sees everything)
    assert "DialBegin" in {e["Event"] for e in driver.events} and "DialBegin" not in seen
    assert not {e["Event"] for e in driver.events} & {"Newexten", "AGIExecStart", "AGIExecEnd"}


@pytest.mark.missing_prompts("1563/greeting")
async def test_a_prompt_that_does_not_play_is_caught(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    """The guard of every journey (conftest ``hotline``): take the greeting away, call, and
    Asterisk's log names it (the fixture's check, told by the marker to expect exactly it)."""
    greeting = pbx.layout.prompts / "greeting.wav"
    hidden = greeting.with_name("greeting.hidden")
    greeting.rename(hidden)
    try:
        citizen = await driver.call_citizen("listen", PHONE)
        await _wait_agi(pbx, log_mark, "STREAM FILE 1563/main-menu")
        await driver.hangup(citizen)
    finally:
        hidden.rename(greeting)
    assert missing_sounds(pbx.asterisk.log_text(), log_mark) == ["1563/greeting"]


# --- the automatic callback after a ticket is done ------------------------------------


async def done_ticket(app: RunningApp, phone: str) -> str:
    tickets = app.services.tickets
    view = await tickets.create(
        NewTicket(
            channel=Channel.PHONE, phone=phone, category="water_leak", title="Течь трубы", address="ул. Ленина, 1"
        ),
        OPERATOR,
    )
    await tickets.move(view.number, Status.DISPATCHED, OPERATOR)
    await tickets.move(view.number, Status.IN_PROGRESS, OPERATOR)
    await tickets.move(view.number, Status.DONE, OPERATOR, note="Течь устранена")
    return view.number


async def callback_rows(app: RunningApp) -> list[tuple[m.Callback, list[m.CallbackAttempt]]]:
    async with app.services.sessions() as session:
        rows = list((await session.execute(select(m.Callback).order_by(m.Callback.id))).scalars())
        return [
            (
                cb,
                list(
                    (
                        await session.execute(
                            select(m.CallbackAttempt)
                            .where(m.CallbackAttempt.callback_id == cb.id)
                            .order_by(m.CallbackAttempt.id)
                        )
                    ).scalars()
                ),
            )
            for cb in rows
        ]


def dialled(driver: Driver, phone: str) -> list[Event]:
    """The calls Asterisk placed to the citizen (the city side of each Originate)."""
    return [
        e
        for e in driver.events
        if e.get("Event") == "Newchannel"
        and e.get("Channel", "").startswith(f"Local/{phone}@city-")
        and e["Channel"].endswith(";2")
    ]


async def settle(app: RunningApp) -> None:
    """The callbacks feature finished what it started: IVR sessions, outcomes, dispatcher passes."""
    await app.services.agi.wait_idle(30)
    feature = app.services.callbacks
    await feature.service.wait_background(10)
    for _ in range(2):  # two more passes of the dispatcher: nothing is due, so nothing is dialled
        await feature.dispatcher.tick()


async def test_callback_press_1_closes_the_ticket_dialled_once(pbx: Pbx, driver: Driver, hotline: RunningApp) -> None:
    phone = "+79780000011"
    with HubWatch(
        hotline.services,
        lambda msg: msg.get("type") == "callback" and msg["change"] not in ("planned", "answered", "taken"),
    ) as outcome:
        number = await done_ticket(hotline, phone)
        await outcome.next(60)
    await settle(hotline)
    assert (await hotline.services.tickets.get(number)).status is Status.CLOSED
    [(cb, attempts)] = await callback_rows(hotline)
    assert [a.result for a in attempts] == ["satisfied"]
    assert len(dialled(driver, phone)) == 1


async def test_callback_press_2_and_speak_reopens_with_the_comment(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    phone = "+79780000022"
    with HubWatch(
        hotline.services,
        lambda msg: msg.get("type") == "callback" and msg["change"] not in ("planned", "answered", "taken"),
    ) as outcome:
        number = await done_ticket(hotline, phone)
        await outcome.next(60)
    await settle(hotline)
    detail = await hotline.services.tickets.detail(number)
    assert detail.ticket.status is Status.IN_PROGRESS
    [comment] = [a for a in detail.attachments if a.kind == "comment"]
    path = Path(hotline.services.settings.data_dir) / comment.path
    assert comment.path.startswith(f"recordings/callback-{number}-") and comment.size == path.stat().st_size
    assert abs(wav_seconds(path) - pbx.comment_seconds) < 1.5, (wav_seconds(path), pbx.comment_seconds)
    [(cb, attempts)] = await callback_rows(hotline)
    assert [a.result for a in attempts] == ["not_satisfied"]
    assert len(dialled(driver, phone)) == 1


@pytest.mark.app_settings(callback_max_attempts=2, callback_retry_minutes=[15])
async def test_callback_busy_is_retried_then_unreachable(pbx: Pbx, driver: Driver, hotline: RunningApp) -> None:
    phone = "+79780000001"  # [city] answers Busy
    with HubWatch(
        hotline.services,
        lambda msg: msg.get("type") == "callback" and msg["change"] not in ("planned", "answered", "taken"),
    ) as outcome:
        number = await done_ticket(hotline, phone)
        await outcome.next(60)
        [(cb, attempts)] = await callback_rows(hotline)
        assert (cb.state, [a.result for a in attempts]) == ("planned", ["busy"])
        # 15 minutes pass: the retry falls due now
        async with hotline.services.sessions() as session, session.begin():
            await session.execute(
                update(m.Callback).where(m.Callback.id == cb.id).values(due_at=m.utcnow() - timedelta(seconds=1))
            )
        await outcome.next(60)
    await settle(hotline)
    [(cb, attempts)] = await callback_rows(hotline)
    assert (cb.state, cb.attempts, [a.result for a in attempts]) == ("unreachable", 2, ["busy", "busy"])
    assert len(dialled(driver, phone)) == 2
    assert (await hotline.services.tickets.get(number)).status is Status.DONE


async def test_click_to_call_from_a_ticket_dials_once(pbx: Pbx, driver: Driver, hotline: RunningApp) -> None:
    phone = "+79780000033"
    services = hotline.services
    await make_user(services, "op1", device="Local/op1@operators/n")
    ticket = await services.tickets.create(
        NewTicket(channel=Channel.WEB, phone=phone, category="water_leak", title="Порыв", address="ул. Ленина, 5"),
        OPERATOR,
    )
    async with signed_in(hotline.url, "op1") as op1:
        key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)
        first = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
        body = await first.json()
        assert first.status == 200 and body["outcome"] == "answered" and not body["repeated"], body
        # the operator answered; the citizen's phone rings through the dial context and answers
        await driver.wait_for(
            lambda e: (
                e.get("Event") == "Newstate"
                and e.get("ChannelStateDesc") == "Up"
                and e.get("Channel", "").startswith(f"Local/{phone}@city-")
            ),
            20,
            "citizen answers",
        )
        again = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
        repeated = await again.json()
    assert repeated["repeated"], repeated
    responses = [e for e in driver.events if e.get("Event") == "OriginateResponse" and e.get("ActionID") == key]
    assert len(responses) == 1 and responses[0]["Response"] == "Success"
    assert len(dialled(driver, phone)) == 1
    operator_legs = [
        e
        for e in driver.events
        if e.get("Event") == "Newchannel"
        and e.get("Channel", "").startswith("Local/op1@operators-")
        and e["Channel"].endswith(";1")
    ]
    assert len(operator_legs) == 1


async def test_asterisk_restarted_mid_call_link_back_calls_resynced_nothing_redialled(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    phone = "+79780000033"
    services = hotline.services
    await make_user(services, "op1", device="Local/op1@operators/n")
    ticket = await services.tickets.create(
        NewTicket(channel=Channel.WEB, phone=phone, category="water_leak", title="Порыв", address="ул. Ленина, 5"),
        OPERATOR,
    )
    link = services.ami
    stream = link.subscribe(name="restart-journey")
    with HubWatch(services, lambda msg: msg.get("type") == "board" and bool(msg["talking"])) as talking:
        async with signed_in(hotline.url, "op1") as op1:
            key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)
            reply = await op1.post(f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers=JSON)
            assert (await reply.json())["outcome"] == "answered"
        await talking.next(30)  # the board shows the call live

    with HubWatch(services, lambda msg: msg.get("type") == "call" and msg["change"] == "ended") as ended:
        pbx.asterisk.kill()  # a crash: no Hangup event will ever come for that call
        await _next_item(stream, lambda item: isinstance(item, LinkStatus) and item.state is LinkState.DISCONNECTED)
        pbx.asterisk.start()  # returns once Asterisk is fully booted
        booted = time.monotonic()
        assert await link.wait_connected(10), "the AMI link was not back within 10 s of Asterisk"
        print(f"AMI link back {time.monotonic() - booted:.2f} s after Asterisk booted")  # -s shows it
        await _next_item(stream, lambda item: isinstance(item, ChannelsSnapshot))
        gone = await ended.next(10)  # resync: the call Asterisk no longer has is over
    link.unsubscribe(stream)
    assert gone["call"]["linkedid"] == f"cc-{key}", gone
    assert hotline.telephony.board()["talking"] == []
    await driver.reconnect()
    assert await driver.live_channels() == []  # nothing was dialled again after the reconnect
    call_events = [e for e in (await services.tickets.detail(ticket.number)).events if e.kind == "call"]
    assert len(call_events) == 1, call_events


async def _next_item(stream, predicate, timeout: float = 30.0):
    async with asyncio.timeout(timeout):
        while True:
            item = await stream.get()
            if predicate(item):
                return item
