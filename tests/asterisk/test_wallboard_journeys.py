"""The wallboard on a real Asterisk 22 (the project's asterisk-config/, the whole app):
a queued call shows with its wait, the answer moves the service level, a pause from the
operator's browser comes back from Asterisk as paused with its reason, and our own
statistics agree with Asterisk's QueueStatus counters (Completed, Abandoned)."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from callcenter.domain.tickets import Role
from callcenter.wallboard.wiring import WALLBOARD
from tests.asterisk.pbx import Driver, Event, Pbx
from tests.telephony_fixtures import RunningApp, make_user, signed_in

pytestmark = pytest.mark.timeout(240)

PHONE = "+79780001122"
OP1 = "Local/op1@operators/n"
JSON = {"Accept": "application/json"}


async def queue_params(driver: Driver) -> Event:
    reply = await driver.action("QueueStatus", Queue="hotline")
    action_id = reply["ActionID"]
    return await driver.wait_for(
        lambda e: e.get("Event") == "QueueParams" and e.get("ActionID") == action_id, 10, "QueueParams"
    )


async def settle(app: RunningApp) -> None:
    live = app.telephony.live
    assert live is not None and await live.writer.wait_idle(15)


async def test_queued_call_shows_with_its_wait_and_the_answer_moves_the_service_level(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    await make_user(hotline.services, "op1", device=OP1, full_name="Оператор Один")
    await make_user(hotline.services, "boss", role=Role.SUPERVISOR)
    await driver.action("QueueReset", Queue="hotline")  # Asterisk's counters from zero, like our empty table
    await driver.action("Setvar", Variable="OP1_RING", Value="6")  # op1's phone rings 6 s before answering
    try:
        async with signed_in(hotline.url, "boss") as boss, boss.socket() as wall:
            await wall.wait_for(lambda m: m["type"] == "hello")
            await hotline.app[WALLBOARD].board.refresh_figures()  # the tables were emptied under the app
            before = await (await boss.get("/staff/wallboard/state")).json()
            citizen = await driver.call_citizen("operator", PHONE, variables={"TALK": "60"})
            queued = await wall.wait_for(lambda m: m["type"] == "wallboard" and m["waiting"] == 1, 40)
            ringing = await wall.wait_for(
                lambda m: m["type"] == "wallboard" and any(o["status"] == "ringing" for o in m["operators"]), 20
            )
            connect = await driver.wait_for(
                lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline", 30, "AgentConnect"
            )
            talking = await wall.wait_for(
                lambda m: (
                    m["type"] == "wallboard"
                    and m["waiting"] == 0
                    and any(o["status"] == "talking" for o in m["operators"])
                ),
                20,
            )
            await driver.hangup(citizen)
            await settle(hotline)
            answered = await wall.wait_for(
                lambda m: m["type"] == "wallboard" and m["total"]["today"]["answered"] == 1, 30
            )
            async with boss.http.get(hotline.url + "/staff/wallboard/stats?by=queue&format=csv") as resp:
                rows = list(csv.DictReader(io.StringIO((await resp.content.read()).decode("utf-8-sig"))))
        params = await queue_params(driver)
    finally:
        await driver.action("Setvar", Variable="OP1_RING", Value="")
    assert before["total"]["today"]["service_level"] is None
    [call] = queued["calls"]
    assert (
        call["queue"] == "hotline" and call["caller"] == "+7 978 ***-**-22"
    )  # masked on a wall display and call["queued_at"]
    assert [q["name"] for q in queued["queues"]] == ["hotline"]
    assert queued["queues"][0]["service_level_seconds"] == 20  # learnt from Asterisk (servicelevel = 20)
    op1 = next(o for o in ringing["operators"] if o["interface"] == OP1)
    assert op1["since"] is not None
    assert next(o for o in talking["operators"] if o["interface"] == OP1)["status"] == "talking"
    today = answered["total"]["today"]
    assert (today["offered"], today["answered"], today["answered_in_time"], today["service_level"]) == (1, 1, 1, 1.0)
    assert today["asa_seconds"] == pytest.approx(int(connect["HoldTime"]), abs=2)  # Asterisk's own hold time
    assert [(r["queue"], r["answered"], r["abandoned"]) for r in rows] == [
        ("hotline", params["Completed"], params["Abandoned"])
    ]
    assert next(o for o in answered["operators"] if o["interface"] == OP1)["handled_today"] == 1


async def test_pause_from_the_browser_shows_paused_with_its_reason_and_abandons_are_counted_like_asterisk(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    await make_user(hotline.services, "op1", device=OP1, full_name="Оператор Один")
    await make_user(hotline.services, "boss", role=Role.SUPERVISOR)
    await driver.action("QueueReset", Queue="hotline")
    async with (
        signed_in(hotline.url, "op1") as op1,
        op1.socket() as mine,
        signed_in(hotline.url, "boss") as boss,
        boss.socket() as wall,
    ):
        await mine.wait_for(lambda m: m["type"] == "hello")
        await wall.wait_for(lambda m: m["type"] == "hello")
        page = await op1.page("/staff/pause")
        assert "Вы принимаете звонки" in page
        reasons = await (await op1.get("/staff/pause/state")).json()
        assert reasons["known"] and not reasons["paused"]
        training = _reason_id(page, "Обучение")
        resp = await op1.post("/staff/pause", {"reason": training}, headers=JSON)
        assert resp.status == 200, await resp.text()
        from_asterisk = await driver.wait_for(
            lambda e: e.get("Event") == "QueueMemberPause" and e.get("Interface") == OP1, 10, "QueueMemberPause"
        )
        note = await mine.wait_for(lambda m: m["type"] == "pause" and m["paused"], 10)
        board = await wall.wait_for(
            lambda m: (
                m["type"] == "wallboard"
                and any(o["interface"] == OP1 and o["status"] == "paused" for o in m["operators"])
            ),
            10,
        )
        # a caller now finds nobody free (op1 paused, op2 never answers) and gives up
        citizen = await driver.call_citizen("operator", PHONE, variables={"TALK": "60"})
        await driver.wait_for(lambda e: e.get("Event") == "QueueCallerJoin", 30, "QueueCallerJoin")
        await wall.wait_for(lambda m: m["type"] == "wallboard" and m["waiting"] == 1, 20)
        await driver.hangup(citizen)
        await driver.wait_for(lambda e: e.get("Event") == "QueueCallerAbandon", 10, "QueueCallerAbandon")
        await settle(hotline)
        gave_up = await wall.wait_for(lambda m: m["type"] == "wallboard" and m["total"]["today"]["abandoned"] == 1, 30)
        resp = await op1.post("/staff/pause", {"reason": "resume"}, headers=JSON)
        assert resp.status == 200
        await mine.wait_for(lambda m: m["type"] == "pause" and not m["paused"], 10)
    params = await queue_params(driver)
    assert (from_asterisk["Paused"], from_asterisk["PausedReason"]) == ("1", "Обучение")
    assert note["reason"] == "Обучение"
    op = next(o for o in board["operators"] if o["interface"] == OP1)
    assert (op["status_label"], op["pause_reason"]) == ("на паузе", "Обучение")
    today = gave_up["total"]["today"]
    assert (today["answered"], today["abandoned"]) == (int(params["Completed"]), int(params["Abandoned"])) == (0, 1)


def _reason_id(page: str, label: str) -> str:
    import re

    found = re.search(r'name="reason" value="(\d+)"[^>]*data-reason="' + re.escape(label) + '"', page)
    assert found, f"no reason {label} on the pause page"
    return found.group(1)


async def test_a_pause_made_outside_the_browser_shows_on_the_wallboard_and_the_operators_page(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    """Asterisk's CLI stands in for the phone's feature code (PauseQueueMember): the app sent
    nothing, yet the QueueMemberPause it hears shows the pause and its reason everywhere."""
    await make_user(hotline.services, "op1", device=OP1, full_name="Оператор Один")
    await make_user(hotline.services, "boss", role=Role.SUPERVISOR)
    try:
        board, note, mine_now, page, back = await _pause_by_cli(hotline, driver)
    finally:
        await driver.command(f"queue unpause member {OP1} queue hotline")  # op1 never stays paused for the next test
    op = next(o for o in board["operators"] if o["interface"] == OP1)
    assert (op["status_label"], op["pause_reason"]) == ("на паузе", "Совещание")
    assert note["reason"] == "Совещание" and (mine_now["paused"], mine_now["reason"]) == (True, "Совещание")
    assert "Вы на паузе" in page and "Совещание" in page
    assert not next(o for o in back["operators"] if o["interface"] == OP1)["paused"]


async def _pause_by_cli(hotline: RunningApp, driver: Driver) -> tuple[Any, Any, Any, str, Any]:
    async with (
        signed_in(hotline.url, "op1") as op1,
        op1.socket() as mine,
        signed_in(hotline.url, "boss") as boss,
        boss.socket() as wall,
    ):
        await mine.wait_for(lambda m: m["type"] == "hello")
        await wall.wait_for(lambda m: m["type"] == "hello")
        for _ in range(100):  # the app's first QueueStatus reports op1 unpaused (bounded wait)
            if (await (await op1.get("/staff/pause/state")).json())["known"]:
                break
            await asyncio.sleep(0.1)
        await driver.command(f"queue pause member {OP1} queue hotline reason Совещание")
        note = await mine.wait_for(lambda m: m["type"] == "pause" and m["paused"], 15)
        board = await wall.wait_for(
            lambda m: (
                m["type"] == "wallboard"
                and any(o["interface"] == OP1 and o["status"] == "paused" for o in m["operators"])
            ),
            15,
        )
        mine_now = await (await op1.get("/staff/pause/state")).json()
        page = await op1.page("/staff/pause")
        await driver.command(f"queue unpause member {OP1} queue hotline")
        back = await wall.wait_for(
            lambda m: (
                m["type"] == "wallboard"
                and any(o["interface"] == OP1 and o["status"] != "paused" for o in m["operators"])
            ),
            15,
        )
    return board, note, mine_now, page, back


async def test_a_pause_dialled_on_the_phone_shows_on_the_wallboard_and_ends_the_same_way(
    pbx: Pbx, driver: Driver, hotline: RunningApp
) -> None:
    """op1's phone dials *46 then *47 (the shipped [operator-phones] context, caller number op1)."""
    await make_user(hotline.services, "boss", role=Role.SUPERVISOR)
    async with signed_in(hotline.url, "boss") as boss, boss.socket() as wall:
        await wall.wait_for(lambda m: m["type"] == "hello")
        try:
            await _dial_feature(driver, "*46")
            paused = await wall.wait_for(
                lambda m: (
                    m["type"] == "wallboard"
                    and any(o["interface"] == OP1 and o["status"] == "paused" for o in m["operators"])
                ),
                20,
            )
            await _dial_feature(driver, "*47")
            back = await wall.wait_for(
                lambda m: (
                    m["type"] == "wallboard" and any(o["interface"] == OP1 and not o["paused"] for o in m["operators"])
                ),
                20,
            )
        finally:
            await driver.command(f"queue unpause member {OP1} queue hotline")
    op = next(o for o in paused["operators"] if o["interface"] == OP1)
    assert (op["status_label"], op["pause_reason"]) == ("на паузе", "Пауза с телефона")
    assert next(o for o in back["operators"] if o["interface"] == OP1)["status"] != "paused"


async def _dial_feature(driver: Driver, code: str) -> None:
    """What op1's phone does when it dials ``code``: a channel with caller number op1 in [operator-phones]."""
    reply = await driver.action(
        "Originate",
        Channel=f"Local/{code}@operator-phones",
        Application="Wait",
        Data="1",
        CallerID="Operator One <op1>",
        Async="true",
    )
    assert reply.get("Response") == "Success", reply
