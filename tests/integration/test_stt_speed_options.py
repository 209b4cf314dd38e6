"""The live recogniser's silence gate and the decoder's search options, on the real Korean
model: silence past the tail is not decoded, yet the transcript keeps the call's clock; the
options reach the model and phrase answers stay right with a narrower search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.reference import load_reference
from callcenter.stt.live import BYTES_PER_SECOND, SilenceGate
from callcenter.stt.recognizer import DecoderOptions, LoadedModel, _with_options, load_model, recognize_phrases
from callcenter.stt.service import SpeechService
from callcenter.stt.transcript import Transcript
from tests.stt_fixtures import (  # noqa: F401  (speech_audio is a fixture)
    HELLO,
    PHRASES,
    THANKS,
    SpeechAudio,
    korean_model_dir,
    speech_audio,
)

FRAME = 320  # 20 ms of 8 kHz slin16, as AudioSocket sends it
PAUSE = 4.0


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model(korean_model_dir())


@pytest.fixture
async def gated(model: LoadedModel) -> AsyncIterator[SpeechService]:
    speech = SpeechService(None, 1, 120.0, load_reference(), model=model, live_gate=SilenceGate())
    await speech.start()
    yield speech
    await speech.close()


async def transcribe_live(speech: SpeechService, pcm: bytes) -> tuple[Transcript, int]:
    recognizer = speech.live()
    for offset in range(0, len(pcm), FRAME):
        recognizer.feed(pcm[offset : offset + FRAME])
    transcript = await recognizer.finish()
    return transcript, recognizer.skipped_bytes


def two_phrases(speech_audio: SpeechAudio) -> tuple[bytes, bytes]:
    return speech_audio.of(HELLO, ".sln").read_bytes(), speech_audio.of(THANKS, ".sln").read_bytes()


async def test_silence_past_the_tail_is_not_decoded_but_keeps_the_calls_clock(
    gated: SpeechService, speech_audio: SpeechAudio
) -> None:
    first, second = two_phrases(speech_audio)
    pause = bytes(int(PAUSE * BYTES_PER_SECOND))
    transcript, skipped = await transcribe_live(gated, first + pause + second + pause)

    gate = gated.live_gate
    # Each pause: all but the tail; the first also gives its last preroll back to the next phrase
    # (espeak's own quiet edges around the words may add a little).
    expected = 2 * (PAUSE - gate.tail_seconds) - gate.preroll_seconds
    assert expected - 0.05 <= skipped / BYTES_PER_SECOND <= expected + 1.0
    assert transcript.duration == pytest.approx((len(first) + len(second)) / BYTES_PER_SECOND + 2 * PAUSE, abs=0.01)
    second_starts = (len(first) + len(pause)) / BYTES_PER_SECOND
    later = [w for w in transcript.words if w.start >= second_starts - gate.preroll_seconds]
    assert later, transcript.words  # the second phrase's words sit after the pause, as in the recording
    assert all(w.end <= transcript.duration for w in transcript.words)
    assert all(a.start <= b.start for a, b in zip(transcript.words, transcript.words[1:], strict=False))


async def test_without_the_gate_every_frame_is_decoded(model: LoadedModel, speech_audio: SpeechAudio) -> None:
    speech = SpeechService(None, 1, 120.0, load_reference(), model=model, live_gate=SilenceGate(tail_seconds=0))
    await speech.start()
    try:
        first, second = two_phrases(speech_audio)
        transcript, skipped = await transcribe_live(speech, first + bytes(int(PAUSE * BYTES_PER_SECOND)) + second)
    finally:
        await speech.close()
    assert skipped == 0
    assert transcript.text


async def test_speech_quieter_than_the_threshold_is_still_decoded_within_the_tail(
    gated: SpeechService, speech_audio: SpeechAudio
) -> None:
    # A whole phrase shorter than the tail is never skipped, whatever its level.
    first, _ = two_phrases(speech_audio)
    _, skipped = await transcribe_live(gated, first)
    assert skipped == 0


def test_decoder_options_replace_the_models_own_lines(tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "conf").mkdir(parents=True)
    (source / "am").mkdir()
    (source / "conf" / "model.conf").write_text("--min-active=200\n--max-active=3000\n--beam=10.0\n")
    view = tmp_path / "view"
    view.mkdir()
    assert _with_options(source, view, {"max-active": "1000"}) == view
    assert (view / "conf" / "model.conf").read_text().splitlines() == [
        "--min-active=200",
        "--beam=10.0",
        "--max-active=1000",
    ]
    assert (view / "am").resolve() == (source / "am").resolve()
    assert (source / "conf" / "model.conf").read_text().startswith("--min-active=200\n--max-active=3000")


@pytest.mark.parametrize("bad", [{"max_active": 50}, {"beam": 0.5}, {"beam": 99.0}])
def test_decoder_options_out_of_range_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DecoderOptions(**bad)  # type: ignore[arg-type]  # the values are the point


def test_a_narrower_search_still_answers_every_phrase(speech_audio: SpeechAudio) -> None:
    narrow = load_model(korean_model_dir(), DecoderOptions(max_active=1000, beam=8.0))
    assert narrow.decoder.overrides == {"max-active": "1000", "beam": "8"}
    for phrase in PHRASES:
        for suffix in (".wav", ".gsm"):
            assert recognize_phrases(narrow, speech_audio.of(phrase, suffix), PHRASES) == phrase
