"""Runs the hotline menu (ivr/menu.yaml) against one AGI channel and the ticket backend.

Rules every flow here keeps:
* every prompt is played with escape digits, and a key pressed during it is the answer;
* a caller is never left in silence: a fault plays an apology and sets IVR_ROUTE=operator;
* nothing the caller said is lost: a recording made before a hang-up is still submitted;
* every backend call is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from callcenter.audiosocket.api import AudioSocketServer, MessageSpec
from callcenter.clock import Clock
from callcenter.clock import utcnow as utc_now
from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import ALL_DIGITS, AgiChannel, AgiError, AgiHangup, send_to_operator
from callcenter.ivr.menu import (
    ACTION_HANGUP,
    ACTION_MENU,
    ACTION_QUEUE,
    ACTION_RECORD,
    Choice,
    Menu,
    MenuDef,
)
from callcenter.ivr.outage import (
    HOW_ADDRESS,
    HOW_KEYPAD,
    OUTCOME_MENU,
    OUTCOME_OPERATOR,
    OUTCOME_SUBSCRIBED,
    OutageFlow,
)
from callcenter.ivr.ports import IvrBackend, TicketBrief

logger = logging.getLogger(__name__)

MAX_PATH_CHARS = 200  # IVR_PATH is for a screen pop: keep the latest choices if it grows


class IvrFault(Exception):
    """Something on our side failed mid-call; the caller goes to the operator."""


@dataclass(frozen=True)
class RecordingSettings:
    """Where recordings go: ``local_dir`` as we see it, ``asterisk_dir`` as Asterisk sees it.

    Asterisk writes the file on its own machine; when it shares the folder under another
    path, set ``asterisk_dir``. None means Asterisk sees the same path as we do."""

    local_dir: Path
    asterisk_dir: str | None = None
    fmt: str = "wav"
    # With an AudioSocket server the application records (EXEC AudioSocket): Asterisk needs no
    # access to local_dir. RECORD FILE is the fallback when Asterisk cannot reach the server.
    stream: AudioSocketServer | None = None
    stream_outcome_timeout: float = 15.0

    @property
    def is_local(self) -> bool:
        """True when the file Asterisk writes is at the same path here (so we can check it)."""
        return self.asterisk_dir is None or Path(self.asterisk_dir) == Path(self.local_dir)

    def locate(self, name: str) -> tuple[str, Path]:
        """(path without extension for RECORD FILE, local path with extension)."""
        base = str(self.local_dir) if self.asterisk_dir is None else self.asterisk_dir
        return f"{base.rstrip('/')}/{name}", Path(self.local_dir) / f"{name}.{self.fmt}"


@dataclass(frozen=True)
class EngineSettings:
    """Bounds on backend calls and on how long a caller can wander the menus."""

    lookup_timeout: float = 5.0
    submit_timeout: float = 30.0
    max_steps: int = 50


@dataclass
class CallState:
    """What one call has done so far."""

    phone: str
    uniqueid: str
    path: list[str] = field(default_factory=list)
    recordings: int = 0

    def add(self, *steps: str) -> None:
        """Append steps to the caller's path (IVR_PATH)."""
        self.path.extend(step for step in steps if step)

    @property
    def path_text(self) -> str:
        """The compact path, e.g. ``1>water_leak>record``."""
        text = ">".join(self.path)
        return text if len(text) <= MAX_PATH_CHARS else text[-MAX_PATH_CHARS:]


@dataclass(frozen=True)
class Recording:
    """A finished RECORD FILE: where it is and whether anything was said."""

    local_path: Path
    recorded: bool
    hung_up: bool
    failed: bool
    transcript: object = None  # the live transcript made while the caller spoke (AudioSocket)


def recording_name(kind: str, uniqueid: str, counter: int, now: datetime) -> str:
    """A file name unique per call and moment: ``ivr-20260101T101500-1795979627-17-1``."""
    safe = re.sub(r"[^0-9A-Za-z]+", "-", uniqueid).strip("-") or "nouid"
    return f"{kind}-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{safe}-{counter}"


