"""Staff accounts: creation, password hashing (argon2id), lookup. Used by the CLI and the web.

Argon2 is deliberately slow CPU work, so hashing and verifying run in a worker thread and
never stall the event loop (WebSocket boards and the AMI reader share it).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.domain.errors import NotFound, ValidationError
from callcenter.domain.tickets import Actor, Role
from callcenter.store import models as m

STAFF_ROLES = (Role.OPERATOR, Role.EXECUTOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
_LOGIN = re.compile(r"^[a-z0-9_.-]{2,64}$")
MIN_PASSWORD = 12
# The most used passwords (leak lists, Russian and Latin keyboards): refused whatever their length.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890qw",
        "qwertyuiop12",
        "qwerty123456",
        "password1234",
        "password123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "qwertyuiopas",
        "asdfghjkl123",
        "123qweasdzxc",
        "йцукенгшщзхъ",
        "йцукен123456",
        "пароль123456",
        "парольпароль",
        "qazwsxedcrfv",
        "111111111111",
        "000000000000",
        "123123123123",
        "abcdefghijkl",
        "iloveyou1234",
        "administrator",
        "admin1234567",
        "adminadmin12",
        "passwordpassword",
        "qwertyqwerty",
        "1234567890123",
        "987654321098",
        "zxcvbnm12345",
    }
)


def password_problem(password: str, login: str = "") -> str | None:
    """Why ``password`` is refused (Russian, for the form), or None when it is acceptable.

    Passwords are taken exactly as typed (never trimmed): a space is a character like any other,
    so what an admin sets is what the user types at sign-in.
    """
    if len(password) < MIN_PASSWORD:
        return f"Пароль должен быть не короче {MIN_PASSWORD} символов"
    folded = password.lower()
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2 or (login and login.lower() in folded):
        return "Этот пароль слишком простой или содержит логин: выберите другой"
    return None


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
        return Actor(role=self.role, name=self.full_name or self.login, user_id=self.id, department=self.department)


def user_view(row: m.User) -> UserView:
    """The snapshot of a users row (also used by the session store's join)."""
    return UserView(row.id, row.login, row.full_name, Role(row.role), row.department_code, row.device, row.active)


_view = user_view


class UserService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()

    async def create(
        self,
        login: str,
        password: str,
        role: Role | str,
        *,
        department: str | None = None,
        full_name: str = "",
        device: str | None = None,
    ) -> UserView:
        login = login.strip().lower()
        role = self._check(login, password, role, department)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        try:
            async with self._sessions.begin() as session:
                if department and await session.get(m.Department, department) is None:
                    raise ValidationError(f"Неизвестное подразделение «{department}»", field="department")
                row = m.User(
                    login=login,
                    password_hash=password_hash,
                    role=role.value,
                    department_code=department,
                    full_name=full_name.strip(),
                    device=device or None,
                )
                session.add(row)
                await session.flush()
                return _view(row)
        except IntegrityError as err:
            raise ValidationError(f"Пользователь «{login}» уже есть", field="login") from err

    def _check(self, login: str, password: str, role: Role | str, department: str | None) -> Role:
        if not _LOGIN.match(login):
            raise ValidationError("Логин: 2–64 латинских буквы, цифры, точка, дефис или подчёркивание", field="login")
        role = self._check_role(role, department)
        if (problem := password_problem(password, login)) is not None:
            raise ValidationError(problem, field="password")
        return role

    def _check_role(self, role: Role | str, department: str | None) -> Role:
        try:
            role = Role(role)
        except ValueError as err:
            raise ValidationError(f"Неизвестная роль «{role}»", field="role") from err
        if role not in STAFF_ROLES:
            raise ValidationError(f"Роль «{role.value}» не для сотрудников", field="role")
        if role is Role.EXECUTOR and not department:
            raise ValidationError("Исполнителю нужно указать подразделение (--department)", field="department")
        return role

    async def authenticate(self, login: str, password: str) -> UserView | None:
        """The user if the password matches and the account is active; None otherwise."""
        async with self._sessions() as session:
            row = (
                await session.execute(select(m.User).where(m.User.login == login.strip().lower()))
            ).scalar_one_or_none()
        if row is None:
            # Spend the same time as a real check so logins cannot be probed by timing.
            await asyncio.to_thread(self._hasher.hash, password)
            return None
        if not await asyncio.to_thread(self._verify, row.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            await self._store_hash(row.id, await asyncio.to_thread(self._hasher.hash, password))
        return _view(row) if row.active else None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _store_hash(self, user_id: int, password_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(m.User).where(m.User.id == user_id).values(password_hash=password_hash))

    async def set_password(self, user_id: int, password: str) -> None:
        """Replace a user's password (the admin page); the same rules as for new users."""
        user = await self._require(user_id)
        if (problem := password_problem(password, getattr(user, "login", ""))) is not None:
            raise ValidationError(problem, field="password")
        await self._store_hash(user_id, await asyncio.to_thread(self._hasher.hash, password))

    async def change_own_password(self, user_id: int, current: str, new: str) -> None:
        """A user replaces their own password: the current one must match; the same rules as ever.

        Both are taken exactly as typed (sign-in never trims a password, so neither does this).
        """
        async with self._sessions() as session:
            row = await session.get(m.User, user_id)
        if row is None or not row.active:
            raise NotFound(f"Пользователь {user_id} не найден")
        if not await asyncio.to_thread(self._verify, row.password_hash, current):
            raise ValidationError("Текущий пароль введён неверно", field="current")
        if new == current:
            raise ValidationError("Новый пароль должен отличаться от текущего", field="password")
        if (problem := password_problem(new, row.login)) is not None:
            raise ValidationError(problem, field="password")
        await self._store_hash(user_id, await asyncio.to_thread(self._hasher.hash, new))

    async def update(
        self,
        user_id: int,
        *,
        full_name: str,
        role: Role | str,
        department: str | None,
        device: str | None,
        active: bool,
    ) -> UserView:
        """Change what the admin page edits: name, role, department, phone device, active."""
        role = self._check_role(role, department)
        async with self._sessions.begin() as session:
            row = await session.get(m.User, user_id)
            if row is None:
                raise NotFound(f"Пользователь {user_id} не найден")
            if department and await session.get(m.Department, department) is None:
                raise ValidationError(f"Неизвестное подразделение «{department}»", field="department")
            row.full_name, row.role, row.active = full_name.strip()[:200], role.value, active
            row.department_code = department or None
            row.device = (device or "").strip()[:120] or None
            return _view(row)

    async def _require(self, user_id: int) -> UserView:
        user = await self.get(user_id)
        if user is None:
            raise NotFound(f"Пользователь {user_id} не найден")
        return user

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
            row = (
                (await session.execute(select(m.User).where(m.User.device == device, m.User.active.is_(True))))
                .scalars()
                .first()
            )
            return _view(row) if row else None

    async def all(self) -> list[UserView]:
        async with self._sessions() as session:
            return [_view(r) for r in (await session.execute(select(m.User).order_by(m.User.login))).scalars()]
