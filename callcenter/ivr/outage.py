"""Outage mode in the hotline IVR: announce a known incident before the main menu.

A caller whose earlier ticket's address is inside an active incident, or who picks the
incident's category in the report menu and then their district on the keypad, hears what
happened, where, and the expected restoration ("ожидаемое время восстановления — 18:30":
prompt segments and SAY NUMBER, never silence when a per-incident recording is missing).
Then: 1 — "сообщите мне, когда восстановят" (a ticket linked to the master, with the
caller's number, no operator), 0 — an operator, 9 — the main menu (another question).

The texts and keys are data: the ``outage`` section of ivr/menu.yaml (read here, so the rest
of the menu code stays as it was). The incidents feature implements :class:`OutagePort`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.ports import TicketBrief

if TYPE_CHECKING:
    from callcenter.ivr.engine import CallIO, CallState

logger = logging.getLogger(__name__)

OUTCOME_SUBSCRIBED = "subscribed"
OUTCOME_OPERATOR = "operator"
OUTCOME_MENU = "menu"
OUTCOME_NO_INPUT = "no_input"
OUTCOME_HANGUP = "hangup"
HOW_ADDRESS = "address"
HOW_KEYPAD = "keypad"


@dataclass(frozen=True)
class OutageNotice:
    """What the IVR says about one incident."""

    incident_id: int
    category: str
    districts: tuple[str, ...]  # where, by district (Russian names as in the reference data)
    hour: int | None  # expected restoration, local time; None when unknown
    minute: int | None
    day: str = "today"  # today, tomorrow, later
    recording: str | None = None  # a per-incident sound name (under the sound prefix), if any


class OutagePort(Protocol):
    """What the IVR asks of the incidents feature; every call is bounded by a timeout."""

    async def notices_for_caller(self, phone: str) -> list[OutageNotice]:
        """Active incidents holding an address from this caller's earlier tickets."""
        ...

    async def has_active(self, category: str) -> bool:
        """Any active incident of this category (so the keypad path asks for the district)."""
        ...

    async def notices_for_district(self, category: str, district: str) -> list[OutageNotice]: ...

    async def subscribe(self, incident_id: int, phone: str, call_uniqueid: str) -> TicketBrief:
        """The caller's ticket linked to the incident's master (created, or theirs already)."""
        ...

    async def record_call(self, incident_id: int, phone: str, call_uniqueid: str, how: str, outcome: str) -> None: ...


@dataclass(frozen=True)
class OutageDef:
    """The ``outage`` section of menu.yaml."""

    intro_prompt: str
    generic_prompt: str
    category_prompts: Mapping[str, str]
    where_prompt: str
    district_prompts: Mapping[str, str]
    restore_prompt: str
    tomorrow_prompt: str
    later_prompt: str
    unknown_time_prompt: str
    offer_prompt: str
    subscribed_prompt: str
    number_prompt: str
    subscribe_failed_prompt: str
    timeout_seconds: float
    retries: int
    subscribe_key: str
    operator_key: str
    menu_key: str
    district_prompt: str  # the keypad path: which district
    districts: Mapping[str, str]  # key -> district


def read_outage(section: Any) -> OutageDef | None:
    """Read the ``outage`` section (a menu._Section); problems are collected by the section."""
    prompts = {
        name: section.prompt(name)
        for name in (
            "intro_prompt",
            "generic_prompt",
            "where_prompt",
            "restore_prompt",
            "tomorrow_prompt",
            "later_prompt",
            "unknown_time_prompt",
            "offer_prompt",
            "subscribed_prompt",
            "number_prompt",
            "subscribe_failed_prompt",
            "district_prompt",
        )
    }
    category_prompts = _prompt_map(section.section("category_prompts"))
    district_prompts = _prompt_map(section.section("district_prompts"))
    keys_section = section.section("keys")
    keys = {
        name: keys_section.text(name, default)
        for name, default in (("subscribe", "1"), ("operator", "0"), ("menu", "9"))
    }
    keys_section.finish()
    districts_section = section.section("districts")
    districts = {}
    for key, value in districts_section.data.items():
        districts_section.used.add(key)
        if str(key) not in "123456789" or len(str(key)) != 1 or not isinstance(value, str):
            districts_section.error(key, "a key 1-9 and a district name")
            continue
        districts[str(key)] = value
    outage = OutageDef(
        **prompts,
        category_prompts=category_prompts,
        district_prompts=district_prompts,
        timeout_seconds=section.number("timeout_seconds", 6, 1, 60, integer=False),
        retries=section.number("retries", 1, 0, 5),
        subscribe_key=keys["subscribe"] or "1",
        operator_key=keys["operator"] or "0",
        menu_key=keys["menu"] or "9",
        districts=districts,
    )
    section.finish()
    return outage


def _prompt_map(section: Any) -> dict[str, str]:
    result = {}
    for key in list(section.data):
        name = section.prompt(key)
        if name:
            result[str(key)] = name
    return result


