"""The escalation chain over a telephone line (the fake Asterisk of tests/protocol/fake_ami.py on
a real socket, the app's own AMI link, call tracker and calls table): the next step never comes
while the previous step's call still rings or talks; it comes when that call is over (hung up,
busy) or, if its end is never heard of, at the held time. Every step is on the timeline.

The escalator here runs on a clock the test moves; everything else is the running app's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.config import Settings
from callcenter.domain.tickets import Status
from callcenter.services import Services
from callcenter.wallboard.escalation import DutyContacts, Escalator
from callcenter.wallboard.models import Escalation
from tests.conftest import LiveServer
from tests.integration.test_escalation import escalation_notes, late_ticket
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import connected, fake, telephony_settings  # noqa: F401 (fake: a fixture)

pytestmark = pytest.mark.timeout(60)

DUTY = "+79780000044"
HEAD = "+79780000055"
STEP = timedelta(minutes=10)
CALL_LIMIT = timedelta(minutes=3)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake: FakeAmi) -> Settings:  # noqa: F811
    # the app's own escalator never ticks: the test's escalator (on its clock) is the only one
    return telephony_settings(
        database_url, tmp_path, fake, escalation_tick_seconds=0, dial_template="Local/{number}@city"
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def escalator(services: Services, clock: Clock) -> Escalator:
    return Escalator(
        services.sessions,
        services.tickets,
        services.reference,
        DutyContacts(services.sessions, services.reference),
        services.ami_actions,
        dial_template=services.settings.dial_template,
        chain="duty,head,supervisor",
        step_minutes=STEP.total_seconds() / 60,
        tick_seconds=0,
        dispatch_target_seconds=60,
        clock=clock,
        call_limit_seconds=CALL_LIMIT.total_seconds(),
        call_poll_seconds=0.05,
    )


async def chain_of(server: LiveServer, fake: FakeAmi) -> tuple[str, Escalator, Clock]:  # noqa: F811
    await connected(server, fake)
    number = await late_ticket(server, Status.DISPATCHED, 3)
    clock = Clock()
    chain = escalator(server.services, clock)
    view = await server.services.tickets.get(number)
    await chain.contacts.save(view.department, {"duty_phone": DUTY, "head_phone": HEAD})
    return number, chain, clock


async def answered(server: LiveServer, fake: FakeAmi, step: int) -> str:  # noqa: F811
    """The channel of the chain's call for ``step`` (0 duty, 1 head), once the fake Asterisk has
    answered it."""
    async with server.services.sessions() as session:
        row_id = (await session.execute(select(Escalation.id))).scalar_one()
    channel = f"cc-esc-{row_id}-{step}"
    await fake.wait_for(lambda: channel in fake.state.channels)
    return channel


async def dialled(fake: FakeAmi, calls: int) -> list[str]:  # noqa: F811
    """The phones the fake Asterisk was asked to call, once ``calls`` of them arrived."""
    await fake.wait_for(lambda: fake.count("Originate") >= calls)
    return [str(a.get("Channel")) for a in fake.actions if a.get("Action") == "Originate"]


async def test_the_head_is_called_only_after_the_duty_call_has_ended(live_server: LiveServer, fake: FakeAmi):  # noqa: F811
    number, chain, clock = await chain_of(live_server, fake)
    assert await chain.tick() == 1  # duty: called, answered; the dispatcher is listening
    channel = await answered(live_server, fake, 0)
    clock.now += STEP + timedelta(minutes=1)  # the step interval is over, the call is not
    assert await chain.tick() == 0
    assert await dialled(fake, 1) == [f"Local/{DUTY}@city"]
    await fake.hangup(channel)  # the dispatcher hangs up (without pressing 1)
    await chain.wait_calls()  # the call's end reached the calls table and released the chain
    assert await chain.tick() == 1
    assert await dialled(fake, 2) == [f"Local/{DUTY}@city", f"Local/{HEAD}@city"]
    notes = await escalation_notes(live_server, number)
    assert len(notes) == 2 and "звонок дежурному службы" in notes[0] and "звонок руководителю службы" in notes[1]
    await fake.hangup(await answered(live_server, fake, 1))
    await chain.wait_calls()
    assert await chain.tick() == 0  # the supervisor step keeps its own interval after the head's step
    clock.now += STEP
    assert await chain.tick() == 1
    assert "старшему смены на табло" in (await escalation_notes(live_server, number))[-1]
    await chain.close()


async def test_a_lost_hang_up_holds_the_chain_only_until_the_call_limit(live_server: LiveServer, fake: FakeAmi):  # noqa: F811
    number, chain, clock = await chain_of(live_server, fake)
    assert await chain.tick() == 1
    await answered(live_server, fake, 0)  # its Hangup event will never come
    clock.now += STEP + CALL_LIMIT - timedelta(seconds=1)
    assert await chain.tick() == 0
    clock.now += timedelta(seconds=1)
    fake.originate_reason = "3"  # the head does not pick up
    assert await chain.tick() == 1  # the head step at the held time, whatever became of the call
    await chain.wait_calls()
    notes = await escalation_notes(live_server, number)
    assert any("окончание звонка не получено за 13 мин" in n for n in notes), notes
    assert any("звонок руководителю службы" in n for n in notes), notes
    assert await dialled(fake, 2) == [f"Local/{DUTY}@city", f"Local/{HEAD}@city"]
    await chain.close()


async def test_a_busy_duty_phone_frees_the_chain_at_the_step_interval(live_server: LiveServer, fake: FakeAmi):  # noqa: F811
    number, chain, clock = await chain_of(live_server, fake)
    fake.originate_reason = "5"  # busy
    assert await chain.tick() == 1
    await chain.wait_calls()
    assert await chain.tick() == 0  # the call is over, the step interval is not
    clock.now += STEP
    assert await chain.tick() == 1
    notes = await escalation_notes(live_server, number)
    assert "Звонок эскалации: busy" in notes[1] and "звонок руководителю службы" in notes[2]
    await chain.close()
