"""A voice message left in the IVR becomes a draft ticket; speech-to-text fills in suggestions.

Real store, real Vosk (the small Korean model the test extra installs), real ffmpeg/sox audio.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.domain.errors import IllegalTransition
from callcenter.domain.tickets import Actor, Role, Status
from callcenter.ivr.store_backend import StoreIvrBackend
from callcenter.services import Services
from callcenter.store import models as m
from callcenter.stt.service import SpeechService
from callcenter.stt.transcript import Transcript
from callcenter.stt.voice_reports import LIVE_DRAFT_WINDOW, VoiceReports
from tests.stt_fixtures import korean_model_dir, speak, telephone

OPERATOR = Actor(role=Role.OPERATOR, name="Оператор")


@pytest.fixture
async def speech(services: Services) -> AsyncIterator[SpeechService]:
    service = SpeechService(korean_model_dir(), workers=1, job_timeout=120, reference=services.reference)
    await service.start()
    assert service.available, service.unavailable_reason
    yield service
    await service.close()


def backend(services: Services, speech: SpeechService | None) -> tuple[StoreIvrBackend, VoiceReports]:
    voice = VoiceReports(services.tickets, speech, services.settings.data_dir, services.sessions, services.reference)
    return StoreIvrBackend(services.tickets, voice, outcomes=None), voice


def recording(tmp_path: Path, services: Services) -> str:
    """What Asterisk leaves after RECORD FILE: NAME.wav at 8 kHz, named without the extension."""
    folder = services.settings.recordings_dir
    folder.mkdir(parents=True, exist_ok=True)
    source = speak("안녕하세요", tmp_path / "source.wav")
    telephone(source, folder / "rec-1795979628342.wav")
    return str(folder / "rec-1795979628342")


async def test_recording_becomes_a_draft_with_transcript(
    services: Services, speech: SpeechService, tmp_path: Path
) -> None:
    ivr, voice = backend(services, speech)
    brief = await ivr.submit_voice_report(
        phone="+79780001122",
        category_code="water_leak",
        recording_path=recording(tmp_path, services),
        call_uniqueid="1795979627.17",
        ivr_path="1>water_leak>record",
    )
    assert brief.status == "new" and brief.category_code == "water_leak"
    await voice.drain()
    detail = await services.tickets.detail(brief.number)
    assert detail.ticket.is_draft and detail.ticket.phone == "+79780001122"
    (rec,) = detail.attachments
    assert rec.kind == "recording" and rec.transcript_status == "done" and rec.size > 0
    assert rec.transcript["text"] and rec.transcript["words"][0]["end"] > rec.transcript["words"][0]["start"]
    assert rec.transcript["draft"]["needs_confirmation"] is True
    assert detail.ticket.extra["ivr_path"] == "1>water_leak>record"
    assert detail.ticket.category == "water_leak"  # the caller's own choice is kept
    assert [e.kind for e in detail.events].count("transcript") == 1
    # never dispatched unchecked
    with pytest.raises(IllegalTransition):
        await services.tickets.move(brief.number, Status.DISPATCHED, OPERATOR)
    assert await ivr.open_tickets_for_phone("8 978 000-11-22") == [brief]


async def test_without_a_model_the_recording_is_kept_and_marked(services: Services, tmp_path: Path) -> None:
    speech = SpeechService(None, workers=1, job_timeout=10, reference=services.reference)
    await speech.start()
    try:
        ivr, voice = backend(services, speech)
        brief = await ivr.submit_voice_report(
            phone="+79780001122",
            category_code=None,
            recording_path=recording(tmp_path, services),
            call_uniqueid="1.1",
            ivr_path="1>record",
        )
    finally:
        await speech.close()
    detail = await services.tickets.detail(brief.number)
    (rec,) = detail.attachments
    assert rec.transcript_status == "unavailable" and rec.size > 0
    assert any(e.note and e.note.startswith("Расшифровка недоступна") for e in detail.events)


async def test_a_new_voice_report_is_one_transaction_with_the_same_timeline(services: Services, tmp_path: Path) -> None:
    """Draft, recording and "transcript unavailable" commit together; the timeline and the
    in-transaction hooks are what three transactions gave: created, attachment, transcript."""
    seen: list[tuple[str, int]] = []

    async def hook(session: AsyncSession, ticket: m.Ticket, event: m.TicketEvent) -> None:
        count = select(func.count()).select_from(m.Attachment).where(m.Attachment.ticket_id == ticket.id)
        seen.append((event.kind, (await session.execute(count)).scalar_one()))

    commits: list[object] = []

    def committed(connection: object) -> None:
        commits.append(connection)

    sqlalchemy.event.listen(services.engine.sync_engine, "commit", committed)
    services.tickets.add_in_transaction_hook(hook, ("created", "attachment", "transcript"))
    try:
        ivr, _ = backend(services, None)
        brief = await ivr.submit_voice_report(
            phone="+79780001122",
            category_code="water_leak",
            recording_path=recording(tmp_path, services),
            call_uniqueid="1.9",
            ivr_path="1>water_leak>record",
        )
    finally:
        services.tickets.remove_in_transaction_hook(hook)
        sqlalchemy.event.remove(services.engine.sync_engine, "commit", committed)
    assert len(commits) == 1
    # "created" runs before the recording is added; attachment events never ran hooks
    assert seen == [("created", 0), ("transcript", 1)]
    detail = await services.tickets.detail(brief.number)
    assert [(e.kind, e.actor_name) for e in detail.events] == [
        ("created", "IVR 1563"),
        ("attachment", "IVR 1563"),
        ("transcript", "распознавание речи"),
    ]
    assert detail.events[1].data == {"attachment": detail.attachments[0].id, "kind": "recording"}
    assert detail.events[2].note == "Расшифровка недоступна: модель распознавания речи не настроена"
    assert not detail.events[1].public and not detail.events[2].public
    (rec,) = detail.attachments
    assert rec.kind == "recording" and rec.transcript_status == "unavailable" and rec.size > 0 and not rec.public


async def test_corrupt_recording_is_kept_with_a_clear_note(services: Services, speech: SpeechService) -> None:
    folder = services.settings.recordings_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is no audio" * 20)
    ivr, voice = backend(services, speech)
    brief = await ivr.submit_voice_report(
        phone="+79780001122",
        category_code="no_water",
        recording_path=str(folder / "bad"),
        call_uniqueid="1.2",
        ivr_path="1",
    )
    await voice.drain()
    detail = await services.tickets.detail(brief.number)
    assert detail.attachments[0].transcript_status == "failed"
    assert any(e.kind == "transcript" and "не удалось" in (e.note or "") for e in detail.events)


async def test_a_hang_up_before_asterisk_wrote_the_file_still_makes_a_ticket(services: Services) -> None:
    ivr, _ = backend(services, None)
    brief = await ivr.submit_voice_report(
        phone="anonymous",
        category_code="teleport",
        recording_path="/nonexistent/rec-1",
        call_uniqueid="1.3",
        ivr_path="1",
    )
    detail = await services.tickets.detail(brief.number)
    assert detail.ticket.is_draft and detail.ticket.phone is None and detail.ticket.category is None
    assert detail.attachments[0].transcript_status == "unavailable"


async def test_status_lookup_by_number(services: Services) -> None:
    ivr, _ = backend(services, None)
    brief = await ivr.submit_voice_report(
        phone="+79780001122",
        category_code="elevator",
        recording_path="/nonexistent/x",
        call_uniqueid="1.4",
        ivr_path="2",
    )
    assert (await ivr.ticket_status(brief.number)) == brief
    assert await ivr.ticket_status("2699999") is None
    assert await ivr.ticket_status("12") is None


async def test_pending_transcripts_resume_after_a_restart(
    services: Services, speech: SpeechService, tmp_path: Path
) -> None:
    first, _ = backend(services, None)  # "before the restart": no speech service yet
    path = recording(tmp_path, services)
    brief = await first.submit_voice_report(
        phone="+79780001122", category_code="garbage", recording_path=path, call_uniqueid="1.5", ivr_path="1"
    )
    # mark it pending as a crash mid-transcription would leave it
    detail = await services.tickets.detail(brief.number)
    await services.tickets.set_transcript(detail.attachments[0].id, "pending", None)
    _, voice = backend(services, speech)
    assert await voice.resume_pending() == 1
    await voice.drain()
    assert (await services.tickets.detail(brief.number)).attachments[0].transcript_status == "done"
    shutil.rmtree(services.settings.recordings_dir)


def live_text(speech: SpeechService, text: str) -> Any:
    """The suggestions the live transcript hands VoiceReports.live_draft with a final phrase."""
    return speech.draft(Transcript(text=text, words=(), duration=2.0, model="live"))


async def test_the_voice_report_finds_the_live_draft_another_instance_made(
    services: Services, speech: SpeechService, tmp_path: Path
) -> None:
    """The live transcript made the call's draft on one instance (the AudioSocket stream's); the
    voice report at the end of the message reaches another (or this one restarted) that never
    saw it: still one ticket for the call, with the recording on it."""
    phone, call = "+79785550102", "1795979700.31"
    _, streaming = backend(services, None)
    text = "нет отопления мёрзнем с детьми"
    number = await streaming.live_draft(phone=phone, call_uniqueid=call, text=text, draft=live_text(speech, text))
    assert number is not None
    ivr, _ = backend(services, None)  # a fresh VoiceReports: nothing of that call in its memory
    brief = await ivr.submit_voice_report(
        phone=phone,
        category_code=None,
        recording_path=recording(tmp_path, services),
        call_uniqueid=call,
        ivr_path="1>record",
    )
    assert brief.number == number
    (only,) = await services.tickets.tickets_for_phone(phone)
    detail = await services.tickets.detail(only.number)
    assert [a.kind for a in detail.attachments] == ["recording"] and detail.attachments[0].size > 0
    assert detail.ticket.is_draft and detail.ticket.description == text
    assert detail.ticket.extra["ivr_path"] == "1>record" and detail.ticket.extra["call_uniqueid"] == call
    # another call from the same phone is another ticket
    other = await ivr.submit_voice_report(
        phone=phone, category_code=None, recording_path="/nonexistent/r", call_uniqueid="1795979800.40", ivr_path="1"
    )
    assert other.number != number
    assert len(await services.tickets.tickets_for_phone(phone)) == 2


async def test_a_live_draft_confirmed_meanwhile_still_gets_the_recording(
    services: Services, speech: SpeechService
) -> None:
    """An operator confirmed the live draft while the caller still spoke; the voice report on
    another instance attaches the recording to that ticket instead of making a second draft. A
    ticket of the same call older than the search window is not looked for."""
    phone, call = "+79785550103", "1795979900.52"
    _, streaming = backend(services, None)
    text = "во дворе прорвало трубу"
    number = await streaming.live_draft(phone=phone, call_uniqueid=call, text=text, draft=live_text(speech, text))
    assert number is not None
    await services.tickets.edit(number, {"category": "water_leak"}, OPERATOR, confirm_draft=True)
    ivr, _ = backend(services, None)
    brief = await ivr.submit_voice_report(
        phone=phone, category_code=None, recording_path="/nonexistent/r2", call_uniqueid=call, ivr_path="1>record"
    )
    assert brief.number == number
    detail = await services.tickets.detail(number)
    assert not detail.ticket.is_draft and [a.kind for a in detail.attachments] == ["recording"]
    assert len(await services.tickets.tickets_for_phone(phone)) == 1

    old_call = "1795970000.1"
    stale = await streaming.live_draft(phone=phone, call_uniqueid=old_call, text=text, draft=live_text(speech, text))
    long_ago = datetime.now(UTC) - LIVE_DRAFT_WINDOW - timedelta(minutes=1)
    async with services.sessions.begin() as session:
        await session.execute(update(m.Ticket).where(m.Ticket.number == stale).values(created_at=long_ago))
    _, fresh = backend(services, None)
    late = await fresh.submit(
        phone=phone, category_code=None, recording_path="/nonexistent/r3", call_uniqueid=old_call, ivr_path="1"
    )
    assert late.number != stale
