"""FastAGI capacity: how many AGI sessions one process holds, and command round trips.

The server (this process) runs AgiServer with a "bench" script; a second process plays
Asterisk and opens ``--sessions`` connections at once (real TCP on loopback), sending the
environment block exactly as Asterisk 22 does and answering every command. Each session:

1. one ``WAIT FOR DIGIT`` whose reply the peer holds until every session is connected:
   the server then holds all of them at once (the figure "sessions held");
2. paced phase: ``--commands`` commands (STREAM FILE, GET DATA, SAY DIGITS, SET/GET
   VARIABLE in turn), one every ``--interval-ms`` on average per session, as in real calls;
3. burst phase: ``--commands`` more with no pause, every session at once (saturation).

Round trips are timed in the server around ``AgiChannel`` calls (write, peer, read,
parse). Targets: 500 sessions held; paced p50/p99 under 5 ms.

Then the same run again against a **peer**: a bare asyncio server (``start_server``, one
``readline`` per command, no parsing, no timeouts, no session bookkeeping) driving the same
fake Asterisk with the same commands, so the ratio ours / bare says what our FastAGI layer
adds on this machine at that moment. ``--no-peer`` skips it.

Last, the real IVR (bench/agi_ivr.py): ``callcenter serve`` runs the shipped menu and
``--ivr-sessions`` callers each file a voice report, paced and then all at once, against the
same command sequence from a bare asyncio peer. ``--no-ivr`` skips it, ``--ivr-only`` runs
only it.

    .venv/bin/python bench/agi_bench.py [--sessions 500] [--commands 20] [--interval-ms 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench import agi_ivr  # noqa: E402
from bench.stats import percentile  # noqa: E402
from callcenter.ivr.agi import AgiChannel, AgiServer, AgiTimeouts  # noqa: E402

TARGET_SESSIONS = 500
TARGET_P99_MS = 5.0


# --- the fake Asterisk (runs in its own process) ------------------------------------------


def environment(index: int) -> bytes:
    lines = [
        "agi_network: yes",
        "agi_network_script: bench",
        "agi_request: agi://127.0.0.1:4573/bench",
        f"agi_channel: Local/1563@hotline-{index:08x};2",
        "agi_language: ru",
        "agi_type: Local",
        f"agi_uniqueid: 1795979627.{index}",
        "agi_version: 22.10.1",
        f"agi_callerid: +7978{index:07d}",
        "agi_calleridname: Bench",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: unknown",
        "agi_rdnis: unknown",
        "agi_context: hotline",
        "agi_extension: 1563",
        "agi_priority: 3",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140216228955840",
        "",
    ]
    return "".join(line + "\n" for line in lines).encode()


def reply_for(command: bytes) -> bytes:
    if command.startswith(b"STREAM FILE") or command.startswith(b"SAY DIGITS"):
        return b"200 result=0 endpos=8000\n"
    if command.startswith(b"GET DATA"):
        return b"200 result=2611042\n"
    if command.startswith(b"GET VARIABLE"):
        return b"200 result=1 (2611042)\n"
    return b"200 result=1\n"


async def peer_session(index: int, port: int, everyone_in: asyncio.Event, connected: list[int], total: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(environment(index))
    connected[0] += 1
    if connected[0] == total:
        everyone_in.set()
    while command := await reader.readline():
        if command.startswith(b"WAIT FOR DIGIT"):
            await everyone_in.wait()  # hold the reply: all sessions stay open at the server
        writer.write(reply_for(command))
    writer.close()


async def run_peer(port: int, sessions: int) -> None:
    everyone_in = asyncio.Event()
    connected = [0]
    async with asyncio.timeout(600):
        await asyncio.gather(*(peer_session(i, port, everyone_in, connected, sessions) for i in range(sessions)))


# --- the server side (this process) -------------------------------------------------------


@dataclass
class Run:
    sessions: int
    commands: int
    interval: float
    paced_done: int = 0
    all_paced: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0
    peak: int = 0
    paced: list[float] = field(default_factory=list)
    burst: list[float] = field(default_factory=list)
    bar: tqdm | None = None


async def timed(channel: AgiChannel, step: int) -> float:
    start = time.perf_counter()
    kind = step % 5
    if kind == 0:
        await channel.stream_file("1563/main-menu")
    elif kind == 1:
        await channel.get_data("1563/enter-ticket-number", 10000, 10)
    elif kind == 2:
        await channel.say_digits("2611042")
    elif kind == 3:
        await channel.set_variable("IVR_PATH", "1>water_leak>record")
    else:
        await channel.get_variable("TICKET_ID")
    return time.perf_counter() - start


def make_handler(run: Run):
    async def bench(channel: AgiChannel) -> None:
        run.held += 1
        run.peak = max(run.peak, run.held)
        try:
            await channel.wait_for_digit(1)  # returns once every session is connected
            for step in range(run.commands):
                # pacing of a real call (prompts take seconds), not a wait for an event
                await asyncio.sleep(random.uniform(0, 2 * run.interval))
                run.paced.append(await timed(channel, step))
                run.bar.update(1)
            run.paced_done += 1
            if run.paced_done == run.sessions:
                run.all_paced.set()
            await run.all_paced.wait()  # the burst starts together, after every paced round trip
            for step in range(run.commands):
                run.burst.append(await timed(channel, step))
                run.bar.update(1)
            await channel.set_variable("IVR_ROUTE", "done")
        finally:
            run.held -= 1

    return bench


class BareChannel:
    """The peer: the same commands over a bare asyncio stream, one readline per reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def _command(self, line: str) -> bytes:
        self._writer.write(line.encode() + b"\n")
        return await self._reader.readline()

    async def wait_for_digit(self, timeout: int) -> bytes:
        return await self._command(f"WAIT FOR DIGIT {timeout}")

    async def stream_file(self, name: str) -> bytes:
        return await self._command(f'STREAM FILE {name} ""')

    async def get_data(self, name: str, timeout: int, digits: int) -> bytes:
        return await self._command(f"GET DATA {name} {timeout} {digits}")

    async def say_digits(self, digits: str) -> bytes:
        return await self._command(f'SAY DIGITS {digits} ""')

    async def set_variable(self, name: str, value: str) -> bytes:
        return await self._command(f'SET VARIABLE {name} "{value}"')

    async def get_variable(self, name: str) -> bytes:
        return await self._command(f"GET VARIABLE {name}")


