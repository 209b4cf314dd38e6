"""The ``escalation`` script (agi://host:4573/escalation): a late ticket read to a duty phone.

The dialplan's [escalation] context runs it on a call the AMI originated (wallboard feature,
callcenter/wallboard/escalation.py) with TICKET_ID, ESCALATION_ID and ESCALATION_KIND. The
dispatcher hears the ticket's number, then its category and address (spoken for this call
with espeak-ng into the prompts folder Asterisk reads, while the number is read), and presses
1 to accept the ticket on the department's behalf (``accept``) or to confirm they know it is
overdue (``done``). ESCALATION_RESULT says what happened; the backend writes the timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiChannel, AgiError, AgiHangup
from callcenter.ivr.engine import CallIO
from callcenter.ivr.menu import Menu

logger = logging.getLogger(__name__)

KINDS = ("accept", "done")
SPEAK_TIMEOUT = 20.0


@dataclass(frozen=True)
class EscalationBrief:
    """What the duty dispatcher hears about the ticket."""

    number: str
    category: str  # the category's name
    address: str
    still_due: bool  # False once the ticket left the stage the escalation is about


class EscalationBackend(Protocol):
    async def escalation_brief(self, ticket_number: str, kind: str) -> EscalationBrief | None: ...

    async def escalation_answered(
        self, *, ticket_number: str, escalation_id: str | None, kind: str, accepted: bool, call_uniqueid: str
    ) -> bool:
        """Record the answer; True when the ticket was accepted (or the lateness acknowledged)."""
        ...


class Speaker(Protocol):
    async def __call__(self, text: str, name: str) -> str | None:
        """Make a prompt saying ``text``; its prompt name, or None when it cannot be made."""
        ...


def spoken_details(brief: EscalationBrief) -> str:
    parts = []
    if brief.category:
        parts.append(f"Категория: {brief.category}.")
    if brief.address:
        parts.append(f"Адрес: {brief.address}.")
    return " ".join(parts)


class EscalationFlow:
    def __init__(self, menu: Menu, backend: EscalationBackend, speak: Speaker | None) -> None:
        self._menu = menu
        self._backend = backend
        self._speak = speak

    async def run(self, channel: AgiChannel) -> None:
        io = CallIO(channel, self._menu)
        number = (await channel.get_variable(cv.TICKET_ID) or "").strip()
        escalation_id = (await channel.get_variable(cv.ESCALATION_ID) or "").strip() or None
        kind = (await channel.get_variable(cv.ESCALATION_KIND) or "accept").strip()
        kind = kind if kind in KINDS else "accept"
        result = cv.ESCALATION_HANGUP
        try:
            result = await self._converse(io, number, escalation_id, kind)
        except AgiHangup:
            logger.info("escalation call for ticket %s: the dispatcher hung up", number)
        except Exception:
            logger.exception("escalation call for ticket %s failed", number)
            result = cv.ESCALATION_NOT_ACCEPTED
        if channel.usable and not channel.hung_up:
            with contextlib.suppress(AgiError):
                await channel.set_variable(cv.ESCALATION_RESULT, result)

    async def _converse(self, io: CallIO, number: str, escalation_id: str | None, kind: str) -> str:
        channel = io.channel
        brief = await self._backend.escalation_brief(number, kind) if number.isdigit() else None
        if brief is None:
            logger.error("escalation call %s: no ticket %r", channel.env.uniqueid, number)
            return cv.ESCALATION_NOT_ACCEPTED
        await channel.answer()
        details = None
        if self._speak is not None and spoken_details(brief):
            name = "escalation-ticket-" + re.sub(r"\D", "", brief.number)
            details = asyncio.get_running_loop().create_task(self._speak(spoken_details(brief), name))
        try:
            spec = self._menu.escalation
            key = await io.play(spec.intro_prompt if kind == "accept" else spec.intro_done_prompt)
            if key is None:
                key = await io.say_digits(brief.number)
            prompt = None
            if details is not None:
                async with asyncio.timeout(SPEAK_TIMEOUT):
                    prompt = await details
            if key is None and prompt:
                key = await io.play(prompt)
        finally:
            if details is not None and not details.done():
                details.cancel()
        io.pending = key
        accepted = await self._ask(io, kind)
        done = await self._backend.escalation_answered(
            ticket_number=brief.number,
            escalation_id=escalation_id,
            kind=kind,
            accepted=accepted,
            call_uniqueid=channel.env.uniqueid,
        )
        await io.set(cv.IVR_CHOICE, "1" if accepted else "")
        spec = self._menu.escalation
        thanks = spec.accepted_prompt if kind == "accept" else spec.acknowledged_prompt
        await io.play(thanks if done else spec.not_accepted_prompt)
        return cv.ESCALATION_ACCEPTED if done else cv.ESCALATION_NOT_ACCEPTED

    async def _ask(self, io: CallIO, kind: str) -> bool:
        spec = self._menu.escalation
        question = spec.question_prompt if kind == "accept" else spec.question_done_prompt
        for _attempt in range(spec.retries + 1):
            key = await io.ask([question], spec.timeout_seconds)
            if key == "1":
                return True
        return False


def file_speaker(prompts_dir: Path | None, sound_prefix: str) -> Speaker | None:
    """Speak into the folder Asterisk plays prompts from (None: Asterisk is elsewhere, say nothing)."""
    if prompts_dir is None:
        return None

    async def speak(text: str, name: str) -> str | None:
        from callcenter.ivr.prompts import generate_prompts

        try:
            await generate_prompts({name: text}, prompts_dir, overwrite=True, progress=False)
        except Exception as err:  # noqa: BLE001 - no espeak-ng/sox: the number alone is read
            logger.warning("escalation details not spoken (%s)", err)
            return None
        return name

    del sound_prefix
    return speak


async def escalation(channel: AgiChannel, *, flow: EscalationFlow) -> None:
    """Handler of the ``escalation`` script."""
    await flow.run(channel)
