"""Surge simulation: one outage, many calls, three operators; outage mode off vs on.

    python -m bench.surge_bench [--calls 300] [--hours 1] [--operators 3] [--seed 1563]

What is real and what is simulated:
* REAL: the IVR's decisions. Every caller profile is one call into the app's own FastAGI server
  (``AgiServer`` with the ``ivr`` script: the real ``IvrEngine`` and the shipped ivr/menu.yaml,
  outage section removed for "off") over a TCP socket, the other end a fake Asterisk answering
  each command as Asterisk 22 does (bench/agi_ivr.py's replies) and pressing the caller's keys:
  which prompts play, where the call ends (operator queue, or done without an operator), and how
  long the IVR part takes (each prompt's length estimated from its Russian text in prompts.yaml
  at espeak's 150 words a minute, ~14 characters a second; SAY NUMBER 0.8 s). The incidents
  feature behind the IVR is a stand-in port (one active incident): no database.
* SIMULATED: arrivals (Poisson), who calls about the outage, what they press, the queue
  (first come first served, N operators), talk time (exponential, mean 150 s) and patience
  (exponential, mean 180 s: a caller still waiting then hangs up = abandoned). A discrete-event
  simulation, seeded, so the figures repeat; no AMI peer (the queue is arithmetic here). The
  small run with a real Asterisk's queue is tests/asterisk/test_incidents.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import heapq
import random
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.agi_ivr import MAX_COMMANDS, environment, reply_for
from callcenter.ivr import channel_vars as cv
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.engine import IvrEngine, RecordingSettings
from callcenter.ivr.menu import load_menu
from callcenter.ivr.outage import OutageFlow, OutageNotice
from callcenter.ivr.ports import TicketBrief
from callcenter.ivr.scripts.ivr import ivr

CHARS_PER_SECOND = 14.0
SAY_SECONDS = 0.8
KNOWN = "+79780000001"
UNKNOWN = "+79780000002"


# ----------------------------------------------------------------------------- the real IVR


@dataclass
class TimedCaller:
    """The fake Asterisk side of one call (bench/agi_ivr.py's replies, as a real Asterisk 22 gives
    them): answers every AGI command over the socket, presses the caller's keys and adds up how
    long the call would take. ``script`` maps a prompt name to the key pressed while it plays."""

    phone: str
    script: dict[str, str]
    prompt_seconds: dict[str, float]
    seconds: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)

    async def call(self, port: int, uniqueid: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(environment("ivr", self.phone, uniqueid))
            await writer.drain()
            while raw := await reader.readline():
                command = raw.decode().rstrip("\n")
                self.commands.append(command)
                if len(self.commands) > MAX_COMMANDS:
                    break  # an IVR that loops: the caller hangs up
                writer.write((self.reply(command) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def reply(self, command: str) -> str:
        words = command.split()
        if command.startswith("STREAM FILE"):
            prompt = words[2].split("/", 1)[-1]
            key = self.script.pop(prompt, None)
            full = self.prompt_seconds.get(prompt, 2.0)
            self.seconds += full / 2 if key else full
            return f"200 result={ord(key) if key else 0} endpos=8000"
        if command.startswith("SAY NUMBER"):
            self.seconds += SAY_SECONDS
            return "200 result=0"
        if command.startswith("SAY DIGITS"):
            self.seconds += SAY_SECONDS * len(words[2]) / 2
            return "200 result=0"
        if command.startswith("WAIT FOR DIGIT"):
            self.seconds += int(words[3]) / 1000
            return "200 result=0"
        if command.startswith("GET DATA"):
            self.seconds += int(words[3]) / 1000 if len(words) > 3 else 0
            return "200 result= (timeout)"
        return reply_for(command, self.variables)


class _Backend:
    async def open_tickets_for_phone(self, phone: str) -> list[TicketBrief]:
        return []


class _Port:
    """The incidents feature as the IVR sees it: one active no_water incident in Ленинский."""

    notice = OutageNotice(1, "no_water", ("Ленинский",), 18, 30)

    async def notices_for_caller(self, phone: str) -> list[OutageNotice]:
        return [self.notice] if phone == KNOWN else []

    async def has_active(self, category: str) -> bool:
        return category == "no_water"

    async def notices_for_district(self, category: str, district: str) -> list[OutageNotice]:
        return [self.notice] if district == "Ленинский" else []

    async def subscribe(self, incident_id: int, phone: str, call_uniqueid: str) -> TicketBrief:
        return TicketBrief("2600001", "new", "no_water", "Нет холодной воды")

    async def record_call(self, *args: Any) -> None:
        return None


@dataclass(frozen=True)
class IvrOutcome:
    to_operator: bool
    seconds: float
    path: str


async def run_ivr(outage_on: bool, phone: str, script: dict[str, str]) -> IvrOutcome:
    """One caller through the app's FastAGI server (the real IvrEngine, the shipped menu)."""
    menu = load_menu()
    prompt_seconds = {name: len(text) / CHARS_PER_SECOND for name, text in menu.prompts.items()}
    flow = None
    if outage_on and menu.outage is not None:
        flow = OutageFlow(menu.outage, _Port(), lookup_timeout=5, submit_timeout=5)
    engine = IvrEngine(
        replace(menu, outage=None) if not outage_on else menu,
        _Backend(),  # type: ignore[arg-type]
        RecordingSettings(local_dir=Path("/nonexistent")),
        outage=flow,
    )
    server = AgiServer("127.0.0.1", 0, {cv.SCRIPT_IVR: functools.partial(ivr, engine=engine)})
    await server.start()
    try:
        caller = TimedCaller(phone, dict(script), prompt_seconds)
        await caller.call(server.port, "1795979627.1")
        await server.wait_idle(5)
    finally:
        await server.close()
    route = caller.variables.get(cv.IVR_ROUTE, "")
    return IvrOutcome(route == cv.ROUTE_OPERATOR, caller.seconds, caller.variables.get(cv.IVR_PATH, ""))


