"""152-ФЗ: personal data of closed tickets are erased after the retention period (the ticket stays
for statistics), and a citizen's request erases everything under their number. Both audited."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from callcenter.accounts.audit import AuditActor, AuditLog, AuditQuery
from callcenter.domain.tickets import Status
from callcenter.services import Services
from callcenter.store import models as m
from callcenter.tickets.retention import PersonalDataEraser
from callcenter.tickets.schemas import TicketFilter
from tests.integration.test_callback_support import SUPERVISOR, build_rig, local

PHONE = "+79782001234"
NOTE = "Звонила Петрова Анна Сергеевна, тел. 8 978 200-12-34, кв. 12"


async def _closed(rig, phone: str, services: Services) -> str:  # type: ignore[no-untyped-def]
    ticket = await rig.done_ticket(phone)
    await rig.tickets.move(ticket.number, Status.CLOSED, SUPERVISOR, note=NOTE)
    await _attach_photo_and_call(services, ticket.id, phone)
    return ticket.number


async def _attach_photo_and_call(services: Services, ticket_id: int, phone: str) -> None:
    folder = Path(services.settings.data_dir) / "photos" / "2026" / "12"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{ticket_id:032x}"
    (folder / f"{name}.jpg").write_bytes(b"\xff\xd8face\xff\xd9")
    (folder / f"{name}.thumb.jpg").write_bytes(b"\xff\xd8thumb\xff\xd9")
    async with services.sessions.begin() as session:
        session.add(
            m.Attachment(ticket_id=ticket_id, kind="photo", path=f"photos/2026/12/{name}.jpg", mime="image/jpeg")
        )
        session.add(m.Call(linkedid=f"call-{ticket_id}", caller=phone, ticket_id=ticket_id))


async def _citizen(services: Services, number: str) -> tuple[m.Ticket, m.Citizen | None]:
    async with services.sessions() as session:
        ticket = (await session.execute(select(m.Ticket).where(m.Ticket.number == number))).scalar_one()
        citizen = await session.get(m.Citizen, ticket.citizen_id) if ticket.citizen_id else None
        return ticket, citizen


async def test_closed_tickets_lose_personal_data_after_the_period_and_stay_for_statistics(services: Services) -> None:
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    old = await _closed(rig, PHONE, services)
    rig.clock.advance(days=20)
    young = await _closed(rig, "+79782005555", services)
    open_one = (await rig.done_ticket("+79782006666")).number
    rig.clock.advance(days=11)
    audit = AuditLog(services.sessions)
    eraser = PersonalDataEraser(services.sessions, services.settings.data_dir, audit, clock=rig.clock, batch=1)
    report = await eraser.erase_expired(timedelta(days=30))
    assert report.tickets == [old] and report.files == 2 and report.citizens == 1 and report.calls == 1
    ticket, citizen = await _citizen(services, old)
    assert ticket.citizen_id is None and ticket.flat is None and ticket.status == "closed"
    assert ticket.category_code and ticket.address  # what statistics need is kept
    detail = await rig.tickets.detail(old)
    notes = " ".join(e.note or "" for e in detail.events)
    assert "200-12-34" not in notes and "Петрова Анна" not in notes
    assert detail.attachments == []
    assert not list((Path(services.settings.data_dir) / "photos").rglob(f"{ticket.id:032x}*"))
    async with services.sessions() as session:
        assert (await session.execute(select(m.Citizen).where(m.Citizen.phone == PHONE))).first() is None
        call = (await session.execute(select(m.Call).where(m.Call.ticket_id == ticket.id))).scalar_one()
        assert call.caller is None
    for kept in (young, open_one):
        assert (await _citizen(services, kept))[1] is not None
    stats = await rig.tickets.list(TicketFilter(statuses=(Status.CLOSED,)))
    assert old in [t.number for t in stats.rows]
    [event] = await audit.search(AuditQuery(action="retention_erased"))
    assert event.login == "system" and event.details["tickets"] == 1
    assert (await eraser.erase_expired(timedelta(days=30))).tickets == []  # idempotent


async def test_a_citizens_request_erases_every_ticket_and_call_under_the_number(services: Services) -> None:
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    closed = await _closed(rig, PHONE, services)
    still_open = (await rig.done_ticket(PHONE)).number
    other = await _closed(rig, "+79782007777", services)
    async with services.sessions.begin() as session:
        session.add(m.Call(linkedid="call-unlinked", caller=PHONE))
    audit = AuditLog(services.sessions)
    eraser = PersonalDataEraser(services.sessions, services.settings.data_dir, audit, clock=rig.clock)
    report = await eraser.erase_phone("8 978 200-12-34", AuditActor(None, "admin.ivanov", "admin", "command line"))
    assert sorted(report.tickets) == sorted([closed, still_open]) and report.citizens == 1 and report.calls == 2
    for number in (closed, still_open):
        assert (await _citizen(services, number))[1] is None
    assert (await _citizen(services, other))[1] is not None
    async with services.sessions() as session:
        assert (await session.execute(select(m.Call.id).where(m.Call.caller == PHONE))).first() is None
        assert (await session.execute(select(m.Callback.id).where(m.Callback.phone == PHONE))).first() is None
    [event] = await audit.search(AuditQuery(action="privacy_erased"))
    assert event.login == "admin.ivanov" and event.details["tickets"] == 2
    assert PHONE not in str(event.details) and "200-12-34" not in event.object_id


def test_the_admin_command_erases_on_request(tmp_path: Path) -> None:
    db = tmp_path / "cc.db"
    env = {"CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "CALLCENTER_DATA_DIR": str(tmp_path / "data")}
    run = [sys.executable, "-m", "callcenter.cli", "privacy", "erase", "--phone", "8 978 200-12-34", "--by", "ivanov"]
    import os

    done = subprocess.run(run, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Персональные данные удалены: заявок 0" in done.stdout
    bad = subprocess.run(
        [*run[:-4], "--phone", "не номер"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "не распознан" in bad.stdout


def _conversation(services: Services, linkedid: str) -> dict[str, object]:
    """A saved live conversation as callcenter/conversation keeps it, with its two WAV files on disk."""
    folder = Path(services.settings.data_dir) / "recordings" / "conversations"
    folder.mkdir(parents=True, exist_ok=True)
    names = {party: f"{linkedid}-{party}.wav" for party in ("caller", "operator")}
    for name in names.values():
        (folder / name).write_bytes(b"RIFF....WAVE")
    return {
        "started_at": "2026-12-01T10:00:00+00:00",
        "ended_at": "2026-12-01T10:02:00+00:00",
        "ended_by": "hangup",
        "operator_id": None,
        "interface": "PJSIP/101",
        "lines": [
            {"party": "caller", "speaker": "Абонент", "text": "меня зовут петрова анна", "at_seconds": 2.0},
            {"party": "operator", "speaker": "Оператор", "text": "записала ваш адрес", "at_seconds": 6.5},
        ],
        "recordings": names,
    }


def _wavs(services: Services, linkedid: str) -> list[Path]:
    return sorted((Path(services.settings.data_dir) / "recordings" / "conversations").glob(f"{linkedid}-*.wav"))


async def _call_data(services: Services, linkedid: str) -> dict[str, object]:
    async with services.sessions() as session:
        return (await session.execute(select(m.Call.data).where(m.Call.linkedid == linkedid))).scalar_one()


async def test_expiry_erases_conversation_transcripts_and_their_recordings(services: Services) -> None:
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    old = await _closed(rig, PHONE, services)
    ticket, _ = await _citizen(services, old)
    start = rig.clock()
    async with services.sessions.begin() as session:
        call = (await session.execute(select(m.Call).where(m.Call.ticket_id == ticket.id))).scalar_one()
        call.data = {"conversation": _conversation(services, "linked")}
        # Conversations whose call made no ticket: an old one, a young one, and an old call without one.
        session.add(
            m.Call(
                linkedid="old-talk",
                caller="+79782008888",
                started_at=start,
                data={"ivr_path": "1", "conversation": _conversation(services, "old-talk")},
            )
        )
        session.add(
            m.Call(
                linkedid="old-plain",
                caller="+79782008889",
                started_at=start,
                data={"ivr_path": "2", "note": "conversation"},
            )
        )
        session.add(
            m.Call(
                linkedid="young-talk",
                caller="+79782008890",
                started_at=start + timedelta(days=25),
                data={"conversation": _conversation(services, "young-talk")},
            )
        )
    rig.clock.advance(days=31)
    audit = AuditLog(services.sessions)
    eraser = PersonalDataEraser(services.sessions, services.settings.data_dir, audit, clock=rig.clock, batch=1)
    report = await eraser.erase_expired(timedelta(days=30))
    assert report.tickets == [old] and report.conversations == 2
    assert report.files == 2 + 4  # the photo and its thumbnail, two WAVs per conversation
    assert _wavs(services, "linked") == [] and _wavs(services, "old-talk") == []
    assert "conversation" not in await _call_data(services, f"call-{ticket.id}")
    assert await _call_data(services, "old-talk") == {"ivr_path": "1"}  # the call stays for the board
    assert await _call_data(services, "old-plain") == {"ivr_path": "2", "note": "conversation"}
    assert "conversation" in await _call_data(services, "young-talk") and len(_wavs(services, "young-talk")) == 2
    [event] = await audit.search(AuditQuery(action="retention_erased"))
    assert event.details["conversations"] == 2
    again = await eraser.erase_expired(timedelta(days=30))
    assert again.conversations == 0 and again.files == 0


async def test_a_citizens_request_erases_their_conversations_and_recordings(services: Services) -> None:
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    closed = await _closed(rig, "+79782009999", services)  # the citizen's ticket, called from elsewhere
    ticket, _ = await _citizen(services, closed)
    async with services.sessions.begin() as session:
        call = (await session.execute(select(m.Call).where(m.Call.ticket_id == ticket.id))).scalar_one()
        call.data = {"conversation": _conversation(services, "linked-theirs")}
        session.add(m.Call(linkedid="theirs", caller=PHONE, data={"conversation": _conversation(services, "theirs")}))
        session.add(
            m.Call(linkedid="others", caller="+79782001111", data={"conversation": _conversation(services, "others")})
        )
    eraser = PersonalDataEraser(services.sessions, services.settings.data_dir, AuditLog(services.sessions))
    actor = AuditActor(None, "admin.ivanov", "admin", "command line")
    report = await eraser.erase_phone(PHONE, actor)
    assert report.conversations == 1 and _wavs(services, "theirs") == []
    assert await _call_data(services, "theirs") == {}
    assert len(_wavs(services, "others")) == 2 and "conversation" in await _call_data(services, "others")
    report = await eraser.erase_phone("+79782009999", actor)
    assert report.conversations == 1 and _wavs(services, "linked-theirs") == []


async def _callers(services: Services) -> dict[str, str | None]:
    async with services.sessions() as session:
        return {linkedid: caller for linkedid, caller in await session.execute(select(m.Call.linkedid, m.Call.caller))}


async def test_expiry_forgets_the_caller_of_calls_that_made_no_ticket(services: Services) -> None:
    """A call that made no ticket kept the caller's number for ever (only a request erased it)."""
    rig = build_rig(services, start=local(2026, 12, 1, 12, 0))
    start = rig.clock()
    async with services.sessions.begin() as session:
        session.add(m.Call(linkedid="old-missed", caller="+79782007777", started_at=start, abandoned=True))
        session.add(m.Call(linkedid="young", caller="+79782007778", started_at=start + timedelta(days=25)))
    rig.clock.advance(days=31)
    audit = AuditLog(services.sessions)
    eraser = PersonalDataEraser(services.sessions, services.settings.data_dir, audit, clock=rig.clock)
    report = await eraser.erase_expired(timedelta(days=30))
    assert report.calls == 1 and report.tickets == []
    callers = await _callers(services)
    assert callers["old-missed"] is None and callers["young"] == "+79782007778"
    [event] = await audit.search(AuditQuery(action="retention_erased"))
    assert event.details["calls"] == 1
    assert (await eraser.erase_expired(timedelta(days=30))).calls == 0
