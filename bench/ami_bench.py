"""AMI throughput: our framing + parsing + call tracking vs panoramisk's bare parse.

Feeds the same bytes (every shared/asterisk-traces/ami-*.txt, as Asterisk sent them,
CRLF, cut into TCP-sized reads) many times through:

* ours:        AmiFrameParser.feed + CallTracker.feed for every frame (what the link does);
* ours-parse:  AmiFrameParser.feed alone;
* panoramisk:  AMIProtocol.data_received (its framing + Message.from_line), every
               parsed frame counted and none routed: panoramisk's bare parse.

One process, one thread: the rates are events per second per core. Prints the median
of each and the ratio; the target for "ours" is at least 20,000 events/s.

    .venv/bin/python bench/ami_bench.py [--rounds 7] [--repeat 40] [--chunk 4096]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from callcenter.telephony.ami_protocol import AmiFrameParser
from callcenter.telephony.tracker import CallTracker

TARGET = 20_000


def traces_dir() -> Path:
    for base in Path(__file__).resolve().parents:
        candidate = base / "shared" / "asterisk-traces"
        if candidate.is_dir():
            return candidate
    raise SystemExit("shared/asterisk-traces not found beside the repository")


def server_bytes(path: Path) -> bytes:
    """What Asterisk sent in one trace: every non-``#>>`` line, CRLF, no banner."""
    lines = [
        line
        for line in path.read_text(encoding="utf-8").split("\n")
        if not line.startswith("#>> ") and not line.startswith("Asterisk Call Manager/")
    ]
    text = "\r\n".join(lines).strip("\r\n") + "\r\n\r\n"
    while "\r\n\r\n\r\n" in text:
        text = text.replace("\r\n\r\n\r\n", "\r\n\r\n")
    return text.encode("utf-8")


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_ours(chunks: list[bytes], repeat: int, track: bool) -> int:
    count = 0
    for _ in range(repeat):
        parser = AmiFrameParser()
        tracker = CallTracker()
        for chunk in chunks:
            for frame in parser.feed(chunk):
                count += 1
                if track:
                    tracker.feed(frame)
    return count


class _CountingProtocol(AMIProtocol):
    """panoramisk's framing and Message.from_line; every parsed frame counted, none routed."""

    count = 0

    def handle_message(self, message: object) -> None:
        self.count += 1


class _NoTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def run_panoramisk(chunks: list[bytes], repeat: int) -> int:
    count = 0
    for _ in range(repeat):
        protocol = _CountingProtocol()
        protocol.connection_made(_NoTransport())
        protocol.encoding = "utf8"  # as panoramisk's Manager sets it
        for chunk in chunks:
            protocol.data_received(chunk)
        count += protocol.count
    return count


def measure(name: str, fn, rounds: int, bar: tqdm) -> tuple[float, int]:
    rates = []
    frames = 0
    for _ in range(rounds):
        started = time.perf_counter()
        frames = fn()
        rates.append(frames / (time.perf_counter() - started))
        bar.update(1)
    return statistics.median(rates), frames


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = sorted(traces_dir().glob("ami-*.txt"))
    data = b"".join(server_bytes(p) for p in paths)
    chunks = chunks_of(data, args.chunk)
    runs = {
        "ours (parse+track)": lambda: run_ours(chunks, args.repeat, track=True),
        "ours (parse only)": lambda: run_ours(chunks, args.repeat, track=False),
        "panoramisk (parse)": lambda: run_panoramisk(chunks, args.repeat),
    }
    results = {}
    with tqdm(total=args.rounds * len(runs), desc="rounds", file=sys.stderr) as bar:
        # interleave rounds so that machine noise hits every contender alike
        per_round = {name: [] for name in runs}
        counts = {}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                rate, counts[name] = measure(name, fn, 1, bar)
                per_round[name].append(rate)
        for name in runs:
            results[name] = (statistics.median(per_round[name]), counts[name], per_round[name])
    report(paths, data, args, results)
    ours = results["ours (parse+track)"][0]
    return 0 if ours >= TARGET else 1


def report(paths, data, args, results) -> None:
    print(f"traces: {', '.join(p.name for p in paths)} ({len(data):,} bytes, {args.chunk}-byte reads)")
    print(f"rounds: {args.rounds}, corpus repeated {args.repeat}x per round, 1 core")
    for name, (median, frames, rates) in results.items():
        print(
            f"  {name:<20} median {median:>12,.0f} frames/s   "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f}; {frames:,} frames per round)"
        )
    ours = results["ours (parse+track)"][0]
    theirs = results["panoramisk (parse)"][0]
    print(f"ratio ours (parse+track) / panoramisk (parse): {ours / theirs:.2f}")
    print(f"ratio ours (parse only)  / panoramisk (parse): {results['ours (parse only)'][0] / theirs:.2f}")
    verdict = "meets" if ours >= TARGET else "MISSES"
    print(f"target {TARGET:,} events/s per core: {verdict} ({ours:,.0f})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per contender")
    parser.add_argument("--repeat", type=int, default=60, help="corpus passes per round")
    parser.add_argument("--chunk", type=int, default=4096, help="bytes per simulated TCP read")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
