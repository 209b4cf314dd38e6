"""Personal data retention (152-ФЗ): erase citizens' personal data, keep the tickets for statistics.

Two ways in, both written to the audit log:

* :meth:`PersonalDataEraser.erase_expired`: tickets closed or rejected more than
  ``retention_days`` ago (the scheduled job, ``CALLCENTER_RETENTION_DAYS``; 0 turns it off);
* :meth:`PersonalDataEraser.erase_phone`: a citizen's request (``callcenter privacy erase --phone``):
  every ticket, call and callback with that number, whatever its state.

What goes: the link to the citizen (and the citizen's phone, name and e-mail once none of their
tickets keeps them), the flat, photos and recordings (rows and files), phones and names inside
the description, title and notes (masked), the caller of the ticket's calls and their facts (the
IVR path, the live conversation's transcript and its two WAV files), the number of its finished
callbacks. A call linked to no ticket keeps no conversation past the retention period either
(counted from the call's start): its caller's number, its transcript and WAV files go, the call stays
for the board and the queue statistics. What stays: number, category, department, address of the problem, district,
map point, statuses and their times: everything the statistics use.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Text, and_, cast, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.accounts.audit import SYSTEM, AuditActor, AuditLog
from callcenter.clock import Clock, utcnow
from callcenter.domain.conversations import CONVERSATION_KEY, conversation_files, without_conversation
from callcenter.domain.phones import normalize_phone
from callcenter.domain.privacy import mask_personal
from callcenter.store import models as m

logger = logging.getLogger(__name__)

ERASED = "erased"  # what a callback's number becomes
ENDED = ("closed", "rejected")  # the moves after which the retention period runs
FINAL_CALLBACK_STATES = ("done", "unreachable", "given_up", "cancelled")


@dataclass
class ErasureReport:
    tickets: list[str] = field(default_factory=list)
    files: int = 0
    calls: int = 0
    citizens: int = 0
    conversations: int = 0  # conversation transcripts erased (their WAV files count in ``files``)

    def as_details(self) -> dict[str, object]:
        return {
            "tickets": len(self.tickets),
            "files": self.files,
            "calls": self.calls,
            "citizens": self.citizens,
            "conversations": self.conversations,
        }


class PersonalDataEraser:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        data_dir: Path,
        audit: AuditLog,
        *,
        clock: Clock = utcnow,
        batch: int = 200,
    ) -> None:
        self._sessions = sessions
        self._data_dir = Path(data_dir)
        self._audit = audit
        self._clock = clock
        self._batch = batch

    async def erase_expired(self, retention: timedelta) -> ErasureReport:
        """Erase every ticket whose close (or rejection) is older than ``retention``; audited as the system."""
        report = ErasureReport()
        cutoff = self._clock() - retention
        while True:
            ids = await self._expired_batch(cutoff)
            if not ids:
                break
            await self._erase(ids, report)
        await self._erase_unlinked_conversations(cutoff, report)
        await self._erase_unlinked_callers(cutoff, report)
        if report.tickets or report.conversations or report.calls:
            await self._audit.record(
                SYSTEM, "retention_erased", "tickets", "", days=retention.days, **report.as_details()
            )
            logger.info(
                "retention: personal data of %d closed tickets, %d calls and %d conversations erased",
                len(report.tickets),
                report.calls,
                report.conversations,
            )
        return report

    async def erase_phone(self, raw_phone: str, actor: AuditActor) -> ErasureReport:
        """A citizen's request: everything held under this number (InvalidPhone if it is not one)."""
        phone = normalize_phone(raw_phone)
        report = ErasureReport()
        async with self._sessions() as session:
            citizen_id = (await session.execute(select(m.Citizen.id).where(m.Citizen.phone == phone))).scalar()
            ids = []
            if citizen_id is not None:
                ids = list(
                    (await session.execute(select(m.Ticket.id).where(m.Ticket.citizen_id == citizen_id))).scalars()
                )
        for start in range(0, len(ids), self._batch):
            await self._erase(ids[start : start + self._batch], report)
        async with self._sessions.begin() as session:
            paths = await self._conversation_files(session, m.Call.caller == phone, report)
            calls = await session.execute(update(m.Call).where(m.Call.caller == phone).values(caller=None, data={}))
            report.calls += _rows(calls)
            await session.execute(
                update(m.Callback)
                .where(m.Callback.phone == phone, m.Callback.state.in_(("planned", "claimed")))
                .values(state="cancelled", outcome="erased")
            )
            await session.execute(update(m.Callback).where(m.Callback.phone == phone).values(phone=ERASED))
            if citizen_id is not None:
                report.citizens += await self._anonymise_citizen(session, citizen_id)
        report.files += await asyncio.to_thread(_remove_files, self._data_dir, paths)
        # The number itself never goes into the log: only its last two digits, to find the request.
        await self._audit.record(actor, "privacy_erased", "citizen", f"…{phone[-2:]}", **report.as_details())
        return report

    async def _expired_batch(self, cutoff: object) -> list[int]:
        ended = (
            select(m.TicketEvent.id)
            .where(
                m.TicketEvent.ticket_id == m.Ticket.id,
                m.TicketEvent.to_status.in_(ENDED),
                m.TicketEvent.at < cutoff,
            )
            .exists()
        )
        has_personal = or_(
            m.Ticket.citizen_id.is_not(None),
            m.Ticket.flat.is_not(None),
            exists().where(m.Attachment.ticket_id == m.Ticket.id),
            exists().where(and_(m.Call.ticket_id == m.Ticket.id, m.Call.caller.is_not(None))),
            exists().where(and_(m.Call.ticket_id == m.Ticket.id, _has_conversation())),
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(m.Ticket.id)
                .where(m.Ticket.status.in_(("closed", "archived", "rejected")), ended, has_personal)
                .order_by(m.Ticket.id)
                .limit(self._batch)
            )
            return list(rows.scalars())

    async def _erase(self, ids: list[int], report: ErasureReport) -> None:
        """Erase one batch of tickets in one transaction; files go after it commits."""
        now = self._clock()
        async with self._sessions.begin() as session:
            tickets = (await session.execute(select(m.Ticket).where(m.Ticket.id.in_(ids)))).scalars().all()
            citizens = {t.citizen_id for t in tickets if t.citizen_id is not None}
            for t in tickets:
                t.citizen_id, t.flat = None, None
                t.title, t.description = mask_personal(t.title), mask_personal(t.description)
                t.extra = _erased_extra(t.extra or {}, now.isoformat())
                report.tickets.append(t.number)
            events = (await session.execute(select(m.TicketEvent).where(m.TicketEvent.ticket_id.in_(ids)))).scalars()
            for event in events:
                if event.note:
                    event.note = mask_personal(event.note)
            attachments = (
                (await session.execute(select(m.Attachment).where(m.Attachment.ticket_id.in_(ids)))).scalars().all()
            )
            paths = [a.path for a in attachments]
            for attachment in attachments:
                await session.delete(attachment)
            paths += await self._conversation_files(session, m.Call.ticket_id.in_(ids), report)
            calls = await session.execute(update(m.Call).where(m.Call.ticket_id.in_(ids)).values(caller=None, data={}))
            report.calls += _rows(calls)
            await self._erase_callbacks(session, ids)
            for citizen_id in citizens:
                report.citizens += await self._anonymise_citizen(session, citizen_id)
        report.files += await asyncio.to_thread(_remove_files, self._data_dir, paths)

    async def _conversation_files(self, session: AsyncSession, which: Any, report: ErasureReport) -> list[str]:
        """The WAV files of the conversations on the calls ``which`` selects (counted in the report);
        the caller deletes them after the rows are cleared."""
        rows = await session.execute(select(m.Call.data).where(which, _has_conversation()))
        paths: list[str] = []
        for (data,) in rows:
            if isinstance(data, dict) and CONVERSATION_KEY in data:
                report.conversations += 1
                paths += conversation_files(data)
        return paths

    async def _erase_unlinked_conversations(self, cutoff: datetime, report: ErasureReport) -> None:
        """Conversations on calls linked to no ticket, started before ``cutoff``: transcript and files."""
        last_id = 0
        while True:
            async with self._sessions.begin() as session:
                calls = (
                    (
                        await session.execute(
                            select(m.Call)
                            .where(
                                m.Call.ticket_id.is_(None),
                                m.Call.started_at < cutoff,
                                m.Call.id > last_id,
                                _has_conversation(),
                            )
                            .order_by(m.Call.id)
                            .limit(self._batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                paths: list[str] = []
                for call in calls:
                    last_id = call.id
                    if not isinstance(call.data, dict) or CONVERSATION_KEY not in call.data:
                        continue  # the word was elsewhere in the data: no conversation here
                    paths += conversation_files(call.data)
                    call.data = without_conversation(call.data)
                    report.conversations += 1
            report.files += await asyncio.to_thread(_remove_files, self._data_dir, paths)
            if len(calls) < self._batch:
                return

    async def _erase_unlinked_callers(self, cutoff: datetime, report: ErasureReport) -> None:
        """Calls linked to no ticket, started before ``cutoff``, forget who called (the row stays)."""
        async with self._sessions.begin() as session:
            calls = await session.execute(
                update(m.Call)
                .where(m.Call.ticket_id.is_(None), m.Call.started_at < cutoff, m.Call.caller.is_not(None))
                .values(caller=None)
            )
            report.calls += _rows(calls)

    async def _erase_callbacks(self, session: AsyncSession, ids: list[int]) -> None:
        covered = select(m.CallbackTicket.callback_id).where(m.CallbackTicket.ticket_id.in_(ids))
        await session.execute(
            update(m.Callback)
            .where(m.Callback.id.in_(covered), m.Callback.state.in_(FINAL_CALLBACK_STATES))
            .values(phone=ERASED)
        )

    async def _anonymise_citizen(self, session: AsyncSession, citizen_id: int) -> int:
        """Forget the citizen's phone, name and e-mail once no ticket of theirs keeps the link."""
        still_linked = (
            await session.execute(select(m.Ticket.id).where(m.Ticket.citizen_id == citizen_id).limit(1))
        ).first()
        if still_linked is not None:
            return 0
        citizen = await session.get(m.Citizen, citizen_id)
        if citizen is None or citizen.phone.startswith(ERASED):
            return 0
        # phone is unique and required (callbacks point at the row): a placeholder per citizen.
        citizen.phone, citizen.name, citizen.email = f"{ERASED}-{citizen_id}"[:20], None, None
        return 1


def _has_conversation() -> Any:
    """A cheap, dialect-neutral pre-filter (JSON text on both SQLite and PostgreSQL); rows it lets
    through are checked in Python, so a false match erases nothing."""
    return cast(m.Call.data, Text).like(f'%"{CONVERSATION_KEY}"%')


def _rows(result: object) -> int:
    """How many rows an UPDATE touched (a CursorResult; typed as the generic Result)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _erased_extra(extra: dict[str, object], when: str) -> dict[str, object]:
    kept = {k: v for k, v in extra.items() if k not in ("citizen", "contact", "email", "caller")}
    if isinstance(kept.get("public_summary"), str):
        kept["public_summary"] = mask_personal(str(kept["public_summary"]))
    kept["personal_data_erased_at"] = when
    return kept


def _remove_files(root: Path, relative_paths: list[str]) -> int:
    """Delete the files (only under the data folder); returns how many were removed."""
    base = root.resolve()
    removed = 0
    for relative in relative_paths:
        path = (base / relative).resolve()
        if base not in path.parents:
            logger.warning("retention: attachment path outside the data folder left alone: %s", relative)
            continue
        for candidate in (path, path.with_name(path.stem + ".thumb.jpg")):  # a photo's thumbnail beside it
            if candidate.is_file():
                candidate.unlink()
                removed += 1
    return removed
