"""The real IVR under FastAGI load: ``callcenter serve`` runs the shipped menu (ivr/menu.yaml), and
this process plays Asterisk for N callers who each file a voice report: greeting, main menu (1),
report menu (2: «Нет воды»), the beep, RECORD FILE (the peer writes the recording where the app
asked, as Asterisk on the same host does), the ticket number read back, the SMS consent question,
hang-up. Every command the app sends is answered by what a real Asterisk 22 would reply.

What is timed is what Asterisk waits for: from the peer's reply to the app's next command
(the app's "think time": parsing, the menu, the store writes of the draft ticket). The RECORD
FILE step (the reply that ends the recording, to the next command) is shown apart: it creates
the draft ticket and stores the recording.

Two phases: **paced** (callers arrive spread over ``--spread`` seconds, each prompt "plays" for
a random 0–2×``--interval-ms``) and **burst** (every caller at once, no pauses). The peer: a
bare asyncio server sending the same command sequence with no work between commands, timed by
the same fake Asterisk; the ratio says what our IVR adds.

    .venv/bin/python bench/agi_bench.py --ivr-only [--ivr-sessions 200] [--ivr-database-url postgresql+asyncpg://...]

Each voice report is one store transaction here (the draft ticket, its recording and the
"transcript unavailable" event: the run has no speech model; ``TicketService.create_with``), 11
statements with a new caller; on SQLite they run one at a time, so the burst's recording step
queues behind the others' reports.
"""

from __future__ import annotations

import asyncio
import io
import random
import re
import socket
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.server import ServerProcess
from bench.stats import percentile

RECORD_RE = re.compile(r"^RECORD FILE (\S+) (\S+) ")
KEYS = {"1563/main-menu": "1", "1563/report-category": "2"}  # the caller's presses
MAX_COMMANDS = 80  # a session that loops longer than this is a fault: the peer hangs up


