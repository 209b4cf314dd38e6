"""Escalation of late tickets: which stage is late, and the chain of steps an admin configures.

Pure logic. A ticket is late in a stage when it waited longer than its category's target
(callcenter.domain.tickets.Targets): ``accept`` while dispatched and not accepted, ``done``
while in progress and not done. Each late stage starts the chain once (a new status move is
a new stage); the chain's steps come one ``step`` interval apart until the ticket moves on.
"""

from __future__ import annotations

import enum
from datetime import datetime

from callcenter.domain.tickets import Status, Targets


class Step(enum.StrEnum):
    DUTY = "duty"  # call the department's duty phone (the dispatcher may accept with 1)
    HEAD = "head"  # call the department head's phone
    SUPERVISOR = "supervisor"  # show it to the shift supervisor on the wallboard


STEP_LABELS = {
    Step.DUTY: "звонок дежурному службы",
    Step.HEAD: "звонок руководителю службы",
    Step.SUPERVISOR: "старшему смены на табло",
}
KIND_LABELS = {"accept": "не принята в работу вовремя", "done": "не выполнена в срок"}


def parse_chain(text: str) -> tuple[Step, ...]:
    """``"duty,head,supervisor"`` -> the steps; a clear ValueError for an unknown or repeated step."""
    steps = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            step = Step(part)
        except ValueError:
            raise ValueError(f"unknown escalation step {part!r}: use {', '.join(s.value for s in Step)}") from None
        if step in steps:
            raise ValueError(f"escalation step {part!r} is listed twice")
        steps.append(step)
    return tuple(steps)


def late_stage(status: Status, stage_started_at: datetime, now: datetime, targets: Targets) -> str | None:
    """``"accept"``, ``"done"`` or None: which target the ticket has missed in its current stage."""
    waited = now - stage_started_at
    if status is Status.DISPATCHED and waited > targets.accept:
        return "accept"
    if status is Status.IN_PROGRESS and waited > targets.done:
        return "done"
    return None
