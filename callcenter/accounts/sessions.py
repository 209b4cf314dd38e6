"""Staff sessions kept in the database, and the lock-out of password guessing.

A session is a random token in an HttpOnly cookie; the table holds only its SHA-256, so a
copy of the database lets nobody sign in. Sessions survive a restart, end after a shift of
idleness or a week in all, and an admin can revoke them. Failed logins are rows too, so a
restart does not reset the lock-out.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.models import LoginFailure, StaffSession, UserTotp
from callcenter.accounts.users import UserView, user_view
from callcenter.clock import Clock, utcnow
from callcenter.store import models as m

logger = logging.getLogger(__name__)


def hash_token(token: str) -> str:
    """What the table stores for a cookie token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=14)  # a 12-hour shift and a margin
    lifetime: timedelta = timedelta(days=7)
    touch_every: timedelta = timedelta(minutes=5)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class SessionInfo:
    """One live session as the session list shows it."""

    id: int
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    address: str
    user_agent: str


@dataclass(frozen=True)
class ResolvedSession:
    session_id: int
    user: UserView
    second_factor: bool = False  # the user has a confirmed TOTP secret
    user_created_at: datetime | None = None


class SessionStore:
    """Open, resolve and revoke staff sessions."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: SessionPolicy = SessionPolicy(),
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._clock = clock

    @property
    def lifetime(self) -> timedelta:
        return self._policy.lifetime

    async def open(self, user_id: int, *, address: str = "", user_agent: str = "") -> str:
        """Start a session; returns the raw token for the cookie (never stored)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        async with self._sessions.begin() as session:
            session.add(
                StaffSession(
                    token_hash=hash_token(token),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self._policy.lifetime,
                    address=address[:64],
                    user_agent=user_agent[:300],
                )
            )
        return token

    async def resolve(self, token: str) -> ResolvedSession | None:
        """The session's active user, or None if unknown, expired, revoked or the user is inactive."""
        if not token or len(token) > 200:
            return None
        now = self._clock()
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(StaffSession, m.User, UserTotp.confirmed_at)
                    .join(m.User, m.User.id == StaffSession.user_id)
                    .outerjoin(UserTotp, UserTotp.user_id == StaffSession.user_id)
                    .where(StaffSession.token_hash == hash_token(token))
                )
            ).one_or_none()
        if row is None:
            return None
        staff_session, user, second_factor = row
        if not self._usable(staff_session, user, now):
            return None
        if now - staff_session.last_seen_at > self._policy.touch_every:
            await self._touch(staff_session.id, now)
        return ResolvedSession(staff_session.id, user_view(user), second_factor is not None, user.created_at)

    def _usable(self, staff_session: StaffSession, user: m.User, now: datetime) -> bool:
        return (
            staff_session.revoked_at is None
            and user.active
            and now < staff_session.expires_at
            and now - staff_session.last_seen_at < self._policy.idle
        )

    async def _touch(self, session_id: int, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now))

    async def revoke(self, token: str) -> None:
        """End one session (logout)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(StaffSession)
                .where(StaffSession.token_hash == hash_token(token), StaffSession.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )

    async def revoke_user(self, user_id: int) -> int:
        """End every session of a user (admin action, deactivation); returns how many were live."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(StaffSession)
                .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        logger.info("revoked %d sessions of user %d", result.rowcount, user_id)
        return int(result.rowcount or 0)

    async def revoke_others(self, user_id: int, keep_token: str) -> int:
        """End every session of a user but the one holding ``keep_token`` (after a password change)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(StaffSession)
                .where(
                    StaffSession.user_id == user_id,
                    StaffSession.revoked_at.is_(None),
                    StaffSession.token_hash != hash_token(keep_token),
                )
                .values(revoked_at=self._clock())
            )
        return int(result.rowcount or 0)

    async def revoke_one(self, user_id: int, session_id: int) -> str | None:
        """End one session of a user (the session list); its token hash (to close its sockets), or None."""
        async with self._sessions.begin() as session:
            row = await session.get(StaffSession, session_id)
            if row is None or row.user_id != user_id or row.revoked_at is not None:
                return None
            row.revoked_at = self._clock()
            return row.token_hash

    async def list_for_user(self, user_id: int) -> list[SessionInfo]:
        """A user's live sessions, newest first (the session list)."""
        now = self._clock()
        async with self._sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(StaffSession)
                        .where(
                            StaffSession.user_id == user_id,
                            StaffSession.revoked_at.is_(None),
                            StaffSession.expires_at > now,
                            StaffSession.last_seen_at > now - self._policy.idle,
                        )
                        .order_by(StaffSession.created_at.desc())
                    )
                )
                .scalars()
                .all()
            )
        return [SessionInfo(r.id, r.token_hash, r.created_at, r.last_seen_at, r.address, r.user_agent) for r in rows]

    async def live_counts(self) -> dict[int, int]:
        """Unrevoked, unexpired sessions per user (for the admin page)."""
        now = self._clock()
        async with self._sessions() as session:
            rows = await session.execute(
                select(StaffSession.user_id, func.count())
                .where(
                    StaffSession.revoked_at.is_(None),
                    StaffSession.expires_at > now,
                    StaffSession.last_seen_at > now - self._policy.idle,
                )
                .group_by(StaffSession.user_id)
            )
            return {user_id: count for user_id, count in rows.all()}


