"""A kept live conversation on a call's row, as callcenter/conversation saves it, with two real
(short) WAV files under the data folder: for the pages, the recording route and retention tests."""

from __future__ import annotations

import math
import struct
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.services import Services
from callcenter.store import models as m

CALLER_SAYS = "у нас во дворе прорвало трубу"
OPERATOR_SAYS = "записала ваш адрес бригада выедет сегодня"


def write_wav(path: Path, seconds: float = 1.0, tone: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * tone * i / 8000))) for i in range(int(8000 * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(frames)


def conversation_record(services: Services, linkedid: str, started_at: datetime) -> dict[str, Any]:
    folder = Path(services.settings.data_dir) / "recordings" / "conversations"
    names = {party: f"{linkedid}-{party}.wav" for party in ("caller", "operator")}
    for party, name in names.items():
        write_wav(folder / name, tone=440.0 if party == "caller" else 660.0)
    return {
        "started_at": started_at.isoformat(),
        "ended_at": (started_at + timedelta(seconds=40)).isoformat(),
        "ended_by": "hangup",
        "operator_id": None,
        "interface": "Local/op1@operators",
        "lines": [
            {"party": "caller", "speaker": "Абонент", "text": CALLER_SAYS, "at_seconds": 2.5},
            {"party": "operator", "speaker": "Оператор", "text": OPERATOR_SAYS, "at_seconds": 9.0},
        ],
        "recordings": names,
    }


async def add_call_with_conversation(
    services: Services, linkedid: str, *, ticket_id: int | None, caller: str = "+79781234567"
) -> datetime:
    """The call row (answered 5 minutes ago) with its conversation; returns when the talk began."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    async with services.sessions.begin() as session:
        session.add(
            m.Call(
                linkedid=linkedid,
                caller=caller,
                started_at=started,
                answered_at=started,
                ended_at=started + timedelta(seconds=40),
                ticket_id=ticket_id,
                data={"conversation": conversation_record(services, linkedid, started)},
            )
        )
    return started