class CallIO:
    """Prompts for one call. A key pressed while a prompt plays stops the rest and is kept
    in ``pending``, so the next question takes it as the caller's answer."""

    def __init__(self, channel: AgiChannel, menu: Menu) -> None:
        self.channel = channel
        self.menu = menu
        self.pending: str | None = None

    async def play(self, *prompts: str) -> str | None:
        """Play prompts in order; return the key that interrupted them, if any."""
        for prompt in prompts:
            result = await self.channel.stream_file(self.menu.sound(prompt), ALL_DIGITS)
            if result.failed:
                # Missing file, or the caller is gone: the next command tells which.
                logger.warning("prompt %s did not play on %s", prompt, self.channel.env.uniqueid)
            if result.digit:
                return result.digit
        return None

    async def say_digits(self, number: str) -> str | None:
        """Read a number digit by digit; return a key pressed meanwhile."""
        return (await self.channel.say_digits(number, ALL_DIGITS)).digit

    def take_pending(self) -> str | None:
        """The key pressed during an earlier prompt, once."""
        key, self.pending = self.pending, None
        return key

    async def ask(self, prompts: Iterable[str], timeout_seconds: float) -> str | None:
        """The pending key, or play the prompts and wait for one key; None on no input."""
        key = self.take_pending() or await self.play(*prompts)
        if key:
            return key
        result = await self.channel.wait_for_digit(int(timeout_seconds * 1000))
        return result.digits or None

    async def readback(self, brief: TicketBrief, number_prompt: str, status_prompt: str | None) -> None:
        """ "Номер заявки" + digits + the status prompt; a key pressed meanwhile stays pending."""
        key = await self.play(number_prompt)
        if key is None and brief.number.isdigit():
            key = await self.say_digits(brief.number)
        if key is None and status_prompt:
            key = await self.play(status_prompt)
        self.pending = key

    async def set(self, name: str, value: str) -> None:
        """SET VARIABLE (the AMI side sees it as a VarSet event)."""
        await self.channel.set_variable(name, value)


async def record_message(
    io: CallIO,
    recordings: RecordingSettings,
    *,
    kind: str,
    call: CallState,
    max_seconds: int,
    silence_seconds: int,
    now: datetime,
) -> Recording:
    """Record after a beep; ``#`` or silence ends it. A hang-up is returned, not raised.

    Over AudioSocket when the application has a server (it writes the file as the audio
    arrives), else RECORD FILE (Asterisk writes it into a folder both see)."""
    call.recordings += 1
    name = recording_name(kind, call.uniqueid, call.recordings, now)
    if recordings.stream is not None:
        streamed = await stream_message(
            io,
            recordings,
            recordings.stream,
            name,
            kind=kind,
            call=call,
            max_seconds=max_seconds,
            silence_seconds=silence_seconds,
        )
        if streamed is not None:
            return streamed
        logger.error("AudioSocket unreachable from Asterisk for %s: falling back to RECORD FILE", call.uniqueid)
    asterisk_path, local_path = recordings.locate(name)
    if recordings.is_local:
        await asyncio.to_thread(local_path.parent.mkdir, parents=True, exist_ok=True)
    result = await io.channel.record_file(
        asterisk_path, recordings.fmt, "#", max_seconds * 1000, beep=True, silence_s=silence_seconds
    )
    recorded = not result.failed and (result.endpos is None or result.endpos > 0)
    logger.info("recording %s on %s ended by %s (endpos %s)", local_path, call.uniqueid, result.reason, result.endpos)
    return Recording(local_path=local_path, recorded=recorded, hung_up=result.ended_by_hangup, failed=result.failed)