# Who calls, and what they press (menu keys as a caller would, pressed during the named prompt).
PROFILES_ON = {
    # earlier ticket inside the area: the announcement comes first
    "known_subscribes": (KNOWN, {"outage-offer": "1"}),
    "known_operator": (KNOWN, {"outage-offer": "0"}),
    # no earlier ticket: main menu 1 (report), 2 (no water), district 2 (Ленинский)
    "keypad_subscribes": (
        UNKNOWN,
        {"main-menu": "1", "report-category": "2", "outage-which-district": "2", "outage-offer": "1"},
    ),
    "keypad_operator": (
        UNKNOWN,
        {"main-menu": "1", "report-category": "2", "outage-which-district": "2", "outage-offer": "0"},
    ),
    "other_question": (UNKNOWN, {"main-menu": "0"}),
}
PROFILES_OFF = {
    "outage_caller": (KNOWN, {"main-menu": "0"}),  # nothing to hear: they ask for an operator
    "other_question": (UNKNOWN, {"main-menu": "0"}),
}


def pick_profile(
    rng: random.Random, outage_on: bool, share_outage: float, share_known: float, share_subscribe: float
) -> str:
    if rng.random() >= share_outage:
        return "other_question"
    if not outage_on:
        return "outage_caller"
    known = rng.random() < share_known
    subscribes = rng.random() < share_subscribe
    return ("known_" if known else "keypad_") + ("subscribes" if subscribes else "operator")


# ----------------------------------------------------------------------------- the queue


@dataclass
class Figures:
    calls: int = 0
    no_operator: int = 0  # finished in the IVR (subscribed)
    reached_operator: int = 0
    abandoned: int = 0
    waits: list[float] = field(default_factory=list)  # seconds in the queue of those answered
    ivr_seconds: list[float] = field(default_factory=list)

    def line(self, label: str) -> str:
        waits = sorted(self.waits) or [0.0]
        p95 = waits[min(len(waits) - 1, int(0.95 * len(waits)))]
        return (
            f"{label:14} calls {self.calls:4}  no operator needed {self.no_operator:4}  "
            f"queued for one {self.calls - self.no_operator:4}  "
            f"reached an operator {self.reached_operator:4}  abandoned {self.abandoned:4} "
            f"({100 * self.abandoned / max(1, self.calls):4.1f}%)  queue wait p50 {statistics.median(waits):6.0f} s  "
            f"p95 {p95:6.0f} s  IVR time mean {statistics.mean(self.ivr_seconds or [0]):4.0f} s"
        )


