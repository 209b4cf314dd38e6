"""The wallboard, pauses and queue statistics on the whole app, its AMI link on the fake
Asterisk replaying the recorded queue call (tests/fixtures/asterisk-traces/ami-queue-operator.txt)."""

from __future__ import annotations

import asyncio
import time

import pytest

from callcenter.domain.tickets import Role
from callcenter.telephony.wiring import TELEPHONY
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    OP1,
    QUEUE_CALL,
    connected,
    fake,
    index_of,
    make_user,
    queue_events,
    settings,
    signed_in,
    stamp,
    varset_after,
)

JSON = {"Accept": "application/json"}


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    await connected(live_server, fake)
    await make_user(live_server.services, "boss", role=Role.SUPERVISOR)
    return live_server


async def test_wallboard_is_for_supervisors_and_has_no_navigation(server: LiveServer):
    await make_user(server.services, "op1", device=OP1)
    async with signed_in(server.url, "boss") as boss:
        page = await boss.page("/staff/wallboard")
        for _ in range(100):  # the link is up; the tracker's first board follows it (bounded wait)
            state = await (await boss.get("/staff/wallboard/state")).json()
            if state["operators"]:
                break
            await asyncio.sleep(0.1)
    assert 'id="wb-state"' in page and "/static/wallboard/wallboard.js" in page
    assert "<nav" not in page and "topbar" not in page  # a large screen: no navigation
    assert state["type"] == "wallboard" and state["waiting"] == 0 and state["link"] == "connected"
    assert [(o["interface"], o["status"], o["status_label"]) for o in state["operators"]] == [(OP1, "free", "свободен")]
    assert state["total"]["today"]["service_level"] is None  # no calls: no figure, not 0 %
    async with signed_in(server.url, "op1") as op1:
        assert (await op1.get("/staff/wallboard")).status == 403
        assert (await op1.get("/staff/wallboard/state")).status == 403


async def test_queued_call_shows_with_its_wait_then_the_answer_moves_the_service_level(
    server: LiveServer, fake: FakeAmi
):
    events = stamp(varset_after(queue_events(), "IVR_PATH", "0>operator"), time.time() - 40, step=0.001)
    head = events[: index_of(events, "AgentCalled") + 1]
    async with signed_in(server.url, "boss") as boss, boss.socket() as inbox:
        await inbox.wait_for(lambda m: m["type"] == "hello")
        await fake.send_frames(head)
        queued = await inbox.wait_for(lambda m: m["type"] == "wallboard" and m["waiting"] == 1)
        await fake.send_frames(events[len(head) :])
        live = server.app[TELEPHONY].live
        await inbox.wait_for(lambda m: m["type"] == "call" and m["change"] == "ended")
        assert await live.writer.wait_idle(10)
        answered = await inbox.wait_for(
            lambda m: m["type"] == "wallboard" and m["total"]["today"]["answered"] == 1, timeout=20
        )
        async with boss.http.get(server.url + "/staff/wallboard/stats?format=csv&by=queue") as resp:
            csv_text = (await resp.content.read()).decode("utf-8-sig")
        stats_page = await boss.page("/staff/wallboard/stats?by=operator")
        other_csvs = {}
        for by in ("hour", "day", "operator"):
            async with boss.http.get(server.url + f"/staff/wallboard/stats?format=csv&by={by}") as resp:
                other_csvs[by] = (await resp.content.read()).decode("utf-8-sig").strip().splitlines()
    [call] = queued["calls"]
    assert call["queue"] == "hotline" and queued["oldest_queued_at"] == call["queued_at"]
    [hotline] = queued["queues"]
    assert hotline["name"] == "hotline" and hotline["waiting"] == 1 and hotline["service_level_seconds"] == 20
    assert [(o["interface"], o["status"]) for o in queued["operators"]] == [(OP1, "ringing")]
    today = answered["total"]["today"]
    assert (today["offered"], today["answered"], today["answered_in_time"], today["service_level"]) == (1, 1, 1, 1.0)
    assert answered["total"]["last_hour"]["service_level"] == 1.0 and today["aht_seconds"] is not None
    assert answered["waiting"] == 0
    # the board's chart: every local hour since midnight, the call in the hour it joined the queue
    hours = answered["hours"]
    assert hours[0]["hour"] == "00:00" and len(hours) == len({h["hour"] for h in hours})
    assert [(h["answered"], h["answered_in_time"], h["abandoned"]) for h in hours if h["answered"]] == [(1, 1, 0)]
    [op] = answered["operators"]
    assert op["handled_today"] == 1 and op["status"] in ("wrapup", "free")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("queue,offered,answered,abandoned,short_abandoned,answered_in_time,service_level")
    assert lines[1].startswith("hotline,1,1,0,0,1,1.0")
    for by, rows in other_csvs.items():  # the same call in every grouping: one row, answered in time
        assert rows[0].startswith(f"{by},offered,answered,") and len(rows) == 2, (by, rows)
        assert rows[1].split(",")[1:4] == ["1", "1", "0"], (by, rows)
    assert other_csvs["operator"][1].startswith("Operator One,")
    assert "Operator One" in stats_page and stats_page.count("<svg") == 2  # service level and volume
    assert "<title>Operator One: 1</title>" in stats_page and "Поступило звонков" in stats_page
    row = await server.app[TELEPHONY].calls.get(QUEUE_CALL)
    assert row.answered_at is not None and row.queue == "hotline"