async def stream_message(
    io: CallIO,
    recordings: RecordingSettings,
    server: AudioSocketServer,
    name: str,
    *,
    kind: str,
    call: CallState,
    max_seconds: int,
    silence_seconds: int,
) -> Recording | None:
    """``EXEC AudioSocket <uuid>,<address>``: the application records, ends the message and
    plays the beep. None when Asterisk never connected (the caller can still be recorded the
    old way); a hang-up is returned, not raised."""
    local_path = Path(recordings.local_dir) / f"{name}.wav"
    expected = server.expect(
        MessageSpec(
            path=local_path,
            max_seconds=max_seconds,
            silence_seconds=silence_seconds,
            end_digits="#",
            call_uniqueid=call.uniqueid,
            phone=call.phone,
            kind=kind,
        )
    )
    hung_up = False
    try:
        reply = await io.channel.exec("AudioSocket", f"{expected.uuid},{server.address}")
        logger.debug("AudioSocket on %s returned %s", call.uniqueid, reply.result)
    except AgiHangup:
        hung_up = True  # the AGI link died; the server still has what the caller said
    if not expected.connected.is_set():
        expected.settle_cancelled("Asterisk did not connect")
        if hung_up or io.channel.hung_up:
            return Recording(local_path=local_path, recorded=False, hung_up=True, failed=False)
        return None
    outcome = await expected.outcome(recordings.stream_outcome_timeout)
    logger.info(
        "recording %s on %s ended by %s (%.1f s, speech %s)",
        local_path,
        call.uniqueid,
        outcome.reason,
        outcome.seconds,
        outcome.speech,
    )
    return Recording(
        local_path=local_path,
        recorded=outcome.recorded,
        hung_up=hung_up or outcome.hung_up or io.channel.hung_up,
        failed=False,
        transcript=outcome.transcript,
    )


async def check_recording(recordings: RecordingSettings, path: Path) -> None:
    """Warn when a local recording is missing or empty (it is submitted all the same)."""
    if not recordings.is_local:
        return
    size = await asyncio.to_thread(_file_size, path)
    if not size:
        logger.warning(
            "recording %s is %s; submitting it anyway (the transcript will be missing)",
            path,
            "empty" if size == 0 else "missing",
        )


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


async def apologise_and_route(io: CallIO) -> None:
    """After a fault: send the caller to the operator and say why (best effort)."""
    if not await send_to_operator(io.channel) or io.channel.hung_up:
        return
    try:
        await io.play(io.menu.error_prompt)
    except AgiError as err:
        logger.info("apology not played on %s: %s", io.channel.env.uniqueid, err)


