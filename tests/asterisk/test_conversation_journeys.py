"""The live conversation transcript on a real Asterisk 22 (issue 14, item 5).

With CALLCENTER_LIVE_CONVERSATION on, a citizen presses 0, Operator One answers, and both talk
(Korean: the test extra's Vosk model is Korean). The app spies on both legs through AudioSocket
channels running ChanSpy; the operator's WebSocket carries «Абонент»/«Оператор» lines while they
talk; when the citizen hangs up the spies are gone and the transcript is on the call's row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.conversation.feature import LIVE_CONVERSATIONS
from callcenter.telephony.api import CallStore
from tests.asterisk.pbx import Driver, Pbx, make_sound
from tests.stt_fixtures import HELLO, THANKS, korean_model_dir
from tests.telephony_fixtures import RunningApp, make_user, signed_in

pytestmark = pytest.mark.timeout(240)

PHONE = "+79780005566"
OP1 = "Local/op1@operators/n"


def spy_channels(names: list[str]) -> list[str]:
    return [n for n in names if n.startswith("AudioSocket/")]


@pytest.mark.app_settings(stt_model=korean_model_dir(), stt_workers=2, live_conversation=True)
async def test_operator_sees_both_sides_of_the_conversation_live_and_it_is_kept(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    services = hotline.services
    assert services.speech.available, services.speech.unavailable_reason
    modules = await driver.command("module show like audiosocket")
    assert "chan_audiosocket.so" in modules, modules
    caller_says = make_sound(f"{HELLO} {THANKS}", pbx.layout.citizen_sounds / "complaint-ko.wav", voice="ko")
    operator_sound = pbx.layout.citizen_sounds / "operator-ko.wav"
    make_sound(f"{THANKS} {HELLO}", operator_sound, voice="ko")
    assert caller_says > 0.5
    op1 = await make_user(services, "op1", device=OP1, full_name="Оператор Один")
    async with signed_in(hotline.url, "op1") as one, one.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        citizen = await driver.call_citizen(
            "operator-talk-ko", PHONE, variables={"__OP1_SAY": str(operator_sound.with_suffix(""))}
        )
        connect = await driver.wait_for(
            lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline", 60, "AgentConnect"
        )
        started = await inbox.wait_for(lambda m: m["type"] == "conversation" and m["state"] == "started", 30)
        # Both legs speak over and over: a line from each is the evidence that each spy hears its own side.
        caller_line = await inbox.wait_for(
            lambda m: m["type"] == "conversation" and m["state"] == "line" and m["party"] == "caller", 90
        )
        operator_line = await inbox.wait_for(
            lambda m: m["type"] == "conversation" and m["state"] == "line" and m["party"] == "operator", 90
        )
        spies = spy_channels(await driver.live_channels())
        assert len(spies) == 2, spies
        await driver.hangup(citizen)
        ended = await inbox.wait_for(lambda m: m["type"] == "conversation" and m["state"] == "ended", 60)

    linkedid = connect["Linkedid"]
    assert started["user_id"] == op1.id and started["linkedid"] == linkedid and started["interface"] == OP1
    assert sorted(started["parties"]) == ["caller", "operator"]
    assert caller_line["speaker"] == "Абонент" and caller_line["text"].strip()
    assert operator_line["speaker"] == "Оператор" and operator_line["text"].strip()
    assert caller_line["user_id"] == operator_line["user_id"] == op1.id
    # The spies ended with the call (ChanSpy's E, or the app's hang-up of the other one).
    for name in spies:
        await driver.wait_for(
            lambda e, n=name: e.get("Event") == "Hangup" and e.get("Channel") == n, 30, f"{name} down"
        )
    assert spy_channels(await driver.live_channels()) == []
    # The transcript is kept on the call's row, lines and recordings as the operator saw them.
    live = hotline.app[LIVE_CONVERSATIONS]
    await live.wait_idle(30)
    assert ended["saved"] is True and live.stats.spies_placed == 2 and live.stats.spies_failed == 0
    row = await CallStore(services.sessions).get(linkedid)
    assert row is not None
    kept = row.data["conversation"]
    assert kept["lines"] == ended["lines"] and {"caller", "operator"} <= {line["party"] for line in kept["lines"]}
    assert kept["operator_id"] == op1.id and kept["interface"] == OP1
    folder = Path(services.settings.recordings_dir) / "conversations"
    for party, name in kept["recordings"].items():
        assert party in ("caller", "operator") and (folder / name).stat().st_size > 8000


@pytest.mark.app_settings(live_conversation=False)
async def test_off_by_default_no_spy_is_placed(pbx: Pbx, driver: Driver, hotline: RunningApp) -> None:
    """Consent is opt-in per deployment: without the setting an answered call is not listened to."""
    assert LIVE_CONVERSATIONS not in hotline.app
    # The caller stays 40 s from pressing 0: long enough to outlast op1's wrap-up (queues.conf
    # wrapuptime 10) after the journey before this one, which left the queue a moment ago.
    citizen = await driver.call_citizen("operator", PHONE, variables={"TALK": "40"})
    await driver.wait_for(
        lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline", 60, "AgentConnect"
    )
    assert spy_channels(await driver.live_channels()) == []
    await driver.hangup(citizen)
    assert not any(
        e.get("Channel", "").startswith("AudioSocket/") for e in driver.events if e.get("Event") == "Newchannel"
    )
