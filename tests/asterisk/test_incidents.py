"""Outage mode on a real Asterisk 22 (issue 15's "done when").

A caller whose earlier ticket's address is inside an active incident hears the announcement
(what, where, the expected restoration said with SAY NUMBER), presses 1 and is joined to the
incident's master ticket without an operator; restoring the incident calls them back through
the callbacks loop, and their 1 closes their ticket.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callcenter.domain.incidents import Area, StreetPart, parse_houses
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.incidents.models import IncidentCall, IncidentTicket
from callcenter.incidents.service import IncidentInput
from callcenter.tickets.schemas import NewTicket
from tests.asterisk.pbx import Driver, Pbx, agi_lines, wav_seconds
from tests.asterisk.test_journeys import callback_rows, dialled, settle, varset
from tests.telephony_fixtures import HubWatch, RunningApp

pytestmark = pytest.mark.timeout(240)

PHONE = "+79780000011"  # [city] answers this number's callback and presses 1
SUPERVISOR = Actor(role=Role.SUPERVISOR, name="Руководитель смены")
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")
ANNOUNCEMENT = (
    "greeting",
    "outage-intro",
    "outage-no_water",
    "outage-where",
    "district-leninsky",
    "outage-restore-time",
)


async def test_caller_inside_an_active_incident_hears_it_presses_1_is_joined_then_called_back(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    services = hotline.services
    incidents = services.incidents
    assert incidents is not None
    # an earlier ticket of this caller, at an address inside the incident's area
    earlier = await services.tickets.create(
        NewTicket(channel=Channel.PHONE, phone=PHONE, category="water_leak", title="Течь", address="ул. Ленина, 5"),
        OPERATOR,
    )
    now = incidents.service.now()
    incident = await incidents.service.create(
        IncidentInput(
            category="no_water",
            title="Порыв магистрали на ул. Ленина",
            public_text="Нет холодной воды: порыв магистрали",
            area=Area(streets=(StreetPart("ул. Ленина", parse_houses("1-15")),)),
            starts_at=now - timedelta(hours=1),
            expected_at=now + timedelta(hours=3),
        ),
        SUPERVISOR,
    )
    expected_hour = incident.expected_at.astimezone(incidents.service.zone).hour

    # press 1 a few seconds into the offer, after the greeting and the announcement
    spoken = sum(wav_seconds(pbx.layout.prompts / f"{name}.wav") for name in ANNOUNCEMENT)
    citizen = await driver.call_citizen("outage-1", PHONE, variables={"OUTAGE_WAIT": f"{spoken + 5:.1f}"})
    ivr_leg = citizen + "-h"
    await driver.wait_hangup(ivr_leg, timeout=120)

    commands = agi_lines(pbx.asterisk.log_text(), log_mark)
    played = [c.split()[2] for c in commands if c.startswith("STREAM FILE ")]
    for name in ANNOUNCEMENT[1:] + ("outage-offer", "outage-subscribed"):
        assert f"1563/{name}" in played, (name, played)
    assert f"SAY NUMBER {expected_hour} " in "\n".join(commands) + " ", commands
    assert (
        played.index("1563/outage-intro") < played.index("1563/outage-offer") < played.index("1563/outage-subscribed")
    )
    assert "1563/main-menu" not in played  # the announcement came before the main menu; none followed

    # a ticket linked to the master, with the caller's number, and no operator
    mine = [t for t in await services.tickets.tickets_for_phone(PHONE) if t.id != earlier.id]
    assert len(mine) == 1, mine
    subscribed = mine[0]
    assert subscribed.category == "no_water" and subscribed.channel is Channel.IVR and not subscribed.is_draft
    assert subscribed.extra.get("incident") == incident.id
    async with services.sessions() as session:
        links = {
            (row.ticket_id, row.via)
            for row in (
                await session.execute(select(IncidentTicket).where(IncidentTicket.incident_id == incident.id))
            ).scalars()
        }
        calls = [(c.how, c.outcome) for c in (await session.execute(select(IncidentCall))).scalars()]
    master = await services.tickets.get(incident.master_number)
    assert links == {(master.id, "master"), (subscribed.id, "ivr")}
    assert calls == [("address", "subscribed")]
    assert varset(driver, ivr_leg, "IVR_ROUTE") == ["done"]
    assert varset(driver, ivr_leg, "IVR_INCIDENT") == [str(incident.id)]
    assert varset(driver, ivr_leg, "IVR_TICKET")[-1] == subscribed.number
    assert not [e for e in driver.events if e.get("Event") == "QueueCallerJoin" and e.get("Uniqueid") == ivr_leg]

    # restoration: the linked tickets are done, the citizen is called back and presses 1
    with HubWatch(
        services, lambda msg: msg.get("type") == "callback" and msg["change"] not in ("planned", "answered", "taken")
    ) as outcome:
        result = await incidents.service.restore(incident.id, SUPERVISOR, "Магистраль отремонтирована")
        assert sorted(result.done) == sorted([master.number, subscribed.number]) and result.citizens == 1
        await outcome.next(90)
    await settle(hotline)
    assert (await services.tickets.get(subscribed.number)).status is Status.CLOSED
    assert (await services.tickets.get(master.number)).status is Status.DONE  # no citizen: nobody to ask
    assert (await services.tickets.get(earlier.number)).status is Status.NEW  # not on the incident
    [(cb, attempts)] = await callback_rows(hotline)
    assert [a.result for a in attempts] == ["satisfied"]
    assert len(dialled(driver, PHONE)) == 1
    board = await incidents.service.board(incident.id)
    assert (board.ivr_calls, board.ivr_subscribed, board.subscribers) == (1, 1, 1)
    assert board.callback_outcomes == {"satisfied": 1}


@pytest.mark.app_settings(callback_delay_seconds=3600)  # restoration plans the calls; none is dialled here
async def test_a_small_surge_five_callers_at_once_four_need_no_operator(
    pbx: Pbx, driver: Driver, hotline: RunningApp, log_mark: int
) -> None:
    """Five callers from the outage area ring at once: four press 1 and are joined without an
    operator, one presses 0 and queues. Prints the figures (pytest -s)."""
    services = hotline.services
    incidents = services.incidents
    phones = [f"+7978000050{i}" for i in range(5)]
    for phone in phones:
        await services.tickets.create(
            NewTicket(channel=Channel.WEB, phone=phone, category="no_water", title="Нет воды", address="ул. Ленина, 3"),
            OPERATOR,
        )
    now = incidents.service.now()
    incident = await incidents.service.create(
        IncidentInput(
            category="no_water",
            title="Порыв",
            area=Area(streets=(StreetPart("улица Ленина", parse_houses("1-15")),)),
            starts_at=now - timedelta(minutes=10),
            expected_at=now + timedelta(hours=2),
        ),
        SUPERVISOR,
    )
    spoken = sum(wav_seconds(pbx.layout.prompts / f"{name}.wav") for name in ANNOUNCEMENT)
    wait = {"OUTAGE_WAIT": f"{spoken + 5:.1f}"}
    legs = [
        await driver.call_citizen("outage-1" if i < 4 else "outage-0", phone, variables=wait)
        for i, phone in enumerate(phones)
    ]
    for leg in legs[:4]:
        await driver.wait_hangup(leg + "-h", timeout=150)
    queued = await driver.wait_for(
        lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Uniqueid") == legs[4] + "-h", 120, "QueueCallerJoin"
    )
    assert queued["Queue"] == "hotline"
    await driver.hangup_all()
    await services.agi.wait_idle(30)
    board = await incidents.service.board(incident.id)
    joined_without_operator = [
        leg
        for leg in legs
        if not [e for e in driver.events if e.get("Event") == "QueueCallerJoin" and e.get("Uniqueid") == leg + "-h"]
    ]
    print(
        f"real-Asterisk surge: {len(legs)} callers at once; announced {board.ivr_calls}, joined without an operator "
        f"{board.ivr_subscribed}, to an operator {board.ivr_operator}; queue joins {len(legs) - len(joined_without_operator)}"
    )
    assert (board.ivr_calls, board.ivr_subscribed, board.ivr_operator, board.subscribers) == (5, 4, 1, 4)
    assert len(joined_without_operator) == 4
    result = await incidents.service.restore(incident.id, SUPERVISOR, "Устранено")
    assert result.citizens == 4
    rows = await callback_rows(hotline)
    assert len(rows) == 4 and {cb.state for cb, _ in rows} == {"planned"}  # one planned call per citizen
    assert sorted(cb.phone for cb, _ in rows) == phones[:4]