async def serve_bare(run: Run) -> asyncio.Server:
    handler = make_handler(run)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass  # the environment block, up to its blank line
        try:
            await handler(BareChannel(reader, writer))  # type: ignore[arg-type]
        finally:
            writer.close()

    return await asyncio.start_server(session, "127.0.0.1", 0)


async def drive(port: int, args: argparse.Namespace, run: Run, label: str) -> float:
    run.bar = tqdm(total=2 * args.sessions * args.commands, desc=label, unit="cmd", leave=False)
    started = time.perf_counter()
    peer = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--peer", "--port", str(port), "--sessions", str(args.sessions)
    )
    try:
        async with asyncio.timeout(900):
            await peer.wait()
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
        run.bar.close()
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    if not args.ivr_only:
        await idle_handler(args)
    if not args.no_ivr:
        await agi_ivr.run(
            args.ivr_sessions, args.ivr_interval_ms, args.ivr_spread, not args.no_peer, args.ivr_database_url
        )


async def idle_handler(args: argparse.Namespace) -> None:
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run = Run(sessions=args.sessions, commands=args.commands, interval=args.interval_ms / 1000)
    timeouts = AgiTimeouts(header=60, command=120, media=120)
    server = AgiServer("127.0.0.1", 0, {"bench": make_handler(run)}, timeouts=timeouts)
    await server.start()
    try:
        elapsed = await drive(server.port, args, run, "AGI commands (ours)")
        await server.wait_idle(60)
    finally:
        await server.close()
    report(run, server, elapsed, base_rss)
    if args.no_peer:
        return
    bare = Run(sessions=args.sessions, commands=args.commands, interval=args.interval_ms / 1000)
    peer_server = await serve_bare(bare)
    try:
        await drive(peer_server.sockets[0].getsockname()[1], args, bare, "AGI commands (bare asyncio peer)")
    finally:
        peer_server.close()
        await peer_server.wait_closed()
    print("peer: a bare asyncio server, same fake Asterisk, same commands")
    for name, ours_values, bare_values in (("paced", run.paced, bare.paced), ("burst", run.burst, bare.burst)):
        ours_ms, bare_ms = [v * 1000 for v in ours_values], [v * 1000 for v in bare_values]
        print(
            f"{name:6} bare round trip: n={len(bare_ms)}  p50 {percentile(bare_ms, 50):.2f} ms  "
            f"p99 {percentile(bare_ms, 99):.2f} ms; ours / bare: p50 "
            f"{percentile(ours_ms, 50) / percentile(bare_ms, 50):.1f}x  p99 {percentile(ours_ms, 99) / percentile(bare_ms, 99):.1f}x"
        )


def report(run: Run, server: AgiServer, elapsed: float, base_rss_kb: int) -> None:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"sessions held at once:   {run.peak} (target {TARGET_SESSIONS}); completed {server.stats.completed}, "
        f"failed {server.stats.failed}, hung up {server.stats.hung_up}"
    )
    grown = max(peak_kb - base_rss_kb, 0)
    print(
        f"server process peak RSS: {peak_kb / 1024:.0f} MB, {grown / 1024:.1f} MB more than before the sessions "
        f"({grown / max(run.peak, 1):.0f} KB per session)"
    )
    for name, values in (("paced", run.paced), ("burst", run.burst)):
        ms = [v * 1000 for v in values]
        print(
            f"{name:6} round trip: n={len(ms)}  p50 {percentile(ms, 50):.2f} ms  p90 {percentile(ms, 90):.2f} ms  "
            f"p99 {percentile(ms, 99):.2f} ms  max {max(ms, default=float('nan')):.2f} ms"
        )
    total = len(run.paced) + len(run.burst)
    paced_p99 = percentile([v * 1000 for v in run.paced], 99)
    print(
        f"total: {total} commands in {elapsed:.1f} s ({total / elapsed:.0f}/s overall); "
        f"paced p99 target < {TARGET_P99_MS} ms: {'met' if paced_p99 < TARGET_P99_MS else 'NOT met'}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=TARGET_SESSIONS)
    parser.add_argument("--commands", type=int, default=20, help="commands per session in each phase")
    parser.add_argument("--interval-ms", type=float, default=1000, help="mean pause between commands (paced phase)")
    parser.add_argument("--no-peer", action="store_true", help="skip the bare asyncio peer run")
    parser.add_argument("--no-ivr", action="store_true", help="skip the real IVR run")
    parser.add_argument("--ivr-only", action="store_true", help="only the real IVR run")
    parser.add_argument("--ivr-sessions", type=int, default=200, help="callers per phase of the real IVR run")
    parser.add_argument("--ivr-interval-ms", type=float, default=300, help="mean prompt length, paced IVR phase")
    parser.add_argument("--ivr-spread", type=float, default=10, help="seconds over which paced callers arrive")
    parser.add_argument("--ivr-database-url", default="", help="the real IVR run's store (default: a new SQLite file)")
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.peer:
        asyncio.run(run_peer(arguments.port, arguments.sessions))
    else:
        asyncio.run(main(arguments))