class OutageFlow:
    """The announcement and the 1/0/9 offer; used by the engine before the main menu and in the
    report menu (keypad path)."""

    def __init__(
        self,
        spec: OutageDef,
        port: OutagePort,
        *,
        lookup_timeout: float,
        submit_timeout: float,
        sound_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.spec = spec
        self._port = port
        self._lookup_timeout = lookup_timeout
        self._submit_timeout = submit_timeout
        self._sound_exists = sound_exists

    async def for_caller(self, phone: str) -> list[OutageNotice]:
        if not phone:
            return []
        try:
            async with asyncio.timeout(self._lookup_timeout):
                return list(await self._port.notices_for_caller(phone))
        except Exception:
            logger.exception("active incidents for %s not available; continuing without them", phone)
            return []

    async def for_keypad(self, io: CallIO, call: CallState, category: str | None) -> list[OutageNotice]:
        """Ask the district when the category has an active incident; the notices there."""
        if category is None:
            return []
        try:
            async with asyncio.timeout(self._lookup_timeout):
                if not await self._port.has_active(category):
                    return []
        except Exception:
            logger.exception("active incidents of %s not available; continuing without them", category)
            return []
        spec = self.spec
        key = await io.ask([spec.district_prompt], spec.timeout_seconds)
        district = spec.districts.get(key or "")
        call.add(f"district{key}" if district else "nodistrict")
        if district is None:
            return []
        try:
            async with asyncio.timeout(self._lookup_timeout):
                return list(await self._port.notices_for_district(category, district))
        except Exception:
            logger.exception("incidents of %s in %s not available", category, district)
            return []

    async def announce(self, io: CallIO, notice: OutageNotice) -> None:
        """What, where, when; a key pressed meanwhile stays pending (the offer takes it)."""
        spec = self.spec
        await io.set(cv.IVR_INCIDENT, str(notice.incident_id))
        key = await io.play(spec.intro_prompt)
        played_recording = False
        if key is None and notice.recording and self._recording_available(notice.recording):
            result = await io.channel.stream_file(io.menu.sound(notice.recording), _ALL)
            played_recording = not result.failed
            key = result.digit
        if key is None and not played_recording:
            key = await io.play(spec.category_prompts.get(notice.category, spec.generic_prompt))
            where = [spec.district_prompts[d] for d in notice.districts if d in spec.district_prompts]
            if key is None and where:
                key = await io.play(spec.where_prompt, *where)
        if key is None:
            key = await self._say_time(io, notice)
        io.pending = key

    def _recording_available(self, name: str) -> bool:
        if self._sound_exists is None:
            return True
        try:
            return self._sound_exists(name)
        except OSError:
            return False

    async def _say_time(self, io: CallIO, notice: OutageNotice) -> str | None:
        spec = self.spec
        if notice.hour is None or notice.minute is None:
            return await io.play(spec.unknown_time_prompt)
        key = await io.play(spec.restore_prompt)
        if key is None and notice.day != "today":
            key = await io.play(spec.tomorrow_prompt if notice.day == "tomorrow" else spec.later_prompt)
        if key is None:
            key = (await io.channel.say_number(notice.hour, _ALL)).digit
        if key is None:
            if notice.minute == 0:
                key = (await io.channel.say_digits("00", _ALL)).digit
            else:
                if notice.minute < 10:
                    key = (await io.channel.say_digits("0", _ALL)).digit
                if key is None:
                    key = (await io.channel.say_number(notice.minute, _ALL)).digit
        return key

    async def offer(self, io: CallIO, call: CallState, notice: OutageNotice, how: str) -> str:
        """Announce, then 1 / 0 / 9. Returns an OUTCOME_* (subscribed has already said goodbye)."""
        spec = self.spec
        call.add(f"incident{notice.incident_id}")
        await io.set(cv.IVR_PATH, call.path_text)
        outcome = OUTCOME_HANGUP
        try:
            await self.announce(io, notice)
            outcome = OUTCOME_NO_INPUT
            valid = (spec.subscribe_key, spec.operator_key, spec.menu_key)
            key = None
            for _attempt in range(spec.retries + 1):
                key = await io.ask([spec.offer_prompt], spec.timeout_seconds)
                if key in valid:
                    break
                logger.info("IVR call %s, outage offer: %r", call.uniqueid, key)
                key = None
            if key is not None:
                await io.set(cv.IVR_CHOICE, key)
            if key == spec.subscribe_key:
                call.add("subscribe")
                outcome = OUTCOME_SUBSCRIBED if await self._subscribe(io, call, notice) else OUTCOME_OPERATOR
            elif key == spec.operator_key:
                outcome = OUTCOME_OPERATOR
            elif key == spec.menu_key:
                outcome = OUTCOME_MENU
            return outcome
        finally:
            await self._record(notice, call, how, outcome)

    async def _subscribe(self, io: CallIO, call: CallState, notice: OutageNotice) -> bool:
        """True when the caller is on the incident; False (an apology played) sends them to an operator."""
        spec = self.spec
        try:
            async with asyncio.timeout(self._submit_timeout):
                brief = await self._port.subscribe(notice.incident_id, call.phone, call.uniqueid)
        except Exception:
            logger.exception("outage subscription NOT saved: incident %s, phone %s", notice.incident_id, call.phone)
            io.pending = None
            await io.play(spec.subscribe_failed_prompt)
            return False
        await io.set(cv.IVR_TICKET, brief.number)
        await io.set(cv.IVR_PATH, call.path_text)
        io.pending = None
        key = await io.play(spec.subscribed_prompt)
        if key is None:
            await io.readback(brief, spec.number_prompt, None)
        return True

    async def _record(self, notice: OutageNotice, call: CallState, how: str, outcome: str) -> None:
        try:
            async with asyncio.timeout(self._submit_timeout):
                await self._port.record_call(notice.incident_id, call.phone, call.uniqueid, how, outcome)
        except Exception:
            logger.exception(
                "outage call %s (incident %s, %s) not recorded", call.uniqueid, notice.incident_id, outcome
            )


_ALL = "0123456789*#"