class IvrEngine:
    """The hotline IVR: greeting, open ticket, menus, voice report, status, operator."""

    def __init__(
        self,
        menu: Menu,
        backend: IvrBackend,
        recordings: RecordingSettings,
        *,
        settings: EngineSettings = EngineSettings(),
        clock: Clock = utc_now,
        outage: OutageFlow | None = None,
    ) -> None:
        self._menu = menu
        self._backend = backend
        self._recordings = recordings
        self._settings = settings
        self._clock = clock
        self._outage = outage  # outage mode (ivr/outage.py); None: no incidents feature

    async def run_hotline(self, channel: AgiChannel) -> None:
        """Handle one hotline call to its end; AgiHangup propagates to the server."""
        call = CallState(phone=channel.env.callerid, uniqueid=channel.env.uniqueid)
        io = CallIO(channel, self._menu)
        try:
            await self._hotline(io, call)
        except AgiHangup:
            logger.info("IVR call %s from %s: caller hung up at %r", call.uniqueid, call.phone, call.path_text)
            raise
        except Exception:
            logger.exception(
                "IVR call %s from %s failed at %r; sending to the operator", call.uniqueid, call.phone, call.path_text
            )
            await apologise_and_route(io)

    async def _hotline(self, io: CallIO, call: CallState) -> None:
        await io.channel.answer()
        io.pending = await io.play(*self._menu.greeting)
        routed = await self._outage_before_menu(io, call)
        if routed is not False:  # subscribed (None), the operator (None), or out of hours a menu
            if routed is not None:
                await self._run_menus(io, call, routed)
            return
        first = await self._first_menu(io, call)
        if first is None:
            await self._finish(io, call, cv.ROUTE_HANGUP)
            return
        await self._run_menus(io, call, first)

    def _is_open(self) -> bool:
        return self._menu.hours.is_open(self._clock())

    async def _first_menu(self, io: CallIO, call: CallState) -> str | None:
        if not self._is_open():
            call.add("night")
            await io.set(cv.IVR_PATH, call.path_text)
            io.pending = await io.play(self._menu.hours.night_prompt)
            return self._menu.hours.night_menu
        # A key pressed during the greeting answers the start menu: the caller knows it.
        if io.pending is None and await self._announce_open_ticket(io, call):
            return self._menu.known_caller.menu
        return self._menu.start

    async def _announce_open_ticket(self, io: CallIO, call: CallState) -> bool:
        tickets = await self._open_tickets(call.phone)
        if not tickets:
            return False
        newest = tickets[0]
        await io.set(cv.IVR_TICKET, newest.number)
        io.pending = await io.play(self._menu.known_caller.prompt)
        if io.pending is None:
            status = self._menu.status
            await io.readback(newest, status.number_prompt, status.status_prompts.get(newest.status))
        return True

    async def _open_tickets(self, phone: str) -> list[TicketBrief]:
        if not phone:
            return []
        try:
            async with asyncio.timeout(self._settings.lookup_timeout):
                return list(await self._backend.open_tickets_for_phone(phone))
        except Exception:
            # Not knowing the caller's tickets must not stop the call.
            logger.exception("open tickets for %s not available; continuing without them", phone)
            return []

    async def _run_menus(self, io: CallIO, call: CallState, menu_id: str | None) -> None:
        steps = 0
        while menu_id is not None:
            if steps == self._settings.max_steps:
                break
            steps += 1
            menu = self._menu.menus[menu_id]
            choice = await self._choose(io, call, menu)
            if choice is None:
                menu_id = await self._exhausted(io, call, menu.on_exhausted)
            else:
                menu_id = await self._perform(io, call, choice)
        else:
            return
        # A caller (or a menu loop) going round and round: let a person help.
        logger.warning(
            "IVR call %s went through %d menus (%r); sending to the operator",
            call.uniqueid,
            self._settings.max_steps,
            call.path_text,
        )
        await send_to_operator(io.channel)

    async def _choose(self, io: CallIO, call: CallState, menu: MenuDef) -> Choice | None:
        problem = "no_input"
        for _attempt in range(menu.retries + 1):
            key = await io.ask(menu.prompts, menu.timeout_seconds)
            if key is not None and key in menu.choices:
                await io.set(cv.IVR_CHOICE, key)
                return menu.choices[key]
            problem, prompt = ("no_input", menu.no_input_prompt) if key is None else ("invalid", menu.invalid_prompt)
            logger.info("IVR call %s, menu %s: %s (%r)", call.uniqueid, menu.id, problem, key)
            if prompt:
                io.pending = await io.play(prompt)
        call.add(problem)
        return None

    async def _perform(self, io: CallIO, call: CallState, choice: Choice) -> str | None:
        if choice.action == ACTION_MENU:
            call.add(choice.key)
            await io.set(cv.IVR_PATH, call.path_text)
            return choice.menu
        if choice.action == ACTION_QUEUE:
            return await self._queue(io, call)
        if choice.action == ACTION_HANGUP:
            call.add("hangup")
            await self._finish(io, call, cv.ROUTE_HANGUP)
            return None
        if choice.action == ACTION_RECORD:
            routed, next_menu = await self._outage_keypad(io, call, choice.category)
            if routed:
                return next_menu
            return await self._report(io, call, choice.category)
        return await self._status(io, call)

    # --- outage mode (ivr/outage.py): a known incident is announced --------------------

    async def _outage_before_menu(self, io: CallIO, call: CallState) -> str | None | bool:
        """The caller's known address is inside an active incident: announce it and offer 1/0/9
        (day and night: at night 0 leads to the night message). False when the menus go on as
        usual; otherwise the call was routed (None) or goes on in the menu named."""
        if self._outage is None or io.pending is not None:
            return False
        notices = await self._outage.for_caller(call.phone)
        if not notices:
            return False
        outcome = await self._outage.offer(io, call, notices[0], HOW_ADDRESS)
        return await self._after_outage(io, call, outcome)

    async def _outage_keypad(self, io: CallIO, call: CallState, category: str | None) -> tuple[bool, str | None]:
        """The report menu's category has an active incident: ask the district, announce it there."""
        if self._outage is None:
            return False, None
        notices = await self._outage.for_keypad(io, call, category)
        if not notices:
            return False, None
        outcome = await self._outage.offer(io, call, notices[0], HOW_KEYPAD)
        if outcome == OUTCOME_MENU:
            return True, self._menu.start
        routed = await self._after_outage(io, call, outcome)
        return (False, None) if routed is False else (True, routed)

    async def _after_outage(self, io: CallIO, call: CallState, outcome: str) -> str | None | bool:
        """Subscribed: goodbye. Operator: the queue. Otherwise False (the menus go on)."""
        if outcome == OUTCOME_SUBSCRIBED:
            await self._finish(io, call, cv.ROUTE_DONE)
            return None
        if outcome == OUTCOME_OPERATOR:
            return await self._queue(io, call)
        return False

    async def _exhausted(self, io: CallIO, call: CallState, fallback: str) -> str | None:
        if fallback == ACTION_QUEUE and self._is_open():
            return await self._queue(io, call)
        # Out of hours a silent caller is not sent round the night menu again.
        call.add("hangup")
        await self._finish(io, call, cv.ROUTE_HANGUP)
        return None

    async def _queue(self, io: CallIO, call: CallState) -> str | None:
        hours = self._menu.hours
        if not self._is_open():
            call.add("night")
            await io.set(cv.IVR_PATH, call.path_text)
            io.pending = await io.play(hours.night_prompt)
            if hours.night_menu is None:
                await self._finish(io, call, cv.ROUTE_HANGUP)
            return hours.night_menu
        call.add("operator")
        await io.set(cv.IVR_PATH, call.path_text)
        await io.set(cv.IVR_ROUTE, cv.ROUTE_OPERATOR)  # first, so a failed prompt cannot lose it
        await io.play(self._menu.operator_prompt)
        return None

    async def _finish(self, io: CallIO, call: CallState, route: str) -> None:
        await io.set(cv.IVR_PATH, call.path_text)
        await io.set(cv.IVR_ROUTE, route)
        await io.play(self._menu.goodbye_prompt)

    # --- 1: report a problem by voice ------------------------------------------------

    async def _report(self, io: CallIO, call: CallState, category: str | None) -> str | None:
        call.add(category or "", "record")
        await io.set(cv.IVR_PATH, call.path_text)
        spec = self._menu.recording
        for attempt in range(spec.retries + 1):
            io.pending = None
            await io.play(spec.prompt)  # a key here only skips the instructions
            recording = await record_message(
                io,
                self._recordings,
                kind="ivr",
                call=call,
                now=self._clock(),
                max_seconds=spec.max_seconds,
                silence_seconds=spec.silence_seconds,
            )
            if recording.recorded:
                return await self._submit_report(io, call, category, recording)
            if recording.hung_up:
                raise AgiHangup("caller hung up before saying anything")
            if recording.failed:
                raise IvrFault(f"Asterisk could not write {recording.local_path}")
            if attempt < spec.retries:
                await io.play(spec.empty_prompt)
        call.add("empty")
        return await self._queue(io, call)

    async def _submit_report(
        self, io: CallIO, call: CallState, category: str | None, recording: Recording
    ) -> str | None:
        await check_recording(self._recordings, recording.local_path)
        brief = await self._submit(call, category, recording.local_path, recording.transcript)
        await io.set(cv.IVR_TICKET, brief.number)
        if recording.hung_up or io.channel.hung_up:
            raise AgiHangup(f"caller hung up while recording; ticket {brief.number} saved")
        spec = self._menu.recording
        io.pending = await io.play(spec.accepted_prompt)
        if io.pending is None:
            await io.readback(brief, spec.number_prompt, None)
        await self._ask_consent(io, call, brief)
        if spec.next is None:
            await self._finish(io, call, cv.ROUTE_DONE)
        return spec.next

    async def _ask_consent(self, io: CallIO, call: CallState, brief: TicketBrief) -> None:
        """SMS about this ticket (152-ФЗ): one question, a short wait; only the key agrees.

        Not asked without the menu's ``consent`` section or when the ticket has no phone number
        (withheld caller id). A failure to store the answer is logged; the call goes on."""
        spec = self._menu.consent
        if spec is None or not brief.phone_known:
            return
        io.pending = None  # a key pressed during the read-back is not an answer to this question
        key = await io.ask([spec.prompt], spec.timeout_seconds)
        if key != spec.key:
            call.add("no_sms")
            await io.set(cv.IVR_PATH, call.path_text)
            return
        call.add("sms")
        await io.set(cv.IVR_PATH, call.path_text)
        try:
            async with asyncio.timeout(self._settings.lookup_timeout):
                recorded = await self._backend.record_sms_consent(
                    ticket_number=brief.number, call_uniqueid=call.uniqueid
                )
        except Exception:
            logger.exception("SMS consent for ticket %s (call %s) NOT recorded", brief.number, call.uniqueid)
            return
        if recorded and spec.recorded_prompt:
            await io.play(spec.recorded_prompt)

    async def _submit(
        self, call: CallState, category: str | None, path: Path, transcript: object = None
    ) -> TicketBrief:
        live = {"transcript": transcript} if transcript is not None else {}
        try:
            async with asyncio.timeout(self._settings.submit_timeout):
                return await self._backend.submit_voice_report(
                    phone=call.phone,
                    category_code=category,
                    recording_path=str(path),
                    call_uniqueid=call.uniqueid,
                    ivr_path=call.path_text,
                    **live,
                )
        except Exception as err:
            # Logged with everything needed to file it by hand: the recording stays on disk.
            logger.exception(
                "voice report NOT saved: phone %s, category %s, recording %s, call %s, path %r",
                call.phone,
                category,
                path,
                call.uniqueid,
                call.path_text,
            )
            raise IvrFault("the backend did not take the voice report") from err

    # --- 2: status by ticket number --------------------------------------------------

    async def _status(self, io: CallIO, call: CallState) -> str | None:
        call.add("status")
        await io.set(cv.IVR_PATH, call.path_text)
        spec = self._menu.status
        problem = "no_input"
        for _attempt in range(spec.retries + 1):
            io.pending = None
            typed = await io.channel.get_data(
                self._menu.sound(spec.prompt), int(spec.timeout_seconds * 1000), spec.max_digits
            )
            problem, prompt = self._check_number(typed.digits)
            if problem is None:
                brief = await self._lookup(typed.digits)
                if brief is not None:
                    return await self._tell_status(io, call, brief)
                problem, prompt = "not_found", spec.not_found_prompt
            logger.info("IVR call %s, status lookup: %s (%r)", call.uniqueid, problem, typed.digits)
            if prompt:
                await io.play(prompt)
        call.add(problem)
        return await self._exhausted(io, call, spec.on_exhausted)

    def _check_number(self, digits: str) -> tuple[str | None, str | None]:
        spec = self._menu.status
        if not digits:
            return "no_input", spec.no_input_prompt
        if not digits.isdigit():
            return "invalid", spec.invalid_prompt
        return None, ""

    async def _lookup(self, number: str) -> TicketBrief | None:
        async with asyncio.timeout(self._settings.lookup_timeout):
            return await self._backend.ticket_status(number)

    async def _tell_status(self, io: CallIO, call: CallState, brief: TicketBrief) -> str | None:
        await io.set(cv.IVR_TICKET, brief.number)
        status_prompt = self._menu.status.status_prompts.get(brief.status)
        if status_prompt is None:
            logger.warning("no prompt for ticket status %r (ticket %s)", brief.status, brief.number)
        await io.readback(brief, self._menu.status.number_prompt, status_prompt)
        if self._menu.status.next is None:
            await self._finish(io, call, cv.ROUTE_DONE)
        return self._menu.status.next
