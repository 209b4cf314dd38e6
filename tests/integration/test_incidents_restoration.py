"""Restoring an incident through the real callbacks loop (issue 15 item 5), on a test clock.

Restored late in the evening: every linked ticket is done at once, but the confirmation calls
wait for the morning's calling hours; one call per citizen however many of their tickets are
linked; a citizen's 2 reopens their own tickets alone (the master and the neighbours' tickets
stay done, the incident stays restored); a neighbour's 1 closes theirs.
"""

from __future__ import annotations

from callcenter.domain.callbacks import CallbackState
from callcenter.domain.incidents import IncidentStatus, area_from_json
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.incidents.service import IncidentInput, IncidentService
from callcenter.tickets.schemas import NewTicket
from tests.integration.test_callback_support import build_rig, local

SUPERVISOR = Actor(role=Role.SUPERVISOR, name="Руководитель смены")
OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")
AREA = {"streets": [{"street": "ул. Ленина", "houses": "1-15"}]}
ANNA, BORIS = "+79780000201", "+79780000202"


async def test_restored_at_night_calls_each_citizen_once_in_the_morning_and_2_reopens_theirs_alone(services) -> None:
    rig = build_rig(services, start=local(2026, 12, 2, 20, 0))
    incidents = IncidentService(
        services.sessions,
        rig.tickets,
        services.reference,
        services.gazetteer,
        zone=services.settings.zone,
        clock=rig.clock,
    )
    incident = await incidents.create(
        IncidentInput(category="no_water", title="Порыв на Ленина", area=area_from_json(AREA)), SUPERVISOR
    )
    # Anna reported twice (to an operator, and on the portal: both linked); Boris once, in the IVR.
    by_operator, anna = [
        await rig.tickets.create(
            NewTicket(channel=channel, phone=ANNA, category="no_water", title="Нет воды", address="ул. Ленина, 5"),
            OPERATOR,
        )
        for channel in (Channel.PHONE, Channel.WEB)
    ]
    await incidents.link(incident.id, by_operator.number, "operator")
    assert await incidents.join(incident.id, anna.number, "portal")
    assert not (await incidents.subscribe(incident.id, ANNA)).created  # already on it: no third ticket
    boris = (await incidents.subscribe(incident.id, BORIS)).ticket
    assert not (await incidents.subscribe(incident.id, BORIS)).created  # a repeat call adds no ticket

    rig.clock.set(local(2026, 12, 2, 22, 30))  # after calling hours (09:00-21:00)
    result = await incidents.restore(incident.id, SUPERVISOR, "Магистраль отремонтирована")
    assert sorted(result.done) == sorted([incident.master_number, by_operator.number, anna.number, boris.number])
    assert result.citizens == 2 and result.skipped == []

    rows = await rig.callbacks_rows()
    assert sorted(cb.phone for cb in rows) == [ANNA, BORIS]  # one call per citizen
    assert all(cb.due_at >= local(2026, 12, 3, 9, 0) for cb in rows)  # not tonight: the morning
    await rig.tick()
    assert rig.dialer.calls == []
    rig.clock.set(local(2026, 12, 3, 9, 30))
    await rig.tick()
    calls = {call.phone: call for call in rig.dialer.calls}
    assert sorted(calls) == [ANNA, BORIS]
    assert sorted(calls[ANNA].ticket_numbers) == sorted([by_operator.number, anna.number])
    assert calls[BORIS].ticket_numbers == (boris.number,)

    await rig.outcomes.record_callback_outcome(
        ticket_number=anna.number,
        callback_id=str(calls[ANNA].callback_id),
        outcome="not_satisfied",
        comment_recording=None,
        call_uniqueid="cc-" + calls[ANNA].action_id,
    )
    await rig.outcomes.record_callback_outcome(
        ticket_number=boris.number,
        callback_id=str(calls[BORIS].callback_id),
        outcome="satisfied",
        comment_recording=None,
        call_uniqueid="cc-" + calls[BORIS].action_id,
    )
    status = {n: (await rig.tickets.get(n)).status for n in (by_operator.number, anna.number, boris.number)}
    assert status == {
        by_operator.number: Status.IN_PROGRESS,
        anna.number: Status.IN_PROGRESS,
        boris.number: Status.CLOSED,
    }
    assert (await rig.tickets.get(incident.master_number or "")).status is Status.DONE
    assert (await incidents.get(incident.id)).status is IncidentStatus.RESTORED
    assert {cb.phone: cb.state for cb in await rig.callbacks_rows()} == {
        ANNA: CallbackState.DONE,
        BORIS: CallbackState.DONE,
    }
    board = await incidents.board(incident.id)
    assert board.callback_outcomes == {"not_satisfied": 1, "satisfied": 1}
    assert board.open_tickets == 2  # Anna's two, reopened
    rig.clock.advance(hours=1)
    await rig.tick()
    assert len(rig.dialer.calls) == 2  # nobody is called twice
