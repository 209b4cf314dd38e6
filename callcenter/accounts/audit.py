"""The audit log: who saw or changed what, when, from where (issue 18, ASVS 7.1/7.2/8.3).

Append-only by construction: :class:`AuditLog` can add a row and read rows, nothing else, and
migration 0012 puts a trigger on the table that refuses UPDATE and DELETE. Entries name the
object (a ticket number, a user id, a setting) and never copy a citizen's phone or name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.models import AuditEvent
from callcenter.clock import Clock, utcnow

logger = logging.getLogger(__name__)

# Actions and their Russian labels for the admin page (an unknown action shows as its code).
ACTION_LABELS = {
    "login": "Вход",
    "login_failed": "Неудачный вход",
    "logout": "Выход",
    "password_changed": "Смена своего пароля",
    "totp_enrolled": "Подключена двухфакторная защита",
    "totp_failed": "Неверный код второго фактора",
    "totp_reset": "Сброшена двухфакторная защита",
    "session_revoked": "Сеанс завершён",
    "user_created": "Создан пользователь",
    "user_updated": "Изменён пользователь",
    "user_sessions_revoked": "Завершены сеансы пользователя",
    "department_toggled": "Изменено подразделение",
    "ticket_created": "Создана заявка",
    "ticket_edited": "Изменена заявка",
    "ticket_moved": "Изменён статус заявки",
    "ticket_note": "Комментарий к заявке",
    "ticket_viewed": "Просмотр персональных данных в заявке",
    "attachment_viewed": "Просмотр вложения",
    "tickets_exported": "Выгрузка CSV",
    "calls_board_viewed": "Просмотр номеров на табло звонков",
    "retention_erased": "Удаление персональных данных по сроку хранения",
    "privacy_erased": "Удаление персональных данных по запросу гражданина",
}


@dataclass(frozen=True)
class AuditActor:
    """Who did it and from where (the system itself: no user id, login ``system``)."""

    user_id: int | None = None
    login: str = "system"
    role: str = ""
    address: str = ""


SYSTEM = AuditActor()


@dataclass(frozen=True)
class AuditQuery:
    """The admin page's search; every field optional."""

    login: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200
    before_id: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    login: str
    role: str
    action: str
    object_type: str
    object_id: str
    address: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


class AuditLog:
    """Add and search audit events. There is deliberately no method that changes or removes one."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def record(
        self,
        actor: AuditActor,
        action: str,
        object_type: str = "",
        object_id: str | int = "",
        **details: Any,
    ) -> None:
        """Append one event (its own transaction: an audit row is kept even if the caller fails later)."""
        row = AuditEvent(
            at=self._clock(),
            user_id=actor.user_id,
            login=actor.login[:64],
            role=actor.role[:20],
            action=action[:64],
            object_type=object_type[:32],
            object_id=str(object_id)[:64],
            address=actor.address[:64],
            details=details,
        )
        async with self._sessions.begin() as session:
            session.add(row)

    async def search(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first, at most ``query.limit`` (pages go on with ``before_id``)."""
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(query.limit, 1000)))
        if query.login:
            stmt = stmt.where(AuditEvent.login == query.login.strip().lower())
        if query.action:
            stmt = stmt.where(AuditEvent.action == query.action)
        if query.object_type:
            stmt = stmt.where(AuditEvent.object_type == query.object_type)
        if query.object_id:
            stmt = stmt.where(AuditEvent.object_id == query.object_id)
        if query.since is not None:
            stmt = stmt.where(AuditEvent.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(AuditEvent.at < query.until)
        if query.before_id is not None:
            stmt = stmt.where(AuditEvent.id < query.before_id)
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        return [_entry(r) for r in rows]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int((await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one())


def _entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry(
        row.id,
        row.at,
        row.user_id,
        row.login,
        row.role,
        row.action,
        row.object_type,
        row.object_id,
        row.address,
        dict(row.details or {}),
    )