async def test_pause_from_the_browser_goes_to_asterisk_with_its_reason_and_comes_back(
    server: LiveServer, fake: FakeAmi
):
    await make_user(server.services, "op1", device=OP1)
    async with signed_in(server.url, "op1") as op1, op1.socket() as mine, signed_in(server.url, "boss") as boss:
        for _ in range(100):  # the link is up; the member's state follows its QueueStatus (bounded wait)
            page = await op1.page("/staff/pause")
            if "АТС ещё не сообщила" not in page:
                break
            await asyncio.sleep(0.1)
        assert "Вы принимаете звонки" in page and "Обед" in page
        async with boss.socket() as wall:
            await mine.wait_for(lambda m: m["type"] == "hello")
            await wall.wait_for(lambda m: m["type"] == "hello")
            lunch = next(r for r in await _reasons(server) if r.label == "Обед")
            resp = await op1.post("/staff/pause", {"reason": str(lunch.id)}, headers=JSON)
            assert resp.status == 200, await resp.text()
            note = await mine.wait_for(lambda m: m["type"] == "pause" and m["paused"])
            board = await wall.wait_for(
                lambda m: m["type"] == "wallboard" and any(o["status"] == "paused" for o in m["operators"])
            )
            paused_page = await op1.page("/staff/pause")
            resp = await op1.post("/staff/pause", {"reason": "resume"})
            assert resp.status == 303
            await mine.wait_for(lambda m: m["type"] == "pause" and not m["paused"])
    [action, undo] = [a for a in fake.actions if a.get("Action") == "QueuePause"]
    assert (action["Interface"], action["Paused"], action["Reason"]) == (OP1, "true", "Обед")
    assert (undo["Interface"], undo["Paused"]) == (OP1, "false") and "Reason" not in undo
    assert note["reason"] == "Обед" and note["interface"] == OP1
    [op] = board["operators"]
    assert (op["status"], op["status_label"], op["pause_reason"]) == ("paused", "на паузе", "Обед")
    assert op["since"] is not None
    assert "Вы на паузе" in paused_page and "Обед" in paused_page


async def _reasons(server: LiveServer):
    from callcenter.wallboard.wiring import WALLBOARD

    return await server.app[WALLBOARD].reasons.all()


async def test_bad_pause_requests_get_a_clear_error_and_send_nothing(server: LiveServer, fake: FakeAmi):
    await make_user(server.services, "op1", device=OP1)
    await make_user(server.services, "nophone")
    await make_user(server.services, "admin", role=Role.ADMIN)
    async with signed_in(server.url, "admin") as admin:
        await admin.page("/staff/admin/pause-reasons")
        assert (await admin.post("/staff/admin/pause-reasons", {"label": "  Совещание  "})).status == 303
        again = await admin.post("/staff/admin/pause-reasons", {"label": "Совещание"})
        assert again.status == 400 and "уже есть" in await again.text()
        assert (await admin.post("/staff/admin/pause-reasons", {"label": "x" * 61})).status == 400
        meeting = next(r for r in await _reasons(server) if r.label == "Совещание")
        assert (await admin.post("/staff/admin/pause-reasons", {"id": str(meeting.id), "active": ""})).status == 303
        assert (await admin.post("/staff/admin/pause-reasons", {"id": "abc"})).status == 400
    async with signed_in(server.url, "op1") as op1:
        await op1.page("/staff/pause")
        for bad in ("", "abc", str(meeting.id), "999999"):
            resp = await op1.post("/staff/pause", {"reason": bad}, headers=JSON)
            body = await resp.json()
            assert resp.status == 400 and body["ok"] is False and body["message"], (bad, body)
        async with signed_in(server.url, "boss") as boss:
            assert (await boss.get("/staff/wallboard/stats?from=2026-13-01")).status == 400
            assert (await boss.get("/staff/wallboard/stats?by=week")).status == 400
            assert (await boss.get("/staff/wallboard/stats?from=2026-01-01&to=2026-12-31")).status == 400
    async with signed_in(server.url, "nophone") as nophone:
        await nophone.page("/staff/pause")
        lunch = next(r for r in await _reasons(server) if r.label == "Обед")
        resp = await nophone.post("/staff/pause", {"reason": str(lunch.id)}, headers=JSON)
        assert resp.status == 400 and "телефон" in (await resp.json())["message"]
    assert [a for a in fake.actions if a.get("Action") == "QueuePause"] == []
    assert "Совещание" not in [r.label for r in await _reasons(server) if r.active]
