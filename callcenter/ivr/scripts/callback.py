"""The ``callback`` script (agi://host:4573/callback): the satisfaction call after a ticket is done.

The dialplan's [callback] context runs it on a call the AMI originated with the channel
variables TICKET_ID and CALLBACK_ID. The caller hears the ticket number, then presses
1 (satisfied), 2 (not satisfied: a short spoken comment follows) or 0 (operator). The
outcome goes to the backend and into CALLBACK_RESULT, whatever happens on the line: a
choice made before a hang-up still counts; no choice at all is "hangup" or "no_input".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from types import MappingProxyType

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiChannel, AgiError, AgiHangup, send_to_operator
from callcenter.ivr.engine import (
    CallIO,
    CallState,
    Clock,
    EngineSettings,
    RecordingSettings,
    check_recording,
    record_message,
    utc_now,
)
from callcenter.ivr.menu import Menu
from callcenter.ivr.ports import IvrBackend

logger = logging.getLogger(__name__)

KEY_OUTCOMES = MappingProxyType({"1": cv.OUTCOME_SATISFIED, "2": cv.OUTCOME_NOT_SATISFIED, "0": cv.OUTCOME_OPERATOR})


@dataclass
class CallbackOutcome:
    """What the satisfaction call produced so far."""

    value: str = cv.OUTCOME_HANGUP
    comment: str | None = None
    failed: bool = False


class CallbackFlow:
    """Runs the satisfaction call and reports its outcome through the backend port."""

    def __init__(
        self,
        menu: Menu,
        backend: IvrBackend,
        recordings: RecordingSettings,
        *,
        settings: EngineSettings = EngineSettings(),
        clock: Clock = utc_now,
    ) -> None:
        self._menu = menu
        self._backend = backend
        self._recordings = recordings
        self._settings = settings
        self._clock = clock

    async def run(self, channel: AgiChannel) -> None:
        """Handle one callback call to its end."""
        io = CallIO(channel, self._menu)
        ticket = (await channel.get_variable(cv.TICKET_ID) or "").strip()
        callback_id = (await channel.get_variable(cv.CALLBACK_ID) or "").strip() or None
        if not ticket.isdigit():
            logger.error(
                "callback call %s has no valid %s (%r); sent to the operator",
                channel.env.uniqueid,
                cv.TICKET_ID,
                ticket,
            )
            await channel.set_variable(cv.CALLBACK_RESULT, cv.OUTCOME_OPERATOR)
            await send_to_operator(channel)
            return
        outcome = CallbackOutcome()
        try:
            await self._converse(io, ticket, outcome)
        except AgiHangup as err:
            logger.info("callback for ticket %s: caller gone (%s); outcome %s", ticket, err, outcome.value)
        except Exception:
            logger.exception("callback for ticket %s failed; outcome so far %s", ticket, outcome.value)
            outcome.failed = True
            if outcome.value == cv.OUTCOME_HANGUP:  # nothing chosen yet: the citizen goes to an operator
                outcome.value = cv.OUTCOME_OPERATOR
        # The closing words play while the outcome is stored: no silence on the line meanwhile.
        report = asyncio.get_running_loop().create_task(
            self._report(channel, ticket, callback_id, outcome), name=f"callback-outcome-{ticket}"
        )
        try:
            await self._close(io, outcome)
        finally:
            await report  # _report logs its own failures; the outcome is never dropped

    async def _converse(self, io: CallIO, ticket: str, outcome: CallbackOutcome) -> None:
        spec = self._menu.callback
        await io.channel.answer()
        io.pending = await io.play(spec.intro_prompt)
        if io.pending is None:
            io.pending = await io.say_digits(ticket)
        if io.pending is None:
            io.pending = await io.play(spec.done_prompt)
        key = await self._ask(io, ticket)
        if key is None:
            outcome.value = cv.OUTCOME_NO_INPUT
            return
        outcome.value = KEY_OUTCOMES[key]
        await io.set(cv.IVR_CHOICE, key)
        if outcome.value == cv.OUTCOME_NOT_SATISFIED:
            await self._record_comment(io, ticket, outcome)

    async def _ask(self, io: CallIO, ticket: str) -> str | None:
        spec = self._menu.callback
        for _attempt in range(spec.retries + 1):
            key = await io.ask([spec.question_prompt], spec.timeout_seconds)
            if key in KEY_OUTCOMES:
                return key
            problem_prompt = spec.no_input_prompt if key is None else spec.invalid_prompt
            logger.info("callback for ticket %s: %s (%r)", ticket, "no input" if key is None else "wrong key", key)
            if problem_prompt:
                io.pending = await io.play(problem_prompt)
        return None

    async def _record_comment(self, io: CallIO, ticket: str, outcome: CallbackOutcome) -> None:
        spec = self._menu.callback
        io.pending = None
        await io.play(spec.comment_prompt)
        call = CallState(phone=io.channel.env.callerid, uniqueid=io.channel.env.uniqueid)
        recording = await record_message(
            io,
            self._recordings,
            kind=f"callback-{ticket}",
            call=call,
            max_seconds=spec.comment_max_seconds,
            silence_seconds=spec.comment_silence_seconds,
            now=self._clock(),
        )
        if recording.recorded:
            outcome.comment = str(recording.local_path)
            await check_recording(self._recordings, recording.local_path)
        if recording.hung_up:
            raise AgiHangup("caller hung up during the comment")

    async def _report(
        self, channel: AgiChannel, ticket: str, callback_id: str | None, outcome: CallbackOutcome
    ) -> None:
        try:
            async with asyncio.timeout(self._settings.submit_timeout):
                await self._backend.record_callback_outcome(
                    ticket_number=ticket,
                    callback_id=callback_id,
                    outcome=outcome.value,
                    comment_recording=outcome.comment,
                    call_uniqueid=channel.env.uniqueid,
                )
        except Exception:
            logger.exception(
                "callback outcome NOT saved: ticket %s, callback %s, outcome %s, comment %s, call %s",
                ticket,
                callback_id,
                outcome.value,
                outcome.comment,
                channel.env.uniqueid,
            )

    async def _close(self, io: CallIO, outcome: CallbackOutcome) -> None:
        channel = io.channel
        if not channel.usable:
            return
        with contextlib.suppress(AgiError):
            await channel.set_variable(cv.CALLBACK_RESULT, outcome.value)
        if channel.hung_up or not channel.usable:
            return
        spec = self._menu.callback
        try:
            if outcome.failed or outcome.value == cv.OUTCOME_OPERATOR:
                await send_to_operator(channel)
                await io.play(self._menu.error_prompt if outcome.failed else spec.operator_prompt)
                return
            await io.set(cv.IVR_ROUTE, cv.ROUTE_DONE)
            await io.play(
                {cv.OUTCOME_SATISFIED: spec.satisfied_prompt, cv.OUTCOME_NOT_SATISFIED: spec.not_satisfied_prompt}.get(
                    outcome.value, spec.goodbye_prompt
                )
            )
        except AgiError as err:
            logger.info("callback closing words not played on %s: %s", channel.env.uniqueid, err)


async def callback(channel: AgiChannel, *, flow: CallbackFlow) -> None:
    """Handler of the ``callback`` script."""
    await flow.run(channel)
