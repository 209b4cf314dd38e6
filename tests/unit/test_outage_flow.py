"""The IVR's outage flow (callcenter/ivr/outage.py) with the real engine and the shipped menu, over a
scripted channel: the night, a subscription the backend refuses, a hang-up mid-announcement."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiHangup, DigitsResult, PlaybackResult
from callcenter.ivr.engine import IvrEngine, RecordingSettings
from callcenter.ivr.menu import load_menu
from callcenter.ivr.outage import OutageFlow, OutageNotice
from callcenter.ivr.ports import TicketBrief

PHONE = "+79780001122"
NOON = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 12:00 in Simferopol


@dataclass
class _Env:
    callerid: str = PHONE
    uniqueid: str = "1.1"


@dataclass
class Channel:
    """Answers STREAM FILE with the key the script names for that prompt; hangs up on ``hang_up_at``."""

    script: dict[str, str]
    hang_up_at: str | None = None
    played: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False
    usable: bool = True
    env: _Env = field(default_factory=_Env)

    async def answer(self) -> None:
        return None

    async def stream_file(self, name: str, escape: str = "") -> PlaybackResult:
        prompt = name.split("/", 1)[-1]
        self.played.append(prompt)
        if prompt == self.hang_up_at:
            self.hung_up = True
            raise AgiHangup("caller hung up")
        return PlaybackResult(digit=self.script.pop(prompt, None), endpos=None, failed=False)

    async def wait_for_digit(self, timeout_ms: int) -> DigitsResult:
        return DigitsResult(digits="", timed_out=True, failed=False)

    async def say_number(self, number: int, escape: str = "", gender: str | None = None) -> PlaybackResult:
        self.played.append(f"say:{number}")
        return PlaybackResult(digit=None, endpos=None, failed=False)

    async def say_digits(self, digits: str, escape: str = "") -> PlaybackResult:
        self.played.append(f"digits:{digits}")
        return PlaybackResult(digit=None, endpos=None, failed=False)

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value


class Port:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[Any, ...]] = []

    async def notices_for_caller(self, phone: str) -> list[OutageNotice]:
        return [OutageNotice(7, "no_water", ("Ленинский",), 18, 5)]

    async def has_active(self, category: str) -> bool:
        return False

    async def notices_for_district(self, category: str, district: str) -> list[OutageNotice]:
        return []

    async def subscribe(self, incident_id: int, phone: str, call_uniqueid: str) -> TicketBrief:
        if self.fail:
            raise RuntimeError("database is down")
        return TicketBrief("2600042", "new", "no_water", "Нет холодной воды")

    async def record_call(self, *args: Any) -> None:
        self.calls.append(args)


class Backend:
    async def open_tickets_for_phone(self, phone: str) -> list[TicketBrief]:
        return []


async def run(channel: Channel, port: Port, *, now: datetime = NOON, night: bool = False) -> None:
    menu = load_menu()
    if night:
        menu = replace(menu, hours=replace(menu.hours, open_minute=8 * 60, close_minute=20 * 60))
    flow = OutageFlow(menu.outage, port, lookup_timeout=1, submit_timeout=1)  # type: ignore[arg-type]
    engine = IvrEngine(
        menu, Backend(), RecordingSettings(local_dir=Path("/nonexistent")), clock=lambda: now, outage=flow
    )  # type: ignore[arg-type]
    with pytest.raises(AgiHangup) if channel.hang_up_at else contextlib.nullcontext():
        await engine.run_hotline(channel)  # type: ignore[arg-type]


async def test_announcement_says_what_where_and_the_time_then_1_subscribes() -> None:
    channel, port = Channel({"outage-offer": "1"}), Port()
    await run(channel, port)
    assert channel.played[:9] == [
        "greeting",
        "outage-intro",
        "outage-no_water",
        "outage-where",
        "district-leninsky",
        "outage-restore-time",
        "say:18",
        "digits:0",
        "say:5",
    ]
    assert channel.played[9:] == ["outage-offer", "outage-subscribed", "ticket-number", "digits:2600042", "goodbye"]
    assert channel.variables[cv.IVR_ROUTE] == cv.ROUTE_DONE and channel.variables[cv.IVR_TICKET] == "2600042"
    assert [c[-1] for c in port.calls] == ["subscribed"]


async def test_at_night_0_leads_to_the_night_message_not_the_queue() -> None:
    night = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 23:00 local, closed 20:00-08:00
    channel, port = Channel({"outage-offer": "0", "night-menu": "9"}), Port()
    await run(channel, port, now=night, night=True)
    assert "outage-intro" in channel.played and "night-message" in channel.played
    assert channel.variables.get(cv.IVR_ROUTE) != cv.ROUTE_OPERATOR
    assert [c[-1] for c in port.calls] == ["operator"]


async def test_a_refused_subscription_apologises_and_sends_to_an_operator() -> None:
    channel, port = Channel({"outage-offer": "1"}), Port(fail=True)
    await run(channel, port)
    assert channel.played[-2:] == ["outage-subscribe-failed", "operator"]
    assert channel.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert [c[-1] for c in port.calls] == ["operator"]


async def test_a_hang_up_mid_announcement_is_counted() -> None:
    channel, port = Channel({}, hang_up_at="outage-where"), Port()
    await run(channel, port)
    assert [c[-1] for c in port.calls] == ["hangup"]


async def test_no_key_after_the_offer_goes_on_to_the_main_menu() -> None:
    channel, port = Channel({"main-menu": "0"}), Port()
    await run(channel, port)
    assert channel.played.count("outage-offer") == 2  # asked twice (retries: 1)
    assert "main-menu" in channel.played and channel.variables[cv.IVR_ROUTE] == cv.ROUTE_OPERATOR
    assert [c[-1] for c in port.calls] == ["no_input"]
