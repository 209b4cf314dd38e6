"""The archive job: tickets closed more than N days ago become "archived" (still searchable).

A scheduler tick, in batches, through ``TicketService.move`` with the system actor, so every
archived ticket gets its event row like any other move.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.clock import utcnow
from callcenter.domain.errors import DomainError
from callcenter.domain.tickets import Actor, Status
from callcenter.store import models as m
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

ARCHIVE_ACTOR = Actor.system("архивирование")


class ArchiveJob:
    """Moves closed tickets to the archive after ``after`` (settings.archive_after_days)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tickets: TicketService,
        *,
        after: timedelta,
        batch: int = 200,
        max_batches: int = 10,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tickets = tickets
        self._after = after
        self._batch = batch
        self._max_batches = max_batches
        self._clock = clock

    async def run_once(self) -> int:
        """Archive what is due, at most ``batch * max_batches`` tickets; returns how many."""
        total = 0
        failed: set[str] = set()
        for _ in range(self._max_batches):
            numbers = [n for n in await self._due(failed) if n not in failed]
            for number in numbers:
                if await self._archive(number):
                    total += 1
                else:
                    failed.add(number)
            if len(numbers) < self._batch:
                break
        if total:
            logger.info("archived %d ticket(s) closed more than %d day(s) ago", total, self._after.days)
        return total

    async def _due(self, skip: set[str]) -> list[str]:
        cutoff = self._clock() - self._after
        stmt = (
            select(m.Ticket.number)
            .where(m.Ticket.status == Status.CLOSED.value, m.Ticket.updated_at < cutoff)
            .order_by(m.Ticket.id)
            .limit(self._batch)
        )
        if skip:
            stmt = stmt.where(m.Ticket.number.not_in(skip))
        async with self._sessions() as session:
            return list((await session.execute(stmt)).scalars().all())

    async def _archive(self, number: str) -> bool:
        try:
            await self._tickets.move(
                number,
                Status.ARCHIVED,
                ARCHIVE_ACTOR,
                note=f"Перенесена в архив: закрыта более {self._after.days} дн. назад",
            )
        except DomainError as err:
            logger.warning("ticket %s not archived: %s", number, err.message)
            return False
        return True
