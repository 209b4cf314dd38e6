"""TOTP two-factor sign-in (RFC 6238, pyotp): enrolment, checking a code, who must have it.

Admins and supervisors must enrol (after a grace period counted from the account's creation,
``totp_grace_days``); everyone else may. A code is accepted once (the step it belongs to is
kept), with one step of clock drift either way. The secret is shown once, at enrolment, as a QR
code and as text; it never leaves the server again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyotp
import segno
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.models import UserTotp
from callcenter.clock import Clock, utcnow
from callcenter.domain.tickets import Role
from callcenter.store import models as m

REQUIRED_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})
ISSUER = "1563 Севастополь"
STEP = 30


class TotpService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, grace: timedelta = timedelta(days=7), clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._grace = grace
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def required_for(self, role: Role) -> bool:
        return role in REQUIRED_ROLES

    def must_enrol(self, role: Role, second_factor: bool, created_at: datetime | None) -> bool:
        """Whether a signed-in user is held on the enrolment page (required, not enrolled, grace over)."""
        if second_factor or not self.required_for(role):
            return False
        return created_at is None or self._clock() >= created_at + self._grace

    async def enrolled(self, user_id: int) -> bool:
        async with self._sessions() as session:
            row = await session.get(UserTotp, user_id)
        return row is not None and row.confirmed_at is not None

    async def must_enrol_now(self, user_id: int, role: Role) -> bool:
        """A required user without a confirmed secret whose grace period is over."""
        if not self.required_for(role) or await self.enrolled(user_id):
            return False
        async with self._sessions() as session:
            created = (await session.execute(select(m.User.created_at).where(m.User.id == user_id))).scalar_one()
        return self._clock() >= created + self._grace

    async def start(self, user_id: int) -> str:
        """A new secret for enrolment (replacing an unconfirmed one); refused once one is confirmed."""
        secret = pyotp.random_base32()
        async with self._sessions.begin() as session:
            row = await session.get(UserTotp, user_id)
            if row is not None and row.confirmed_at is not None:
                raise PermissionError("already enrolled")
            if row is None:
                session.add(UserTotp(user_id=user_id, secret=secret, created_at=self._clock(), last_step=0))
            else:
                row.secret, row.created_at, row.last_step = secret, self._clock(), 0
        return secret

    async def pending_secret(self, user_id: int) -> str | None:
        async with self._sessions() as session:
            row = await session.get(UserTotp, user_id)
        return row.secret if row is not None and row.confirmed_at is None else None

    async def confirm(self, user_id: int, code: str) -> bool:
        """The first code from the app: it proves the secret was taken; enrolment is then complete."""
        return await self._check(user_id, code, confirming=True)

    async def verify(self, user_id: int, code: str) -> bool:
        """A sign-in code of an enrolled user (each code once)."""
        return await self._check(user_id, code, confirming=False)

    async def reset(self, user_id: int) -> None:
        """An admin removes a user's second factor (lost phone); the user enrols again."""
        async with self._sessions.begin() as session:
            row = await session.get(UserTotp, user_id)
            if row is not None:
                await session.delete(row)

    async def _check(self, user_id: int, code: str, *, confirming: bool) -> bool:
        code = "".join(code.split())
        if not (code.isascii() and code.isdigit() and len(code) == 6):
            return False
        now = self._clock()
        async with self._sessions.begin() as session:
            row = await session.get(UserTotp, user_id, with_for_update=True)
            if row is None or (row.confirmed_at is None) != confirming:
                return False
            step = _matching_step(row.secret, code, now)
            if step is None or step <= row.last_step:
                return False  # wrong, or already used (a replayed code)
            row.last_step = step
            if confirming:
                row.confirmed_at = now
        return True


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret, interval=STEP)
    current = int(now.timestamp()) // STEP
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def provisioning_uri(secret: str, login: str) -> str:
    """What the QR code holds: otpauth://totp/... for Google Authenticator, FreeOTP, Яндекс Ключ."""
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=login, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// link as a QR code in inline SVG markup (no script, no data: URL; CSP-clean).

    Rendered on the server by segno (pure Python); medium error correction, the usual 4-module
    quiet zone, black on white so every authenticator app's camera reads it."""
    qr = segno.make(uri, error="m", micro=False)
    return str(
        qr.svg_inline(scale=4, border=4, dark="#000", light="#fff", svgclass="totp-qr", title="QR-код для приложения")
    )
