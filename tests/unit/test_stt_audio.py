"""The ffmpeg pipeline: every recording format to 16 kHz mono PCM; bad input is an error."""

from __future__ import annotations

import array
import math
import threading
from pathlib import Path

import pytest

from callcenter.stt.audio import BYTES_PER_SAMPLE, PcmStream, check_gsm_frames
from callcenter.stt.errors import AudioDecodeError, SttUnavailable
from tests.stt_fixtures import (  # noqa: F401  (speech_audio is a fixture)
    HELLO,
    TELEPHONE_SUFFIXES,
    VOICE_NOTE_SUFFIXES,
    SpeechAudio,
    corrupt_body,
    corrupt_header,
    long_call,
    run,
    speech_audio,
    truncate,
)

RATE = 16000


def read_all(path: Path, rate: int = RATE, chunk_bytes: int = 4000) -> tuple[bytes, int]:
    """All PCM of a file and the largest chunk seen."""
    data, largest = bytearray(), 0
    with PcmStream(path, rate, chunk_bytes=chunk_bytes) as stream:
        for chunk in stream.chunks():
            largest = max(largest, len(chunk))
            data += chunk
        stream.finish()
    return bytes(data), largest


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


@pytest.mark.parametrize("suffix", TELEPHONE_SUFFIXES + VOICE_NOTE_SUFFIXES)
def test_every_format_becomes_16k_mono_pcm_of_the_speech(speech_audio: SpeechAudio, suffix: str) -> None:
    reference, _ = read_all(speech_audio.of(HELLO, ".wav"))
    pcm, largest = read_all(speech_audio.of(HELLO, suffix))
    seconds = len(pcm) / (BYTES_PER_SAMPLE * RATE)
    reference_seconds = len(reference) / (BYTES_PER_SAMPLE * RATE)
    # Codecs pad a few frames; a wrong sample rate would be off by a factor of 2 or more.
    assert abs(seconds - reference_seconds) < 0.15
    assert largest <= 4000
    assert rms(pcm) > 300  # speech, not silence or a wrong sample format


def test_sln_is_read_as_raw_8k_signed_16bit(speech_audio: SpeechAudio) -> None:
    sln = speech_audio.of(HELLO, ".sln")
    pcm_8k, _ = read_all(sln, rate=8000)
    # Raw 8 kHz in, 8 kHz out: byte for byte the file itself.
    assert pcm_8k == sln.read_bytes()
    pcm_16k, _ = read_all(sln)
    assert abs(len(pcm_16k) - 2 * len(pcm_8k)) <= 64


def test_wav_and_sln_of_the_same_call_decode_alike(speech_audio: SpeechAudio) -> None:
    wav, _ = read_all(speech_audio.of(HELLO, ".wav"), rate=8000)
    sln, _ = read_all(speech_audio.of(HELLO, ".sln"), rate=8000)
    assert wav == sln


def test_asterisk_wav49_gsm_inside_riff_decodes(speech_audio: SpeechAudio, tmp_path: Path) -> None:
    # Asterisk's "wav49" format: GSM 06.10 frames in a RIFF file, written as ".WAV".
    wav49 = tmp_path / "message.WAV"
    run("sox", speech_audio.of(HELLO, ".wav"), "-e", "gsm-full-rate", wav49)
    pcm, _ = read_all(wav49)
    reference, _ = read_all(speech_audio.of(HELLO, ".wav"))
    assert abs(len(pcm) - len(reference)) < 0.1 * RATE * BYTES_PER_SAMPLE
    assert rms(pcm) > 300


def test_header_only_wav_and_empty_sln_are_empty_audio(speech_audio: SpeechAudio) -> None:
    assert read_all(speech_audio.header_only)[0] == b""
    assert read_all(speech_audio.empty_sln)[0] == b""


def test_silence_decodes_to_quiet_pcm(speech_audio: SpeechAudio) -> None:
    pcm, _ = read_all(speech_audio.silence)
    assert len(pcm) == 5 * RATE * BYTES_PER_SAMPLE
    assert rms(pcm) < 5


# mp3 has no file header (an ID3 tag at most, which may be skipped): see the frame tests.
@pytest.mark.parametrize("suffix", [".wav", ".ogg", ".m4a", ".webm"])
def test_damaged_header_is_a_decode_error(speech_audio: SpeechAudio, tmp_path: Path, suffix: str) -> None:
    bad = corrupt_header(speech_audio.of(HELLO, suffix), tmp_path / f"bad{suffix}")
    with pytest.raises(AudioDecodeError) as caught:
        read_all(bad)
    assert caught.value.path == bad
    assert caught.value.reason


