"""Live conversations: the operator's talk with the caller, streamed to the application.

::

    AMI AgentConnect --> ConversationSpies (spies.py) --Start--> per leg:
        AudioSocketServer.expect(uuid)  +  AMI Originate
            Channel: AudioSocket/<our address>/<uuid>/c(slin)   (chan_audiosocket)
            Context: conversation-spy, Exten: s, Variable: SPY_TARGET=<the leg's Uniqueid>
        Asterisk connects to us, answers, and the dialplan runs ChanSpy(${SPY_TARGET},qEou):
        what that leg says comes to us as 20 ms frames --> PartyTranscript (Vosk, live)
        --> "conversation" messages to the operator's browser
    AMI Hangup of a spied leg / AgentComplete --Stop--> the app hangs the spies up (ChanSpy's
        E option has already ended the one whose target hung up) --> the transcript (and the
        two recordings) are kept on the call's row: calls.data["conversation"].

docs/asterisk.md ("Live conversation transcript") says why this mechanism and not another.
Everything waits with a bound; a spy that cannot be placed is logged and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from callcenter.audiosocket.api import AudioSocketServer, Expected, MessageSpec, RecordingOutcome
from callcenter.conversation.spies import ConversationSpies, Leg, Start, Stop
from callcenter.conversation.transcript import Conversation, PartyTranscript
from callcenter.events import EventHub
from callcenter.ivr.api import channel_vars as cv
from callcenter.stt.api import SpeechService, SttUnavailable
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.telephony.api import AmiLink, InvalidOriginate, OriginateRequest

logger = logging.getLogger(__name__)

SPY_VARIABLE = cv.SPY_TARGET
ORIGINATE_TIMEOUT = 15.0
SAVE_TIMEOUT = 30.0

# async (interface) -> the staff user at that phone (OperatorDirectory.resolve), or None
Operators = Callable[[str], Awaitable[Any]]
# async (linkedid, transcript record, started_at) -> None (CallStore.save_conversation)
Keeper = Callable[[str, dict[str, Any], datetime], Awaitable[None]]


@dataclass
class ConversationStats:
    started: int = 0  # conversations whose spies were asked for
    spies_placed: int = 0
    spies_failed: int = 0
    saved: int = 0
    save_failures: int = 0


@dataclass
class _Live:
    conversation: Conversation
    sessions: dict[str, Expected] = field(default_factory=dict)  # party -> its spy session
    ended_by: str = ""


class LiveConversations:
    """Follows the AMI link; spies on every answered queue call while it lasts."""

    def __init__(
        self,
        link: AmiLink,
        server: AudioSocketServer,
        speech: SpeechService,
        hub: EventHub,
        *,
        operators: Operators,
        keep: Keeper,
        recordings_dir: Path,
        context: str = "conversation-spy",
        max_seconds: float = 3600.0,
        max_calls: int = 10,
    ) -> None:
        self.link = link
        self.server = server
        self.speech = speech
        self.hub = hub
        self.operators = operators
        self.keep = keep
        self.recordings_dir = Path(recordings_dir)
        self.context = context
        self.max_seconds = max_seconds
        self.max_calls = max_calls
        self.spies = ConversationSpies()
        self.stats = ConversationStats()
        self._live: dict[str, _Live] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._events = link.subscribe(events=ConversationSpies.EVENTS, maxsize=2000, name="conversation")

    async def start(self) -> None:
        if not self.speech.available:
            logger.warning(
                "live conversation transcript: no speech model (%s); the talk is recorded, not transcribed",
                self.speech.unavailable_reason,
            )
        self._reader = start_task(self._run(), name="conversation-events", logger=logger)

    async def close(self) -> None:
        self.link.unsubscribe(self._events)
        await cancel_and_wait(self._reader)
        for live in self._live.values():
            live.ended_by = live.ended_by or "shutdown"
            for session in live.sessions.values():
                session.hang_up()
                if not session.connected.is_set():
                    session.settle_cancelled("application shutting down")  # Asterisk never came
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        await cancel_and_wait(*self._tasks)

    async def wait_idle(self, timeout: float) -> None:
        """Until every conversation is over and kept (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.wait(set(self._tasks))

    # --- the AMI side ---------------------------------------------------------------------

    async def _run(self) -> None:
        async for item in self._events:
            if not isinstance(item, dict):
                continue  # link status, resync lists, gaps: the spies end by themselves (E)
            for decision in self.spies.feed(item):
                if isinstance(decision, Start):
                    self._begin(decision)
                elif isinstance(decision, Stop):
                    self._end(decision)

    def _begin(self, start: Start) -> None:
        if len(self._live) >= self.max_calls:
            logger.warning(
                "call %s: no live conversation transcript, %d conversations already", start.linkedid, len(self._live)
            )
            self.spies.forget(start.linkedid)
            return
        self.stats.started += 1
        conversation = Conversation(
            start.linkedid, self.hub, user_id=None, interface=start.interface, caller=start.caller
        )
        live = self._live[start.linkedid] = _Live(conversation)
        for leg in start.legs:
            live.sessions[leg.party] = self._expect(conversation, leg)
        task = start_task(self._follow(start, live), name=f"conversation-{start.linkedid}", logger=logger)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _end(self, stop: Stop) -> None:
        live = self._live.get(stop.linkedid)
        if live is None:
            return
        live.ended_by = live.ended_by or stop.reason
        for session in live.sessions.values():
            session.hang_up()

    # --- one conversation -----------------------------------------------------------------

    async def _follow(self, start: Start, live: _Live) -> None:
        conversation = live.conversation
        try:
            user = await self._operator(start.interface)
            conversation.user_id = getattr(user, "id", None)
            conversation.publish("started", parties=[leg.party for leg in start.legs])
            placed = await asyncio.gather(*(self._place(start, leg, live.sessions[leg.party]) for leg in start.legs))
            if not any(placed):
                self.spies.forget(start.linkedid)
            outcomes = await asyncio.gather(
                *(session.outcome(self.max_seconds + 60.0) for session in live.sessions.values())
            )
            await self._kept(live, outcomes)
        finally:
            self._live.pop(start.linkedid, None)
            for session in live.sessions.values():
                session.hang_up()  # both no-ops once the session ended by itself
                session.settle_cancelled("conversation over")

    async def _operator(self, interface: str) -> Any:
        try:
            async with asyncio.timeout(5.0):
                return await self.operators(interface)
        except Exception as err:  # noqa: BLE001 - the transcript is still made and kept
            logger.warning("conversation at %s: operator unknown (%s)", interface, err)
            return None

    def _expect(self, conversation: Conversation, leg: Leg) -> Expected:
        spec = MessageSpec(
            path=self.recordings_dir / "conversations" / f"{_safe(conversation.linkedid)}-{leg.party}.wav",
            max_seconds=self.max_seconds,
            silence_seconds=self.max_seconds,  # a pause in the talk ends nothing
            end_digits="",
            beep=False,  # the spy is silent: nothing is played to anyone
            call_uniqueid=leg.uniqueid,
            phone=conversation.caller,
            kind="conversation",
        )

        def listener(_spec: MessageSpec) -> PartyTranscript | None:
            try:
                return PartyTranscript(conversation, leg.party, self.speech)
            except SttUnavailable:
                return None  # recorded only

        return self.server.expect(spec, listener)

    async def _place(self, start: Start, leg: Leg, session: Expected) -> bool:
        """Originate the AudioSocket channel that runs ChanSpy on ``leg``; False if not placed."""
        try:
            request = OriginateRequest(
                request_id=f"spy-{leg.uniqueid}",
                channel=f"AudioSocket/{self.server.address}/{session.uuid}/c(slin)",
                context=self.context,
                exten="s",
                variables=((SPY_VARIABLE, leg.uniqueid),),
                ring_timeout=10.0,
            )
        except InvalidOriginate as err:
            return self._not_placed(start, leg, session, str(err))
        try:
            result = await self.link.originate(request, timeout=ORIGINATE_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - the call goes on without its transcript
            return self._not_placed(start, leg, session, str(err))
        if result.outcome.value != "answered":
            return self._not_placed(start, leg, session, f"{result.outcome.value}: {result.detail}")
        self.stats.spies_placed += 1
        logger.info("call %s: listening to the %s (%s)", start.linkedid, leg.party, leg.channel)
        return True

    def _not_placed(self, start: Start, leg: Leg, session: Expected, why: str) -> bool:
        self.stats.spies_failed += 1
        logger.warning("call %s: no spy on the %s's channel %s: %s", start.linkedid, leg.party, leg.channel, why)
        session.hang_up()
        session.settle_cancelled(why)
        return False

    async def _kept(self, live: _Live, outcomes: list[RecordingOutcome]) -> None:
        """Wait for the last words to be decoded, tell the operator, keep the transcript."""
        for outcome in outcomes:
            if outcome.transcript is not None:
                await asyncio.gather(outcome.transcript, return_exceptions=True)
        conversation = live.conversation
        recordings = {
            party: outcome.path.name
            for party, outcome in zip(live.sessions, outcomes, strict=True)
            if outcome.audio_bytes
        }
        if not recordings and not conversation.lines:
            conversation.publish("ended", lines=[], saved=False)
            return  # no spy was placed: nothing to keep
        record = conversation.as_record(recordings, live.ended_by or outcomes[0].reason)
        saved = False
        try:
            async with asyncio.timeout(SAVE_TIMEOUT):
                await self.keep(conversation.linkedid, record, conversation.started_at)
            saved = True
            self.stats.saved += 1
        except Exception as err:  # noqa: BLE001 - the operator still gets the lines
            self.stats.save_failures += 1
            logger.error("conversation of call %s not saved: %s", conversation.linkedid, err)
        conversation.publish("ended", lines=conversation.lines, saved=saved)


def _safe(linkedid: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in linkedid)[:64]