@dataclass(frozen=True)
class ThrottlePolicy:
    """Exponential backoff instead of a hard lock (issue 18).

    Failures are counted per (address, login): after ``free`` of them each further failure
    doubles the wait before the next try from that address for that login, from ``base`` up to
    ``cap``. One address guessing across many logins is slowed the same way on its own count.
    Failures for a login from many addresses (counted in addresses) slow only addresses that never
    signed in as that user: an attacker from one address never slows anyone else, and a botnet
    never locks a known operator out of the desk they work at.
    """

    window: timedelta = timedelta(hours=1)
    free: int = 3  # a person mistyping gets three tries with no wait at all
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=15)
    per_address_free: int = 20  # one machine guessing across many logins
    per_login_addresses: int = 10  # many machines guessing one login (slows only unknown addresses)
    known_for: timedelta = timedelta(days=30)  # an address with a session of the user this recent is known


class LoginThrottle:
    """Backoff after failed sign-ins, per (address, login), per address, kept in the database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: ThrottlePolicy = ThrottlePolicy(),
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._clock = clock

    def backoff(self, failures: int, free: int) -> timedelta:
        """The wait after ``failures`` failures when ``free`` of them cost nothing."""
        if failures <= free:
            return timedelta(0)
        steps = min(failures - free - 1, 30)  # 2**30 s is far beyond any cap
        return min(self._policy.cap, self._policy.base * (2**steps))

    async def locked_for(self, login: str, address: str) -> timedelta | None:
        """How long until another try from ``address`` for ``login`` is allowed, or None if now."""
        now = self._clock()
        since = now - self._policy.window
        key, address = _key(login), address[:64]
        policy = self._policy
        async with self._sessions() as session:
            waits = [
                await self._wait(
                    session, (LoginFailure.login == key) & (LoginFailure.address == address), since, policy.free
                ),
                await self._wait(session, LoginFailure.address == address, since, policy.per_address_free),
            ]
            if not await self._known_address(session, key, address, now):
                waits.append(await self._distributed_wait(session, key, since))
        left = [w - now for w in waits if w is not None and w > now]
        return max(left) if left else None

    async def _wait(self, session: AsyncSession, condition: Any, since: datetime, free: int) -> datetime | None:
        """When the next try is allowed after the failures matching ``condition`` (None: no wait)."""
        count, last = (
            await session.execute(
                select(func.count(), func.max(LoginFailure.at)).where(condition, LoginFailure.at > since)
            )
        ).one()
        if last is None or count <= free:
            return None
        return _aware(last) + self.backoff(int(count), free)

    async def _distributed_wait(self, session: AsyncSession, key: str, since: datetime) -> datetime | None:
        """Many addresses failing for one login: the wait grows with how many there are.

        Counted in addresses, not failures, so one address hammering a login never slows anyone else.
        """
        addresses, last = (
            await session.execute(
                select(func.count(func.distinct(LoginFailure.address)), func.max(LoginFailure.at)).where(
                    LoginFailure.login == key, LoginFailure.at > since
                )
            )
        ).one()
        if last is None or addresses <= self._policy.per_login_addresses:
            return None
        return _aware(last) + self.backoff(int(addresses), self._policy.per_login_addresses)

    async def _known_address(self, session: AsyncSession, key: str, address: str, now: datetime) -> bool:
        """Whether the user ``key`` has signed in from ``address`` lately (their own desk)."""
        found = await session.execute(
            select(StaffSession.id)
            .join(m.User, m.User.id == StaffSession.user_id)
            .where(
                m.User.login == key,
                StaffSession.address == address,
                StaffSession.created_at > now - self._policy.known_for,
            )
            .limit(1)
        )
        return found.first() is not None

    async def failed(self, login: str, address: str) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            session.add(LoginFailure(login=_key(login), address=address[:64], at=now))
            # Keep the table small: rows older than a day never count again.
            await session.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(days=1)))

    async def succeeded(self, login: str, address: str) -> None:
        """A correct password clears that login's failures from that address (not others')."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(LoginFailure).where(LoginFailure.login == _key(login), LoginFailure.address == address[:64])
            )


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; the store keeps UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _key(login: str) -> str:
    return login.strip().lower()[:64]
