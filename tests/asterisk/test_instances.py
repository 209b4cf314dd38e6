"""Two `callcenter serve` processes on one PostgreSQL and the real Asterisk: the AMI leader is
killed with SIGKILL between calls; the other instance takes the link over, and the operator,
whose browser is on the survivor, gets exactly one screen pop for every call before, after
and once the killed instance is back as a follower (issue 19's soak, short, on real parts;
bench/soak.py is the long one on fake peers; deploy/several-instances.md says how it works).
While the operator's instance is a follower, their click-to-call is dialled by the leader
(telephony/relay.py), once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bench.server import ServerProcess
from callcenter.app import build_services
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.tickets.schemas import NewTicket
from tests.asterisk.conftest import PG_ENV
from tests.asterisk.pbx import Driver, Pbx, free_port
from tests.asterisk.test_journeys import dialled
from tests.telephony_fixtures import CALL_KEY_INPUT, Inbox, clean_database, make_user, signed_in

pytestmark = [pytest.mark.timeout(300), pytest.mark.needs_postgresql]

PHONES = ("+79780001101", "+79780001102", "+79780001103")
CITIZEN = "+79780000033"  # the overlay's test trunk number (tests/asterisk/overlay/extensions.conf)


async def ami_state(base: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(base + "/healthz") as resp:
        return str((await resp.json())["ami"])


async def wait_ami(base: str, state: str, timeout: float) -> float:
    """Seconds until the instance's /healthz says ``ami: state``."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while await ami_state(base) != state:
            await asyncio.sleep(0.2)  # polling a health endpoint, as a balancer does
    return time.monotonic() - started


@asynccontextmanager
async def instance(pbx: Pbx, url: str, tmp_path: Path, name: str, agi_port: int) -> AsyncIterator[ServerProcess]:
    env = pbx.environment(url, tmp_path / name, ivr_recorder="record_file", agi_port=agi_port)
    env |= {"CALLCENTER_SECRET_KEY": "test-secret-shared", "CALLCENTER_LOG_LEVEL": "INFO"}
    async with ServerProcess(["-m", "callcenter.cli", "serve"], env, tmp_path / name) as server:
        yield server


async def call_and_pop(driver: Driver, inbox: Inbox, phone: str) -> str:
    """A citizen presses 0; the operator's socket gets the complete pop; the call ends."""
    citizen = await driver.call_citizen("operator", phone)
    pop = await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("complete") and m.get("caller") == phone, 60)
    call = pop["linkedid"]
    await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("linkedid") == call and m["state"] == "talking", 30)
    await driver.hangup(citizen)
    await inbox.wait_for(lambda m: m["type"] == "pop" and m.get("linkedid") == call and m["state"] == "ended", 30)
    return citizen


async def test_leader_killed_the_other_instance_takes_ami_and_every_call_pops_once(
    pbx: Pbx, driver: Driver, tmp_path: Path
) -> None:
    url = os.environ[PG_ENV]
    services = build_services(pbx.settings(url, tmp_path))
    try:
        await clean_database(services)
        await make_user(services, "op1", device="Local/op1@operators/n", full_name="Оператор Один")
        ticket = await services.tickets.create(
            NewTicket(
                channel=Channel.WEB, phone=CITIZEN, category="water_leak", title="Порыв", address="ул. Ленина, 5"
            ),
            Actor(role=Role.OPERATOR, name="Оператор Один"),
        )
    finally:
        await services.engine.dispose()

    # a: the first leader (its FastAGI port is not the dialplan's); b: the survivor, which
    # serves the IVR and holds the operator's browser.
    async with instance(pbx, url, tmp_path, "a", free_port()) as a:
        await wait_ami(a.base, "connected", 30)
        async with instance(pbx, url, tmp_path, "b", pbx.layout.agi_port) as b:
            assert await ami_state(b.base) == "disconnected"  # a follower: no second AMI session
            async with signed_in(b.base, "op1") as op1, op1.socket() as inbox:
                await inbox.wait_for(lambda m: m["type"] == "hello")
                await call_and_pop(driver, inbox, PHONES[0])  # made on a, carried by the bridge

                # Click-to-call on the follower: the leader dials it, once, and b gets the outcome.
                key = CALL_KEY_INPUT.search(await op1.page(f"/staff/tickets/{ticket.number}")).group(1)  # type: ignore[union-attr]
                answer = await op1.post(
                    f"/staff/tickets/{ticket.number}/call", {"call_key": key}, headers={"Accept": "application/json"}
                )
                body = await answer.json()
                assert answer.status == 200 and body["outcome"] == "answered" and not body["repeated"], body
                await driver.wait_for(
                    lambda e: (
                        e.get("Event") == "Newstate"
                        and e.get("ChannelStateDesc") == "Up"
                        and e.get("Channel", "").startswith(f"Local/{CITIZEN}@city-")
                    ),
                    20,
                    "citizen answers",
                )
                await driver.hangup_all()
                assert len(dialled(driver, CITIZEN)) == 1

                assert a.process is not None
                a.process.send_signal(signal.SIGKILL)
                await a.process.wait()
                took_over = await wait_ami(b.base, "connected", 30)
                await call_and_pop(driver, inbox, PHONES[1])  # b tracks the calls now

                async with instance(pbx, url, tmp_path, "a2", free_port()) as again:
                    assert await ami_state(again.base) == "disconnected"  # back as a follower
                    await call_and_pop(driver, inbox, PHONES[2])
                    assert await ami_state(b.base) == "connected"

                complete = Counter(m.get("caller") for m in inbox.of_type("pop") if m.get("complete"))
    assert complete == Counter(PHONES), complete  # one complete pop per call: none lost, none doubled
    print(f"\nAMI taken over {took_over:.1f} s after the leader's SIGKILL")
