"""Voice reports: a recording left in the IVR becomes a draft ticket, then speech-to-text fills in
suggestions for the operator to confirm.

The ticket and the recording are saved first, during the call; transcription runs afterwards in
the background. Without a model, or with audio that cannot be decoded, the ticket keeps the
recording and says the transcript is unavailable: nothing is lost. Recordings still marked
"pending" after a restart are transcribed again at start.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.domain.phones import try_normalize_phone
from callcenter.domain.tickets import Actor, Channel
from callcenter.reference import ReferenceData
from callcenter.store import models as m
from callcenter.stt.errors import AudioDecodeError, SttError, SttUnavailable
from callcenter.stt.transcript import Transcript
from callcenter.tickets.schemas import CreatedTicket, NewAttachment, NewEvent, NewTicket, TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

IVR_ACTOR = Actor.system("IVR 1563")
MAX_LIVE_DRAFTS = 1000  # calls whose live draft is remembered (the newest)
# How far back the store is searched for a call's draft that this process does not remember
# (made before a restart, or by another instance): far longer than any voice message.
LIVE_DRAFT_WINDOW = timedelta(hours=1)
STT_ACTOR = Actor.system("распознавание речи")


class VoiceReports:
    def __init__(
        self, tickets: TicketService, speech: Any, data_dir: Path, sessions: Any, reference: ReferenceData
    ) -> None:
        self._tickets = tickets
        self._reference = reference
        self._speech = speech  # SpeechService, or None when speech-to-text is off
        self._data_dir = Path(data_dir)
        self._sessions = sessions
        self._tasks: set[asyncio.Task[None]] = set()
        # call uniqueid -> the draft made for it while the caller spoke (live transcript); the
        # lock per call makes the live path and the end of the message agree on one draft. Only
        # a fast path: the draft itself names its call, and _known_draft falls back to the store.
        self._live_drafts: OrderedDict[str, str] = OrderedDict()
        self._live_locks: dict[str, asyncio.Lock] = {}

    async def submit(
        self,
        *,
        phone: str,
        category_code: str | None,
        recording_path: str,
        call_uniqueid: str,
        ivr_path: str,
        transcript: Transcript | Awaitable[Transcript] | None = None,
    ) -> TicketView:
        """Create the draft ticket with its recording now; transcribe later (or, with the
        ``transcript`` made live while the caller spoke, fill the draft from it at once).
        A new draft, its recording and the "transcript unavailable" event are one transaction."""
        category = category_code if category_code and self._reference.has_category(category_code) else None
        path = await asyncio.to_thread(self._find_recording, recording_path)
        status = "pending" if path is not None and self._speech_available() else "unavailable"
        size, digest = await asyncio.to_thread(_size_and_hash, path) if path else (0, None)
        recording = NewAttachment(
            kind="recording",
            path=self._relative(path, recording_path),
            mime="audio/wav",
            size=size,
            sha256=digest,
            public=False,
            transcript_status=status,
        )
        events: tuple[NewEvent, ...] = ()
        if status != "pending":
            reason = "файл записи не найден" if path is None else "модель распознавания речи не настроена"
            events = (NewEvent("transcript", note=f"Расшифровка недоступна: {reason}", actor=STT_ACTOR),)
        view, attachment_id = await self._draft_for(call_uniqueid, phone, category, ivr_path, recording, events)
        if status == "pending" and transcript is not None:
            self._track(self._use_live(view.number, attachment_id, transcript, path), f"stt-live-{view.number}")  # type: ignore[arg-type]
        elif status == "pending":
            self._spawn(view.number, attachment_id, path)  # type: ignore[arg-type]
        else:
            logger.warning("ticket %s: transcript unavailable (%s)", view.number, reason)
        return view

    async def _draft_for(
        self,
        call_uniqueid: str,
        phone: str,
        category: str | None,
        ivr_path: str,
        recording: NewAttachment,
        events: tuple[NewEvent, ...],
    ) -> tuple[TicketView, int]:
        """The draft the live transcript already made for this call, else a new one (made with
        the recording and ``events`` in its own transaction); and the recording's id."""
        async with self._live_lock(call_uniqueid):
            number = await self._known_draft(call_uniqueid)
            if number is not None:
                return await self._update_live_draft(number, category, ivr_path, recording, events)
            created = await self._new_draft(
                call_uniqueid, phone, category, ivr_path, "", attachments=(recording,), events=events
            )
            if call_uniqueid:
                self._remember(call_uniqueid, created.view.number)
            return created.view, created.attachment_ids[0]

    async def _update_live_draft(
        self, number: str, category: str | None, ivr_path: str, recording: NewAttachment, events: tuple[NewEvent, ...]
    ) -> tuple[TicketView, int]:
        ticket = await self._tickets.get(number)
        changes: dict[str, Any] = {"extra": {"ivr_path": ivr_path}}
        if category and not ticket.category:
            changes["category"] = category
        view = await self._tickets.edit(number, changes, IVR_ACTOR)
        attachment_id = await self._tickets.add_attachment(
            number,
            kind=recording.kind,
            path=recording.path,
            mime=recording.mime,
            size=recording.size,
            sha256=recording.sha256,
            public=recording.public,
            actor=IVR_ACTOR,
            transcript_status=recording.transcript_status,
        )
        for item in events:
            await self._tickets.record_event(number, item.kind, item.actor or IVR_ACTOR, note=item.note, data=item.data)
        return view, attachment_id

    async def _new_draft(
        self,
        call_uniqueid: str,
        phone: str,
        category: str | None,
        ivr_path: str,
        description: str,
        *,
        attachments: tuple[NewAttachment, ...] = (),
        events: tuple[NewEvent, ...] = (),
    ) -> CreatedTicket:
        name = self._reference.category(category).name if category else None
        return await self._tickets.create_with(
            NewTicket(
                channel=Channel.IVR,
                phone=try_normalize_phone(phone),
                category=category,
                title=f"Голосовое сообщение: {name}" if name else "Голосовое сообщение",
                description=description,
                is_draft=True,
                extra={"ivr_path": ivr_path, "call_uniqueid": call_uniqueid},
            ),
            IVR_ACTOR,
            attachments=attachments,
            events=events,
        )

    async def live_draft(self, *, phone: str, call_uniqueid: str, text: str, draft: Any) -> str | None:
        """The caller's final phrases so far (live transcript): the call's draft ticket is made
        at the first and follows them (description, suggested fields); the voice report at the
        end of the message reuses it. Returns the draft's number (None once it is no draft)."""
        if not call_uniqueid or not text:
            return None
        async with self._live_lock(call_uniqueid):
            number = await self._known_draft(call_uniqueid)
            if number is None:
                number = (await self._new_draft(call_uniqueid, phone, None, "", text)).view.number
                self._remember(call_uniqueid, number)
            await self._apply_suggestions(number, text, draft, event=False)
            return number

    async def _known_draft(self, call_uniqueid: str) -> str | None:
        """The ticket already made for this call: remembered here, else found in the store (this
        process restarted since, or the live transcript ran on another instance). A draft an
        operator has confirmed meanwhile still counts: the recording belongs to it, not to a
        second ticket for the same call."""
        if not call_uniqueid:
            return None
        number = self._live_drafts.get(call_uniqueid)
        if number is None:
            number = await self._tickets.number_for_call(call_uniqueid, within=LIVE_DRAFT_WINDOW)
            if number is not None:
                self._remember(call_uniqueid, number)
        return number

    def _live_lock(self, call_uniqueid: str) -> asyncio.Lock:
        lock = self._live_locks.get(call_uniqueid)
        if lock is None:
            lock = self._live_locks[call_uniqueid] = asyncio.Lock()
        return lock

    def _remember(self, call_uniqueid: str, number: str) -> None:
        self._live_drafts[call_uniqueid] = number
        while len(self._live_drafts) > MAX_LIVE_DRAFTS:
            old, _ = self._live_drafts.popitem(last=False)
            self._live_locks.pop(old, None)

    def _speech_available(self) -> bool:
        return self._speech is not None and self._speech.available

    def _find_recording(self, recording_path: str) -> Path | None:
        """Asterisk names the file without extension; it writes NAME.wav."""
        base = Path(recording_path)
        for candidate in (base, base.with_suffix(".wav"), Path(f"{recording_path}.wav")):
            if candidate.is_file() and candidate.stat().st_size > 0:
                return candidate
        return None

    def _relative(self, path: Path | None, original: str) -> str:
        target = path or Path(original)
        try:
            return str(target.resolve().relative_to(self._data_dir.resolve()))
        except ValueError:
            return str(target)

    def _spawn(self, number: str, attachment_id: int, path: Path) -> None:
        self._track(self._transcribe(number, attachment_id, path), f"stt-{number}")

    def _track(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def _use_live(
        self, number: str, attachment_id: int, live: Transcript | Awaitable[Transcript], path: Path
    ) -> None:
        """The transcript made while the caller spoke: drafted and applied, no second decode.
        If it failed, the file is transcribed as usual."""
        try:
            transcript = live if isinstance(live, Transcript) else await live
        except (Exception, asyncio.CancelledError) as err:  # noqa: BLE001 - the file is still there
            if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
            logger.warning("ticket %s: live transcript lost (%s); transcribing the file", number, err)
            await self._transcribe(number, attachment_id, path)
            return
        draft = await self._speech.draft_async(transcript)
        await self._tickets.set_transcript(attachment_id, "done", {**transcript.to_dict(), "draft": draft.to_dict()})
        await self._apply_suggestions(number, transcript.text, draft)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("transcription task %s failed", task.get_name(), exc_info=task.exception())

    async def _transcribe(self, number: str, attachment_id: int, path: Path) -> None:
        try:
            transcript, draft = await self._speech.transcribe_and_draft(path)
        except SttUnavailable as err:
            await self._unavailable(number, attachment_id, "unavailable", f"Расшифровка недоступна: {err}")
            return
        except AudioDecodeError as err:
            await self._unavailable(number, attachment_id, "failed", f"Запись не удалось разобрать: {err}")
            return
        except SttError as err:
            await self._unavailable(number, attachment_id, "failed", f"Расшифровка не удалась: {err}")
            return
        await self._tickets.set_transcript(attachment_id, "done", {**transcript.to_dict(), "draft": draft.to_dict()})
        await self._apply_suggestions(number, transcript.text, draft)

    async def _unavailable(self, number: str, attachment_id: int, status: str, note: str) -> None:
        logger.warning("ticket %s: %s", number, note)
        await self._tickets.set_transcript(attachment_id, status, None)
        await self._tickets.record_event(number, "transcript", STT_ACTOR, note=note)

    async def _apply_suggestions(self, number: str, text: str, draft: Any, *, event: bool = True) -> None:
        """Fill only what is still empty on a draft; an operator may already be editing it.
        A description the live transcript wrote (equal to the transcript kept in ``extra``)
        still counts as empty: the newer text replaces it."""
        ticket = await self._tickets.get(number)
        if not ticket.is_draft:
            if event:
                await self._tickets.record_event(number, "transcript", STT_ACTOR, note=text or "(пусто)")
            return
        changes: dict[str, Any] = {"extra": {"draft": draft.to_dict(), "transcript": text}}
        machine_text = bool(ticket.description) and ticket.description == (ticket.extra or {}).get("transcript")
        if text and text != ticket.description and (not ticket.description or machine_text):
            changes["description"] = text
        if not ticket.category and draft.category_code:
            changes["category"] = draft.category_code
        if not ticket.address and draft.address:
            changes.update(
                address=draft.address,
                street=draft.street,
                house=draft.house,
                flat=draft.flat,
                district=draft.district,
                lat=draft.lat,
                lon=draft.lon,
            )
        if ticket.title.startswith("Голосовое сообщение") and draft.title:
            changes["title"] = draft.title
        await self._tickets.edit(number, changes, STT_ACTOR)
        if not event:
            return
        await self._tickets.record_event(
            number,
            "transcript",
            STT_ACTOR,
            note=text or "(пусто)",
            data={"category": draft.category_code, "confidence": draft.confidence},
        )

    async def resume_pending(self) -> int:
        """Transcribe recordings a restart left pending; returns how many were queued."""
        if not self._speech_available():
            return 0
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(m.Attachment.id, m.Attachment.path, m.Ticket.number)
                    .join(m.Ticket, m.Ticket.id == m.Attachment.ticket_id)
                    .where(m.Attachment.transcript_status == "pending")
                )
            ).all()
        for attachment_id, rel_path, number in rows:
            path = Path(rel_path) if Path(rel_path).is_absolute() else self._data_dir / rel_path
            self._spawn(number, attachment_id, path)
        return len(rows)

    async def drain(self) -> None:
        """Wait for running transcriptions (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _size_and_hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()