def silence_wav(seconds: float = 1.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


def environment(script: str, caller: str, uniqueid: str) -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:4573/{script}",
        "agi_channel: PJSIP/citizen-00000008",
        "agi_language: ru",
        "agi_type: PJSIP",
        f"agi_uniqueid: {uniqueid}",
        "agi_version: 22.10.1",
        f"agi_callerid: {caller}",
        "agi_calleridname: Citizen",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: 1563",
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


def reply_for(command: str, variables: dict[str, str]) -> str:
    """What Asterisk 22 answers (the traces in tests/fixtures/asterisk-traces/agi-*.log)."""
    if command.startswith(("STREAM FILE", "CONTROL STREAM FILE")):
        name = command.split()[2]
        key = KEYS.get(name)
        return f"200 result={ord(key) if key else 0} endpos=8000"
    if command.startswith("RECORD FILE"):
        return "200 result=35 (dtmf) endpos=16000"
    if command.startswith("SET VARIABLE"):
        parts = command.split(" ", 3)
        if len(parts) == 4:
            variables[parts[2]] = parts[3].strip('"')
        return "200 result=1"
    if command.startswith("GET VARIABLE"):
        name = command.split()[2]
        return f"200 result=1 ({variables[name]})" if name in variables else "200 result=0"
    if command.startswith(("WAIT FOR DIGIT", "GET DATA")):
        return "200 result=0"  # no key (the consent question: the caller says nothing)
    return "200 result=0"


@dataclass
class Phase:
    name: str
    think: list[float] = field(default_factory=list)  # reply → next command, every command
    record: list[float] = field(default_factory=list)  # the recording's reply → next command
    sequences: list[list[str]] = field(default_factory=list)
    failed: int = 0
    looped: int = 0


async def caller(port: int, index: int, phase: Phase, pace: float, wav: bytes, prefix: str, bar: tqdm) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    variables: dict[str, str] = {}
    commands: list[str] = []
    writer.write(environment("ivr", f"+7978{prefix}{index:04d}", f"1795979627.{prefix}{index}"))
    replied_at: float | None = None
    after_record = False
    try:
        while raw := await reader.readline():
            now = time.perf_counter()
            command = raw.decode().rstrip("\n")
            commands.append(command)
            if replied_at is not None:
                phase.think.append(now - replied_at)
                if after_record:
                    phase.record.append(now - replied_at)
            if len(commands) > MAX_COMMANDS:
                phase.looped += 1
                break
            after_record = False
            match = RECORD_RE.match(command)
            if match:
                target = Path(f"{match.group(1)}.{match.group(2)}")
                await asyncio.to_thread(target.write_bytes, wav)
                after_record = True
            if pace and command.startswith(("STREAM FILE", "SAY ", "RECORD FILE")):
                await asyncio.sleep(random.uniform(0, 2 * pace))  # the prompt plays; a call's pacing
            writer.write((reply_for(command, variables) + "\n").encode())
            replied_at = time.perf_counter()
            bar.update(1)
    except (ConnectionError, OSError):
        phase.failed += 1
    finally:
        writer.close()
    phase.sequences.append(commands)


async def play(port: int, phase: Phase, sessions: int, pace: float, spread: float, prefix: str) -> float:
    wav = silence_wav()
    bar = tqdm(desc=f"IVR calls, {phase.name}", unit="cmd", leave=False)
    started = time.perf_counter()

    async def one(index: int) -> None:
        if spread:
            await asyncio.sleep(random.uniform(0, spread))  # arrivals spread out, not a wait for an event
        await caller(port, index, phase, pace, wav, prefix, bar)

    async with asyncio.timeout(900):
        await asyncio.gather(*(one(i) for i in range(sessions)))
    bar.close()
    return time.perf_counter() - started


async def serve_replay(sequence: list[str]) -> asyncio.Server:
    """The peer: sends the recorded command sequence, one readline per reply, nothing else."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        try:
            for command in sequence:
                writer.write(command.encode() + b"\n")
                if not await reader.readline():
                    break
        finally:
            writer.close()

    return await asyncio.start_server(session, "127.0.0.1", 0)


def line(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{label:34} n={len(ms):5}  p50 {percentile(ms, 50):7.2f}  p95 {percentile(ms, 95):7.2f}  "
        f"p99 {percentile(ms, 99):7.2f}  max {max(ms, default=float('nan')):7.2f} ms"
    )


async def run(sessions: int, interval_ms: float, spread: float, peer: bool, database_url: str = "") -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        agi_port = probe.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="callcenter-agi-ivr-"))
    settings = {
        "CALLCENTER_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir}/store.db",
        "CALLCENTER_DATA_DIR": str(workdir / "data"),
        "CALLCENTER_AGI_PORT": str(agi_port),
        "CALLCENTER_IVR_RECORDER": "record_file",
        "CALLCENTER_AUDIOSOCKET_PORT": "0",
        "CALLCENTER_SECRET_KEY": "bench-agi-ivr",
        "CALLCENTER_LOG_LEVEL": "WARNING",
    }
    phases = [Phase("paced"), Phase("burst")]
    async with ServerProcess(["-m", "callcenter.cli", "serve"], settings, workdir):
        elapsed = {}
        elapsed["paced"] = await play(agi_port, phases[0], sessions, interval_ms / 1000, spread, "1")
        elapsed["burst"] = await play(agi_port, phases[1], sessions, 0, 0, "2")
    print(
        f"\nreal IVR (ivr/menu.yaml, voice report), {sessions} callers per phase, app in `callcenter serve` on SQLite"
    )
    for phase in phases:
        complete = sum(1 for s in phase.sequences if any(c.startswith("RECORD FILE") for c in s))
        print(
            f"{phase.name}: {len(phase.sequences)} calls in {elapsed[phase.name]:.1f} s, {complete} reached the recording, "
            f"{phase.failed} failed, {phase.looped} looped; {len(phase.think)} commands"
        )
        print("  " + line("think time, every command", phase.think))
        print("  " + line("after RECORD FILE (draft ticket)", phase.record))
    if not peer:
        return
    sequence = max(phases[1].sequences, key=len)[1:]  # the first command needs no reply to time
    bare = Phase("bare burst")
    server = await serve_replay(sequence)
    try:
        await play(server.sockets[0].getsockname()[1], bare, sessions, 0, 0, "3")
    finally:
        server.close()
        await server.wait_closed()
    print(f"peer: a bare asyncio server sending the same {len(sequence)} commands with no work between them")
    print("  " + line("bare burst think time", bare.think))
    ours = [v * 1000 for v in phases[1].think]
    theirs = [v * 1000 for v in bare.think]
    print(
        f"  ours / bare in the burst: p50 {percentile(ours, 50) / percentile(theirs, 50):.1f}x  "
        f"p99 {percentile(ours, 99) / percentile(theirs, 99):.1f}x"
    )
