"""Staff accounts: creation, password hashing (argon2id), lookup. Used by the CLI and the web."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import ValidationError
from callcenter.domain.tickets import Actor, Role
from callcenter.store import models as m

STAFF_ROLES = (Role.OPERATOR, Role.EXECUTOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
_LOGIN = re.compile(r"^[a-z0-9_.-]{2,64}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class UserView:
    id: int
    login: str
    full_name: str
    role: Role
    department: str | None
    device: str | None
    active: bool

    def actor(self) -> Actor:
        return Actor(role=self.role, name=self.full_name or self.login, user_id=self.id,
                     department=self.department)


def _view(row: m.User) -> UserView:
    return UserView(row.id, row.login, row.full_name, Role(row.role), row.department_code, row.device, row.active)


class UserService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()

    async def create(
        self, login: str, password: str, role: Role | str, *, department: str | None = None,
        full_name: str = "", device: str | None = None,
    ) -> UserView:
        login = login.strip().lower()
        role = self._check(login, password, role, department)
        password_hash = self._hasher.hash(password)
        try:
            async with self._sessions.begin() as session:
                if department and await session.get(m.Department, department) is None:
                    raise ValidationError(f"Неизвестное подразделение «{department}»", field="department")
                row = m.User(login=login, password_hash=password_hash, role=role.value,
                             department_code=department, full_name=full_name.strip(), device=device or None)
                session.add(row)
                await session.flush()
                return _view(row)
        except IntegrityError as err:
            raise ValidationError(f"Пользователь «{login}» уже есть", field="login") from err

    def _check(self, login: str, password: str, role: Role | str, department: str | None) -> Role:
        if not _LOGIN.match(login):
            raise ValidationError("Логин: 2–64 латинских буквы, цифры, точка, дефис или подчёркивание",
                                  field="login")
        try:
            role = Role(role)
        except ValueError as err:
            raise ValidationError(f"Неизвестная роль «{role}»", field="role") from err
        if role not in STAFF_ROLES:
            raise ValidationError(f"Роль «{role.value}» не для сотрудников", field="role")
        if role is Role.EXECUTOR and not department:
            raise ValidationError("Исполнителю нужно указать подразделение (--department)", field="department")
        if len(password) < MIN_PASSWORD:
            raise ValidationError(f"Пароль должен быть не короче {MIN_PASSWORD} символов", field="password")
        return role

    async def authenticate(self, login: str, password: str) -> UserView | None:
        """The user if the password matches and the account is active; None otherwise."""
        async with self._sessions.begin() as session:
            row = (await session.execute(select(m.User).where(m.User.login == login.strip().lower()))).scalar_one_or_none()
            if row is None:
                # Spend the same time as a real check so logins cannot be probed by timing.
                self._hasher.hash(password)
                return None
            try:
                self._hasher.verify(row.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            if self._hasher.check_needs_rehash(row.password_hash):
                row.password_hash = self._hasher.hash(password)
            return _view(row) if row.active else None

    async def get(self, user_id: int) -> UserView | None:
        async with self._sessions() as session:
            row = await session.get(m.User, user_id)
            return _view(row) if row else None

    async def by_login(self, login: str) -> UserView | None:
        async with self._sessions() as session:
            row = (await session.execute(select(m.User).where(m.User.login == login))).scalar_one_or_none()
            return _view(row) if row else None

    async def by_device(self, device: str) -> UserView | None:
        async with self._sessions() as session:
            row = (await session.execute(select(m.User).where(m.User.device == device, m.User.active.is_(True)))).scalars().first()
            return _view(row) if row else None

    async def all(self) -> list[UserView]:
        async with self._sessions() as session:
            return [_view(r) for r in (await session.execute(select(m.User).order_by(m.User.login))).scalars()]