@pytest.mark.parametrize("suffix", [".ogg", ".mp3"])
def test_damaged_frames_are_a_decode_error_not_a_transcript_of_noise(
    speech_audio: SpeechAudio, tmp_path: Path, suffix: str
) -> None:
    bad = corrupt_body(speech_audio.of(HELLO, suffix), tmp_path / f"bad{suffix}")
    with pytest.raises(AudioDecodeError):
        read_all(bad)


def test_damaged_gsm_is_a_decode_error(speech_audio: SpeechAudio, tmp_path: Path) -> None:
    good = speech_audio.of(HELLO, ".gsm")
    check_gsm_frames(good)  # the real thing passes
    bad = corrupt_body(good, tmp_path / "bad.gsm")
    with pytest.raises(AudioDecodeError, match="GSM"):
        read_all(bad)


@pytest.mark.parametrize("suffix", [".ogg", ".mp3", ".m4a", ".webm"])
def test_truncated_upload_is_a_decode_error(speech_audio: SpeechAudio, tmp_path: Path, suffix: str) -> None:
    bad = truncate(speech_audio.of(HELLO, suffix), tmp_path / f"cut{suffix}", keep=300)
    with pytest.raises(AudioDecodeError):
        read_all(bad)


def test_wav_cut_short_by_a_hang_up_still_decodes(speech_audio: SpeechAudio, tmp_path: Path) -> None:
    # Asterisk killed mid-recording: the header promises more data than the file holds.
    full = speech_audio.of(HELLO, ".wav")
    cut = truncate(full, tmp_path / "cut.wav", keep=full.stat().st_size // 2)
    pcm, _ = read_all(cut, rate=8000)
    assert 0 < len(pcm) < len(read_all(full, rate=8000)[0])


def test_zero_byte_wav_is_a_decode_error(speech_audio: SpeechAudio) -> None:
    with pytest.raises(AudioDecodeError):
        read_all(speech_audio.zero_bytes)


def test_text_file_named_like_audio_is_a_decode_error(tmp_path: Path) -> None:
    fake = tmp_path / "note.mp3"
    fake.write_text("не аудио, а текст\n" * 50, encoding="utf-8")
    with pytest.raises(AudioDecodeError):
        read_all(fake)


def test_unsupported_suffix_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    odd = tmp_path / "call.xyz"
    odd.write_bytes(b"\0" * 100)
    with pytest.raises(AudioDecodeError, match="unsupported audio format '.xyz'"):
        read_all(odd)
    with pytest.raises(AudioDecodeError, match="no such file"):
        read_all(tmp_path / "missing.wav")


def test_missing_ffmpeg_makes_stt_unavailable(speech_audio: SpeechAudio) -> None:
    with pytest.raises(SttUnavailable, match="ffmpeg"):
        with PcmStream(speech_audio.of(HELLO, ".wav"), RATE, ffmpeg="/nonexistent/ffmpeg"):
            pass


def test_stop_from_another_thread_ends_a_long_decode(speech_audio: SpeechAudio, tmp_path: Path) -> None:
    long_file = long_call(speech_audio.of(HELLO, ".wav"), tmp_path / "long.gsm", minutes=10)
    seen = 0
    with PcmStream(long_file, RATE, chunk_bytes=3200) as stream:
        for chunk in stream.chunks():
            seen += len(chunk)
            if seen > RATE * BYTES_PER_SAMPLE:  # one second in, stop it as a watchdog would
                threading.Thread(target=stream.stop).start()
        # The pipe ends soon after the kill: far less than the 10 minutes of audio.
        assert seen < 120 * RATE * BYTES_PER_SAMPLE


def test_the_generated_long_call_has_the_length_asked_for(speech_audio: SpeechAudio, tmp_path: Path) -> None:
    long_file = long_call(speech_audio.of(HELLO, ".wav"), tmp_path / "long.gsm", minutes=2)
    run("sox", long_file, "-e", "signed-integer", "-b", "16", tmp_path / "check.wav")
    pcm, _ = read_all(tmp_path / "check.wav", rate=8000, chunk_bytes=64000)
    assert abs(len(pcm) / (BYTES_PER_SAMPLE * 8000) - 120) < 3
