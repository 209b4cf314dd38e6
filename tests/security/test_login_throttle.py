"""Password guessing is slowed per (address, login) with exponential backoff, never a hard lock.

The attacks of the review: five wrong passwords locked a login even against the right
password, and one address could lock everyone else's accounts. Now an attacker slows only
themselves; the operator at their own desk signs in during the attack.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.accounts.sessions import LoginThrottle, SessionStore, ThrottlePolicy
from callcenter.config import Settings
from callcenter.domain.tickets import Role
from callcenter.services import Services
from tests.integration.test_staff_support import PASSWORD, make_user, restarted, staff_client

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ATTACKER = "203.0.113.66"
DESK = "10.15.63.7"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_the_wait_doubles_with_each_failure_up_to_the_cap(services: Services, clock: Clock) -> None:
    throttle = LoginThrottle(services.sessions, clock=clock)
    waits = []
    for _ in range(14):
        await throttle.failed("anna", ATTACKER)
        waits.append(await throttle.locked_for("anna", ATTACKER))
    seconds = [w.total_seconds() if w else 0 for w in waits]
    assert seconds[:3] == [0, 0, 0]  # three free mistakes
    assert seconds[3:9] == [2, 4, 8, 16, 32, 64]
    assert seconds[-1] == 15 * 60  # the cap
    assert max(seconds) == 15 * 60


async def test_an_attacker_never_locks_the_operator_out_of_another_address(services: Services, clock: Clock) -> None:
    throttle = LoginThrottle(services.sessions, clock=clock)
    for _ in range(200):
        await throttle.failed("anna", ATTACKER)
    assert await throttle.locked_for("anna", ATTACKER) == timedelta(minutes=15)
    assert await throttle.locked_for("anna", DESK) is None


async def test_many_addresses_guessing_one_login_slow_only_unknown_addresses(services: Services, clock: Clock) -> None:
    anna = await make_user(services, "anna", Role.OPERATOR)
    await SessionStore(services.sessions, clock=clock).open(anna.id, address=DESK)  # her desk, yesterday's shift
    clock.now += timedelta(days=1)
    throttle = LoginThrottle(services.sessions, clock=clock)
    for n in range(40):  # a botnet: two tries each from 20 addresses
        await throttle.failed("anna", f"198.51.100.{n // 2}")
    assert await throttle.locked_for("anna", "192.0.2.99") is not None  # a new address is slowed
    assert await throttle.locked_for("anna", DESK) is None  # the known desk is not


async def test_the_right_password_from_the_desk_signs_in_while_another_address_guesses(
    settings: Settings, services: Services
) -> None:
    # Behind the trusted proxy (nginx on loopback) the address is the forwarded one.
    proxied = replace(settings, trusted_proxies=["127.0.0.1"])
    await make_user(services, "anna", Role.OPERATOR)  # the services fixture cleaned the database first
    async with restarted(proxied) as url:
        async with staff_client(url) as attacker:
            await attacker.get("/login")
            headers = {"X-Forwarded-For": ATTACKER}
            for _ in range(8):
                resp = await attacker.post("/login", {"login": "anna", "password": "подбор-пароля-1"}, headers=headers)
                assert resp.status in (401, 429)
            slowed = await attacker.post("/login", {"login": "anna", "password": PASSWORD}, headers=headers)
            assert slowed.status == 429
        async with staff_client(url) as desk:
            await desk.get("/login")
            resp = await desk.post("/login", {"login": "anna", "password": PASSWORD}, headers={"X-Forwarded-For": DESK})
            assert resp.status == 303


def test_the_policy_gives_a_person_three_free_mistakes() -> None:
    policy = ThrottlePolicy()
    assert policy.free == 3 and policy.cap == timedelta(minutes=15)
