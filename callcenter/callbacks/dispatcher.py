"""The dispatcher: on each tick, claim due automated callbacks and dial them through the port.

APScheduler (3.x, AsyncIOScheduler) only delivers ticks: no job store, nothing pickled, the
callbacks themselves are rows (see ``store``). A tick frees expired claims, finishes any
outcome a crash left half-applied, and, while the dialer is available, claims up to the
cap of concurrent calls and starts one task per call. While the link is down nothing is
claimed: due callbacks simply stay due.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from callcenter.callbacks.dialer import Dialer, DialOutcome, DialResult
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.store import ClaimedCall
from callcenter.tasks import supervise

logger = logging.getLogger(__name__)


def instance_name() -> str:
    """Who holds a claim: host, process and a random tag (a restarted process is someone else)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class TickReport:
    released: int = 0  # expired claims freed
    applied: int = 0  # outcomes applied to tickets that a crash had left pending
    started: int = 0  # calls started
    waiting_for_link: bool = False


class CallbackDispatcher:
    """One app instance's dialling of automated callbacks."""

    def __init__(
        self,
        service: CallbackService,
        dialer: Dialer | None,
        *,
        max_concurrent: int,
        owner: str | None = None,
        dial_timeout: float = 120.0,
        batch: int = 50,
    ) -> None:
        self._service = service
        self._dialer = dialer
        self._cap = max_concurrent
        self._batch = batch
        self.owner = owner or instance_name()
        self._dial_timeout = dial_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._link_was_down = False

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def tick(self) -> TickReport:
        """One pass; safe to run on every instance at once."""
        released = await self._service.release_expired()
        applied = await self._service.apply_pending()
        if self._dialer is None:
            return TickReport(released, applied)
        if not self._dialer.available:
            if not self._link_was_down:
                logger.warning("telephony link is down: due callbacks wait until it is back")
            self._link_was_down = True
            return TickReport(released, applied, waiting_for_link=True)
        if self._link_was_down:
            logger.info("telephony link is back: dialling due callbacks")
            self._link_was_down = False
        claims = await self._service.store.claim_auto(
            self.owner, self._service.now(), self._cap, self._service.lease, self._batch
        )
        for call in claims:
            self._start(call)
        return TickReport(released, applied, len(claims))

    def _start(self, call: ClaimedCall) -> None:
        task = asyncio.create_task(self._dial(call), name=f"callback-{call.callback_id}-{call.attempt_no}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        supervise(task, logger)

    async def _dial(self, call: ClaimedCall) -> None:
        assert self._dialer is not None
        logger.info(
            "callback %s: attempt %s to %s (tickets %s), key %s",
            call.callback_id,
            call.attempt_no,
            call.phone,
            ",".join(call.ticket_numbers),
            call.action_id,
        )
        try:
            async with asyncio.timeout(self._dial_timeout):
                outcome = await self._dialer.originate_callback(
                    phone=call.phone,
                    callback_id=call.callback_id,
                    ticket_numbers=call.ticket_numbers,
                    action_id=call.action_id,
                )
        except TimeoutError:
            outcome = DialOutcome(DialResult.UNKNOWN, f"no answer from the dialer in {self._dial_timeout:.0f} s")
        except Exception as err:  # noqa: BLE001 - a dialer bug must still end the attempt
            logger.exception("callback %s: dialer failed", call.callback_id)
            outcome = DialOutcome(DialResult.UNKNOWN, f"dialer error: {err!r}"[:200])
        await self._service.record_dial_result(call, outcome)

    async def wait_idle(self, timeout: float) -> None:
        """Wait until every started call has its result recorded (bounded)."""
        if self._tasks:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, timeout: float = 5.0) -> None:
        """Let running calls finish for ``timeout`` s, then cancel them (their leases recover them)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class CallbackScheduler:
    """APScheduler ticks for the dispatcher, the reconcile pass and the archive job.

    APScheduler's asyncio executor cancels running jobs at shutdown, which would cut a tick
    in the middle of a database transaction; so each tick runs in its own task, shielded,
    and :meth:`close` stops new ticks and lets the running ones finish (bounded).
    """

    def __init__(
        self,
        *,
        tick: Callable[[], Awaitable[Any]],
        tick_seconds: float,
        reconcile: Callable[[], Awaitable[Any]],
        archive: Callable[[], Awaitable[Any]] | None,
        reconcile_seconds: float = 300.0,
        archive_seconds: float = 600.0,
    ) -> None:
        # The first runs wait a little: a process that starts and stops at once (a CLI command,
        # a test server) never touches the database from here.
        self._jobs = [
            ("callbacks-dispatch", tick, tick_seconds, tick_seconds),
            ("callbacks-reconcile", reconcile, reconcile_seconds, min(30.0, reconcile_seconds)),
        ]
        if archive is not None:
            self._jobs.append(("tickets-archive", archive, archive_seconds, min(60.0, archive_seconds)))
        grace = max(1, int(tick_seconds * 2))
        # No job store: jobs live in memory and carry no data; the rows are the truth.
        self._scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"misfire_grace_time": grace, "coalesce": True, "max_instances": 1}
        )
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        now = datetime.now(UTC)
        for name, job, seconds, delay in self._jobs:
            self._scheduler.add_job(
                self._shielded(name, job),
                "interval",
                seconds=seconds,
                id=name,
                name=name,
                next_run_time=now + timedelta(seconds=delay),
            )
        self._scheduler.start()
        logger.info("callback scheduler started: %s", ", ".join(f"{n} every {s:g} s" for n, _, s, _ in self._jobs))

    async def close(self, timeout: float = 30.0) -> None:
        """Stop ticking; wait for running ticks up to ``timeout`` s, then cancel what is left."""
        if self._scheduler.running:
            self._scheduler.pause()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _shielded(self, name: str, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.create_task(_guarded(name, job), name=name)
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            await asyncio.shield(task)

        return run


async def _guarded(name: str, job: Callable[[], Awaitable[Any]]) -> None:
    try:
        await job()
    except Exception:  # noqa: BLE001 - one failed tick (database restarting) must not stop the next
        logger.exception("%s tick failed", name)
