"""The ``escalation`` FastAGI script on a fake Asterisk speaking the recorded AGI protocol
(tests/protocol/agi_peer.py): the duty dispatcher hears the ticket's number and presses 1,
or says nothing, or hangs up; what the backend is told and ESCALATION_RESULT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import RecordingSettings
from callcenter.ivr.menu import Menu, parse_menu, parse_prompts
from callcenter.ivr.scripts import IvrDependencies, build_routes
from callcenter.ivr.scripts.escalation import EscalationBrief
from tests.protocol.agi_peer import DEAD, HANGUP, FakeAsterisk, PeerResult, Step, environment_lines, step
from tests.protocol.test_ivr_flows import (
    HOST,
    MENU,
    PROMPTS,
    UNIQUEID,
    InMemoryBackend,
    play,
    say,
    wait,
)

pytestmark = pytest.mark.timeout(60)

NUMBER = "2611042"
DUTY = "+79780000044"
ANSWER = step("ANSWER", "200 result=0")


@dataclass
class Escalations:
    """The escalation script's port, in memory: one late ticket; records every answer."""

    answers: list[dict[str, Any]] = field(default_factory=list)

    async def escalation_brief(self, ticket_number: str, kind: str) -> EscalationBrief | None:
        if ticket_number != NUMBER:
            return None
        return EscalationBrief(NUMBER, "Течь трубы", "ул. Ленина, 1", still_due=True)

    async def escalation_answered(
        self, *, ticket_number: str, escalation_id: str | None, kind: str, accepted: bool, call_uniqueid: str
    ) -> bool:
        self.answers.append(
            dict(ticket_number=ticket_number, escalation_id=escalation_id, kind=kind, accepted=accepted)
        )
        return accepted


@pytest.fixture
def escalations() -> Escalations:
    return Escalations()


@pytest.fixture
async def server(escalations: Escalations, tmp_path: Path) -> AsyncIterator[AgiServer]:
    menu: Menu = parse_menu(MENU, parse_prompts(PROMPTS), source="test-menu.yaml")
    deps = IvrDependencies(
        menu=menu,
        backend=InMemoryBackend(),
        recordings=RecordingSettings(local_dir=tmp_path / "recordings"),
        escalations=escalations,
    )
    agi = AgiServer(HOST, 0, build_routes(deps))
    await agi.start()
    yield agi
    await agi.close()


async def run(server: AgiServer, script: list[Step], *, kind: str = "accept", dead_after: bool = False) -> PeerResult:
    peer = FakeAsterisk(
        HOST,
        server.port,
        env=environment_lines(cv.SCRIPT_ESCALATION, callerid=DUTY, uniqueid=UNIQUEID),
        script=script,
        auto_variables=True,
        dead_after=dead_after,
        variables={cv.TICKET_ID: NUMBER, cv.ESCALATION_ID: "7", cv.ESCALATION_KIND: kind},
    )
    result = await peer.run()
    await server.wait_idle(5)
    assert result.mismatches == [], result.commands
    assert result.script_left == 0, result.commands
    return result


async def test_the_dispatcher_hears_the_number_and_presses_1_to_accept(server: AgiServer, escalations: Escalations):
    script = [
        ANSWER,
        play("escalation-intro"),
        say(NUMBER),
        play("escalation-question"),
        wait("1", 8000),
        play("escalation-accepted"),
    ]
    result = await run(server, script)
    assert escalations.answers == [dict(ticket_number=NUMBER, escalation_id="7", kind="accept", accepted=True)]
    assert result.variables[cv.ESCALATION_RESULT] == cv.ESCALATION_ACCEPTED


async def test_a_key_during_the_number_answers_at_once_and_silence_is_asked_again_then_refused(
    server: AgiServer, escalations: Escalations
):
    early = [ANSWER, play("escalation-intro"), say(NUMBER, "1"), play("escalation-accepted")]
    await run(server, early)
    silent = [
        ANSWER,
        play("escalation-intro-done"),
        say(NUMBER),
        play("escalation-question-done"),
        wait(None, 8000),
        play("escalation-question-done"),
        wait(None, 8000),
        play("escalation-not-accepted"),
    ]
    result = await run(server, silent, kind="done")
    assert [a["accepted"] for a in escalations.answers] == [True, False]
    assert escalations.answers[1]["kind"] == "done"
    assert result.variables[cv.ESCALATION_RESULT] == cv.ESCALATION_NOT_ACCEPTED


async def test_a_hang_up_while_the_number_is_read_records_nothing(server: AgiServer, escalations: Escalations):
    script = [ANSWER, play("escalation-intro"), step(f"SAY DIGITS {NUMBER} ", HANGUP, DEAD)]
    result = await run(server, script, dead_after=True)
    assert escalations.answers == []
    assert cv.ESCALATION_RESULT not in result.variables
