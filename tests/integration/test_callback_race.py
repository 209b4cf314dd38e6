"""Two app instances dispatching at once: separate engines, separate AMI links, one fake Asterisk.

Every Originate that reaches the fake is counted by its CALLBACK_ID: each callback must be
dialled exactly once, whoever claims it. Runs on SQLite and, with CALLCENTER_TEST_DATABASE_URL,
on PostgreSQL (FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from callcenter.callbacks.ami_dialer import AmiDialer
from callcenter.store.db import create_engine, session_factory
from callcenter.telephony.ami_link import AmiLink, AmiSettings
from tests.integration.test_callback_support import build_rig, local
from tests.protocol.fake_ami import FakeAmi

pytestmark = pytest.mark.timeout(180)

CALLBACKS = 30


def _dialled(fake: FakeAmi) -> Counter[str]:
    counts: Counter[str] = Counter()
    for action in fake.actions:
        if action.get("Action") != "Originate":
            continue
        raw = action.get("Variable", [])
        variables = dict(v.split("=", 1) for v in ([raw] if isinstance(raw, str) else raw))
        counts[variables["CALLBACK_ID"]] += 1
    return counts


async def test_two_dispatchers_never_dial_one_callback_twice(services) -> None:
    fake = FakeAmi()
    await fake.start()
    fake.originate_reason = "5"  # busy: each callback is retried only 15 minutes later
    links = [
        AmiLink(
            AmiSettings(host="127.0.0.1", port=fake.port, username="callcenter", secret="labsecret", ping_interval=30)
        )
        for _ in range(2)
    ]
    engine = create_engine(services.settings.database_url)
    try:
        for link in links:
            await link.start()
            assert await link.wait_connected(5)
        start = local(2026, 12, 2, 12, 0)
        first = build_rig(
            services,
            start=start,
            batch=3,
            max_concurrent=100,
            owner="instance-a",
            dialer=AmiDialer(links[0], dial_template="PJSIP/{number}@city-trunk"),
        )
        second = build_rig(
            services,
            start=start,
            batch=3,
            max_concurrent=100,
            owner="instance-b",
            sessions=session_factory(engine),
            dialer=AmiDialer(links[1], dial_template="PJSIP/{number}@city-trunk"),
        )
        for i in range(CALLBACKS):
            await first.done_ticket(f"+7978100{i:04d}")
        for rig in (first, second):
            rig.clock.advance(minutes=15)
        started = {"instance-a": 0, "instance-b": 0}
        for _ in range(CALLBACKS):
            reports = await asyncio.gather(first.dispatcher.tick(), second.dispatcher.tick())
            await asyncio.gather(first.dispatcher.wait_idle(30), second.dispatcher.wait_idle(30))
            started["instance-a"] += reports[0].started
            started["instance-b"] += reports[1].started
            if sum(_dialled(fake).values()) >= CALLBACKS and not any(r.started for r in reports):
                break
        counts = _dialled(fake)
        ids = {str(cb.id) for cb in await first.callbacks_rows()}
        assert set(counts) == ids and len(ids) == CALLBACKS
        assert max(counts.values()) == 1, counts.most_common(3)
        assert started["instance-a"] > 0 and started["instance-b"] > 0, started
        assert started["instance-a"] + started["instance-b"] == CALLBACKS
        assert {cb.last_result for cb in await first.callbacks_rows()} == {"busy"}
    finally:
        for link in links:
            await link.close()
        await fake.close()
        await engine.dispose()
