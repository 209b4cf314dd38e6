"""The archive job (closed -> archived after N days, batched) and the APScheduler ticks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callcenter.callbacks.archive_job import ArchiveJob
from callcenter.callbacks.dispatcher import CallbackScheduler
from callcenter.domain.tickets import Role, Status
from callcenter.tickets.schemas import TicketFilter
from tests.integration.test_callback_support import SUPERVISOR, build_rig, local


async def _closed(rig, phone: str) -> str:
    ticket = await rig.done_ticket(phone)
    await rig.tickets.move(ticket.number, Status.CLOSED, SUPERVISOR, note="Заявитель подтвердил по телефону")
    return ticket.number


async def test_closed_tickets_are_archived_after_n_days_in_batches(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    old = [await _closed(rig, f"+7978200{i:04d}") for i in range(5)]
    rig.clock.advance(days=20)
    young = await _closed(rig, "+79782009999")
    still_done = (await rig.done_ticket("+79782008888")).number
    rig.clock.advance(days=10, minutes=1)
    job = ArchiveJob(services.sessions, rig.tickets, after=timedelta(days=30), batch=2, clock=rig.clock)
    assert await job.run_once() == 5
    statuses = {n: (await rig.tickets.get(n)).status for n in [*old, young, still_done]}
    assert {statuses[n] for n in old} == {Status.ARCHIVED}
    assert (statuses[young], statuses[still_done]) == (Status.CLOSED, Status.DONE)
    detail = await rig.tickets.detail(old[0])
    event = detail.events[-1]
    assert (event.to_status, event.actor_role) == ("archived", Role.SYSTEM)
    assert "закрыта более 30 дн. назад" in event.note
    page = await rig.tickets.list(TicketFilter(query=old[0]))
    assert [t.number for t in page.rows] == [old[0]]  # archived, still searchable
    assert await job.run_once() == 0


async def test_archive_job_stops_after_its_batches(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    for i in range(5):
        await _closed(rig, f"+7978300{i:04d}")
    rig.clock.advance(days=31)
    job = ArchiveJob(services.sessions, rig.tickets, after=timedelta(days=30), batch=2, max_batches=2, clock=rig.clock)
    assert await job.run_once() == 4
    assert await job.run_once() == 1


async def test_scheduler_runs_the_ticks_and_stops() -> None:
    ran = {"tick": asyncio.Event(), "reconcile": asyncio.Event(), "archive": asyncio.Event()}
    failures = []

    async def tick() -> None:
        ran["tick"].set()
        failures.append("tick")
        raise RuntimeError("a failing tick is logged and the next one still runs")

    async def reconcile() -> None:
        ran["reconcile"].set()

    async def archive() -> None:
        ran["archive"].set()

    scheduler = CallbackScheduler(
        tick=tick, tick_seconds=0.05, reconcile=reconcile, archive=archive, reconcile_seconds=0.05, archive_seconds=0.05
    )
    await scheduler.start()
    try:
        async with asyncio.timeout(10):
            for event in ran.values():
                await event.wait()
            while len(failures) < 2:
                ran["tick"].clear()
                await ran["tick"].wait()
    finally:
        await scheduler.close()
    assert len(failures) >= 2


async def test_closing_lets_a_running_tick_finish_its_transaction() -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def tick() -> None:
        started.set()
        await release.wait()  # a tick in the middle of its database work
        finished.set()

    async def idle() -> None:
        return None

    scheduler = CallbackScheduler(tick=tick, tick_seconds=0.05, reconcile=idle, archive=None, reconcile_seconds=600)
    await scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    closing = asyncio.create_task(scheduler.close(timeout=5))
    await asyncio.sleep(0)  # one turn of the loop: close() has paused the ticks and waits
    assert not closing.done()
    release.set()
    await asyncio.wait_for(closing, 5)
    assert finished.is_set()
