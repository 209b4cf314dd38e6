"""Recordings to mono 16-bit PCM, streamed through an ffmpeg subprocess.

Asterisk records ``.wav`` (also ``.WAV``, GSM inside RIFF), raw ``.gsm`` and raw signed
linear ``.sln`` (16-bit, 8 kHz, mono, no header; ``.sln16`` etc. at other rates); citizens
upload voice notes as ogg/opus, mp3, m4a or webm. ffmpeg decodes all of them and resamples
to the rate the model expects.

Why not pydub's ``AudioSegment``: it holds the whole recording in memory (several copies
while converting), and a 30-minute call must stay in bounded memory. ffmpeg (the same
program pydub drives) writes PCM to a pipe that is read in small chunks instead.

Everything here is blocking (subprocess, file reads): run it in a worker thread.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from callcenter.stt.errors import AudioDecodeError, SttUnavailable

logger = logging.getLogger(__name__)

BYTES_PER_SAMPLE = 2  # signed 16-bit little-endian
# Raw signed-linear files from Asterisk carry no header: the suffix gives the rate.
RAW_SLIN_RATES = {
    ".sln": 8000,
    ".raw": 8000,
    ".sln12": 12000,
    ".sln16": 16000,
    ".sln24": 24000,
    ".sln32": 32000,
    ".sln44": 44100,
    ".sln48": 48000,
    ".sln96": 96000,
    ".sln192": 192000,
}
# Other headerless telephone formats Asterisk can record in.
RAW_G711 = {".ulaw": "mulaw", ".pcm": "mulaw", ".ul": "mulaw", ".alaw": "alaw", ".al": "alaw"}
# Containers ffmpeg recognises by their content (voice notes from phones and browsers).
CONTAINER_SUFFIXES = frozenset(
    {
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".m4a",
        ".mp4",
        ".aac",
        ".webm",
        ".mka",
        ".flac",
        ".amr",
        ".3gp",
    }
)
SUPPORTED_SUFFIXES = frozenset({".wav", ".gsm", *RAW_SLIN_RATES, *RAW_G711, *CONTAINER_SUFFIXES})
GSM_FRAME_BYTES = 33
GSM_MAGIC = 0xD  # high nibble of the first byte of every GSM 06.10 frame
_STDERR_KEEP_BYTES = 8000
# ffmpeg's complaints about a file that simply ends mid-sample or mid-packet.
_TORN_END = re.compile(r"Invalid PCM packet, data has size \d+|Packet is too small")
_DECODE_FOLLOW_UP = re.compile(r"^Error while decoding stream #\d+:\d+")
_WAIT_SECONDS = 10.0


def ffmpeg_input_args(path: Path) -> list[str]:
    """The ffmpeg options that go before ``-i`` for this recording's format.

    Headerless formats need them (ffmpeg cannot guess ``.sln``); ``.wav`` is forced to the
    RIFF demuxer so a damaged header is an error and not a guess at some other format.
    Raises :class:`AudioDecodeError` for a suffix we do not support.
    """
    suffix = path.suffix.lower()
    if suffix in RAW_SLIN_RATES:
        return ["-f", "s16le", "-ar", str(RAW_SLIN_RATES[suffix]), "-ac", "1"]
    if suffix in RAW_G711:
        return ["-f", RAW_G711[suffix], "-ar", "8000", "-ac", "1"]
    if suffix == ".wav":
        return ["-f", "wav"]
    if suffix == ".gsm":
        return ["-f", "gsm"]
    if suffix in CONTAINER_SUFFIXES:
        return []
    known = ", ".join(sorted(SUPPORTED_SUFFIXES))
    raise AudioDecodeError(path, f"unsupported audio format {path.suffix!r} (supported: {known})")


def check_gsm_frames(path: Path, block_frames: int = 1024) -> None:
    """Raise :class:`AudioDecodeError` unless every full frame of a raw ``.gsm`` file has
    the GSM 06.10 signature.

    ffmpeg decodes any bytes as GSM without complaint, so damaged GSM would otherwise
    become a transcript of noise. Reads the file in blocks (bounded memory).
    """
    block = GSM_FRAME_BYTES * block_frames
    frame_index = 0
    with path.open("rb") as stream:
        while data := stream.read(block):
            # A trailing partial frame (a recording cut short) is ignored, as ffmpeg does.
            for offset in range(0, len(data) - GSM_FRAME_BYTES + 1, GSM_FRAME_BYTES):
                if data[offset] >> 4 != GSM_MAGIC:
                    raise AudioDecodeError(path, f"not GSM 06.10 audio: bad frame signature in frame {frame_index}")
                frame_index += 1


class PcmStream:
    """Mono signed 16-bit PCM of one recording at ``rate`` Hz, read in chunks.

    Use as a context manager; iterate :meth:`chunks`, then call :meth:`finish`, which
    raises :class:`AudioDecodeError` if ffmpeg failed. :meth:`stop` may be called from
    another thread to end a running decode (the reader then sees end of data).
    """

    def __init__(self, path: Path, rate: int, *, chunk_bytes: int = 8000, ffmpeg: str = "ffmpeg") -> None:
        self.path = Path(path)
        self.rate = rate
        self.chunk_bytes = chunk_bytes - chunk_bytes % BYTES_PER_SAMPLE
        self.ffmpeg = ffmpeg
        self.bytes_read = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._input_args: list[str] = []

    @property
    def duration(self) -> float:
        """Seconds of audio read so far."""
        return self.bytes_read / (BYTES_PER_SAMPLE * self.rate)

    def __enter__(self) -> PcmStream:
        self._check_file()
        self._stderr = tempfile.TemporaryFile()
        # stderr goes to a file: a pipe left unread fills up on a long damaged file and
        # would stall ffmpeg (and this reader) for good.
        try:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
            )
        except OSError as err:  # not installed, or not executable
            self._stderr.close()
            raise SttUnavailable(f"cannot run ffmpeg ({self.ffmpeg!r}): {err}") from err
        return self

    def _check_file(self) -> None:
        self._input_args = ffmpeg_input_args(self.path)  # unsupported suffix: fail first
        if not self.path.is_file():
            raise AudioDecodeError(self.path, "no such file")
        if self.path.suffix.lower() == ".gsm":
            try:
                check_gsm_frames(self.path)
            except OSError as err:
                raise AudioDecodeError(self.path, f"cannot read: {err.strerror or err}") from err

    def _command(self) -> list[str]:
        return [
            self.ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            *self._input_args,
            "-i",
            os.fspath(self.path),
            "-map",
            "0:a:0",
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(self.rate),
            "-acodec",
            "pcm_s16le",
            "-f",
            "s16le",
            "pipe:1",
        ]

    def chunks(self) -> Iterator[bytes]:
        """Yield PCM chunks of ``chunk_bytes`` (the last may be shorter)."""
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        while data := stdout.read(self.chunk_bytes):
            self.bytes_read += len(data)
            yield data

    def stop(self) -> None:
        """End ffmpeg now (thread-safe); the reader then sees end of data."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def finish(self) -> None:
        """Wait for ffmpeg to exit; raise :class:`AudioDecodeError` if it failed or reported
        damaged data. A recording cut short (a hang-up, a crash) is not damage: its torn
        last sample or packet is dropped quietly."""
        assert self._process is not None
        returncode = self._process.wait(timeout=_WAIT_SECONDS)
        problems = _real_problems(self._stderr_lines())
        message = "; ".join(line.strip() for line in problems[-3:])
        if returncode != 0:
            raise AudioDecodeError(self.path, message or f"ffmpeg exited with code {returncode}")
        if problems:
            # ffmpeg went on past damaged frames; a transcript of damaged audio would be
            # a confident-looking guess, so the operator listens to the recording instead.
            raise AudioDecodeError(self.path, message)

    def _stderr_lines(self) -> list[str]:
        assert self._stderr is not None
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(0)
        if size <= 2 * _STDERR_KEEP_BYTES:
            text = self._stderr.read()
        else:  # a long damaged file: its first and last complaints are enough
            head = self._stderr.read(_STDERR_KEEP_BYTES)
            self._stderr.seek(size - _STDERR_KEEP_BYTES)
            text = head + b"\n" + self._stderr.read()
        return [line for line in text.decode("utf-8", "replace").splitlines() if line.strip()]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._process is not None:
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process.wait(timeout=_WAIT_SECONDS)
        if self._stderr is not None:
            self._stderr.close()


def find_ffmpeg(ffmpeg: str = "ffmpeg") -> str:
    """The ffmpeg executable's path; :class:`SttUnavailable` if it is not installed."""
    found = shutil.which(ffmpeg)
    if found is None:
        raise SttUnavailable(f"ffmpeg not found ({ffmpeg!r}): install ffmpeg")
    return found


def _real_problems(lines: list[str]) -> list[str]:
    """ffmpeg's error lines less the torn-end complaint (and its follow-up line)."""
    problems: list[str] = []
    after_torn_end = False
    for line in lines:
        if _TORN_END.search(line):
            after_torn_end = True
            continue
        if after_torn_end and _DECODE_FOLLOW_UP.match(line.strip()):
            after_torn_end = False
            continue
        after_torn_end = False
        problems.append(line)
    return problems