def simulate(
    outcomes: dict[str, IvrOutcome],
    *,
    outage_on: bool,
    calls: int,
    hours: float,
    operators: int,
    talk_mean: float,
    patience_mean: float,
    seed: int,
    share_outage: float,
    share_known: float,
    share_subscribe: float,
) -> Figures:
    # Separate streams, so "off" and "on" see the same callers arriving at the same moments with
    # the same patience (only what the IVR does with them differs).
    arrivals, choices, talks = random.Random(seed), random.Random(seed + 1), random.Random(seed + 2)
    figures = Figures()
    rate = calls / (hours * 3600)
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, caller)
    order = 0
    t = 0.0
    patience: dict[int, float] = {}
    for caller in range(calls):
        t += arrivals.expovariate(rate)
        waits_for = arrivals.expovariate(1 / patience_mean)
        profile = pick_profile(choices, outage_on, share_outage, share_known, share_subscribe)
        outcome = outcomes[profile]
        figures.calls += 1
        figures.ivr_seconds.append(outcome.seconds)
        if not outcome.to_operator:
            figures.no_operator += 1
            continue
        patience[caller] = waits_for
        order += 1
        heapq.heappush(events, (t + outcome.seconds, order, "join", caller))
    free = operators
    queue: list[tuple[int, float]] = []  # (caller, joined at)
    gone: set[int] = set()
    while events:
        now, _, kind, caller = heapq.heappop(events)
        if kind == "join":
            queue.append((caller, now))
            order += 1
            heapq.heappush(events, (now + patience[caller], order, "abandon", caller))
        elif kind == "abandon":
            if any(c == caller for c, _ in queue):
                queue = [(c, j) for c, j in queue if c != caller]
                gone.add(caller)
                figures.abandoned += 1
        elif kind == "free":
            free += 1
        while free and queue:
            waiting, joined = queue.pop(0)
            free -= 1
            figures.reached_operator += 1
            figures.waits.append(now - joined)
            order += 1
            heapq.heappush(events, (now + talks.expovariate(1 / talk_mean), order, "free", waiting))
    return figures


async def ivr_outcomes(outage_on: bool) -> dict[str, IvrOutcome]:
    profiles = PROFILES_ON if outage_on else PROFILES_OFF
    return {name: await run_ivr(outage_on, phone, script) for name, (phone, script) in profiles.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--operators", type=int, default=3)
    parser.add_argument("--talk", type=float, default=150.0, help="mean talk time, s")
    parser.add_argument("--patience", type=float, default=180.0, help="mean patience in the queue, s")
    parser.add_argument("--share-outage", type=float, default=0.85, help="share of callers calling about the outage")
    parser.add_argument("--share-known", type=float, default=0.6, help="of those, share with an earlier ticket inside")
    parser.add_argument("--share-subscribe", type=float, default=0.75, help="of those who hear it, share pressing 1")
    parser.add_argument("--seed", type=int, default=1563)
    args = parser.parse_args()
    on = asyncio.run(ivr_outcomes(True))
    off = asyncio.run(ivr_outcomes(False))
    print("IVR decisions (the real IvrEngine and ivr/menu.yaml over FastAGI, a fake Asterisk peer):")
    for label, outcomes in (("off", off), ("on", on)):
        for name, o in outcomes.items():
            print(
                f"  outage mode {label:3} {name:18} -> {'operator' if o.to_operator else 'done, no operator':18} {o.seconds:5.1f} s  path {o.path}"
            )
    common = dict(
        calls=args.calls,
        hours=args.hours,
        operators=args.operators,
        talk_mean=args.talk,
        patience_mean=args.patience,
        seed=args.seed,
        share_outage=args.share_outage,
        share_known=args.share_known,
        share_subscribe=args.share_subscribe,
    )
    print(
        f"\n{args.calls} calls in {args.hours:g} h, {args.operators} operators, talk mean {args.talk:g} s, "
        f"patience mean {args.patience:g} s, {args.share_outage:.0%} about the outage "
        f"({args.share_known:.0%} with a known address, {args.share_subscribe:.0%} press 1); seed {args.seed}"
    )
    print(simulate(off, outage_on=False, **common).line("outage mode off"))
    print(simulate(on, outage_on=True, **common).line("outage mode on"))


if __name__ == "__main__":
    main()
