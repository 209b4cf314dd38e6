"""Pause reasons: the list operators choose from, edited by admins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import DomainError
from callcenter.wallboard.models import PauseReason

DEFAULT_REASONS = ("Обед", "Обучение", "Работа с документами", "Технический перерыв")
MAX_LABEL = 60


class BadReason(DomainError):
    code = "bad_pause_reason"


@dataclass(frozen=True, slots=True)
class Reason:
    id: int
    label: str
    active: bool


def clean_label(raw: object) -> str:
    """A reason as typed: one line, trimmed, 1..60 characters (else BadReason)."""
    label = " ".join(str(raw or "").split())
    if not label:
        raise BadReason("Укажите причину паузы.")
    if len(label) > MAX_LABEL:
        raise BadReason(f"Причина паузы длиннее {MAX_LABEL} символов.")
    return label


class PauseReasons:
    """The ``pause_reasons`` table. An empty table (a new database) gets the default list."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def all(self, *, active_only: bool = False) -> list[Reason]:
        async with self._sessions.begin() as session:
            if (await session.execute(select(func.count()).select_from(PauseReason))).scalar_one() == 0:
                session.add_all(
                    PauseReason(label=label, active=True, position=i) for i, label in enumerate(DEFAULT_REASONS)
                )
                await session.flush()
            query = select(PauseReason).order_by(PauseReason.position, PauseReason.id)
            if active_only:
                query = query.where(PauseReason.active.is_(True))
            rows = (await session.execute(query)).scalars().all()
            return [Reason(r.id, r.label, r.active) for r in rows]

    async def get(self, reason_id: int) -> Reason | None:
        for reason in await self.all():
            if reason.id == reason_id:
                return reason
        return None

    async def add(self, raw_label: object) -> Reason:
        label = clean_label(raw_label)
        await self.all()  # the defaults first, so a new one goes after them
        try:
            async with self._sessions.begin() as session:
                position = (
                    await session.execute(select(func.coalesce(func.max(PauseReason.position), 0)))
                ).scalar_one()
                row = PauseReason(label=label, active=True, position=position + 1)
                session.add(row)
                await session.flush()
                return Reason(row.id, row.label, row.active)
        except IntegrityError as err:
            raise BadReason(f"Причина «{label}» уже есть в списке.") from err

    async def set_active(self, reason_id: int, active: bool) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(PauseReason, reason_id)
            if row is None:
                raise BadReason("Такой причины паузы нет.")
            row.active = active
