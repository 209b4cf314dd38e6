"""A saved conversation transcript (``calls.data["conversation"]``), read for people and for erasure.

The live conversation feature keeps, on the call's row::

    {"started_at": iso, "ended_at": iso, "ended_by": "hangup", "operator_id": 7, "interface": "...",
     "lines": [{"party": "caller", "speaker": "Абонент", "text": "...", "at_seconds": 3.2}, ...],
     "recordings": {"caller": "<linkedid>-caller.wav", "operator": "<linkedid>-operator.wav"}}

:func:`read_conversation` turns that into a dialogue with each line's moment (UTC; pages show it in
local time); :func:`conversation_files` names its WAV files under the data folder, for the
retention job. Both take whatever is stored and never raise on a damaged record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CONVERSATION_KEY = "conversation"
RECORDINGS_FOLDER = "recordings/conversations"  # under the data folder
PARTIES = ("caller", "operator")
SPEAKERS = {"caller": "Абонент", "operator": "Оператор"}
ENDED_BY = {
    "hangup": "положили трубку",
    "agent_complete": "оператор завершил разговор",
    "shutdown": "остановка сервера",
}
_FILE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,80}\.wav$")


@dataclass(frozen=True)
class DialogueLine:
    party: str  # "caller" or "operator"
    speaker: str  # «Абонент» / «Оператор»
    text: str
    at: datetime | None  # when it was said (UTC), None if the record has no start


@dataclass(frozen=True)
class Dialogue:
    started_at: datetime | None
    ended_at: datetime | None
    ended_by: str  # in Russian
    lines: tuple[DialogueLine, ...]
    recordings: tuple[str, ...]  # the parties whose recording was kept, caller first


def read_conversation(data: Any) -> Dialogue | None:
    """The conversation kept in a call's ``data``; None if there is none (or it is unreadable)."""
    record = data.get(CONVERSATION_KEY) if isinstance(data, dict) else None
    if not isinstance(record, dict):
        return None
    started = _moment(record.get("started_at"))
    lines = []
    for raw in record.get("lines") or ():
        if not isinstance(raw, dict) or not str(raw.get("text") or "").strip():
            continue
        party = str(raw.get("party") or "")
        offset = raw.get("at_seconds")
        at = None
        if started is not None and isinstance(offset, int | float) and 0 <= offset < 10**6:
            at = started + timedelta(seconds=float(offset))
        speaker = SPEAKERS.get(party) or str(raw.get("speaker") or "Неизвестно")
        lines.append(DialogueLine(party, speaker, str(raw["text"]).strip(), at))
    recordings = tuple(p for p in PARTIES if _file_name(_recordings(record).get(p)))
    reason = str(record.get("ended_by") or "")
    return Dialogue(started, _moment(record.get("ended_at")), ENDED_BY.get(reason, reason), tuple(lines), recordings)


def recording_path(data: Any, party: str) -> str | None:
    """The WAV of ``party`` relative to the data folder, or None (no such recording, or a bad name)."""
    record = data.get(CONVERSATION_KEY) if isinstance(data, dict) else None
    if not isinstance(record, dict) or party not in PARTIES:
        return None
    name = _file_name(_recordings(record).get(party))
    return f"{RECORDINGS_FOLDER}/{name}" if name else None


def conversation_files(data: Any) -> list[str]:
    """Every WAV file of the conversation in ``data``, relative to the data folder."""
    return [path for party in PARTIES if (path := recording_path(data, party)) is not None]


def without_conversation(data: Any) -> dict[str, Any]:
    """``data`` with its conversation removed (the rest of the call's facts stay)."""
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k != CONVERSATION_KEY}


def _recordings(record: dict[str, Any]) -> dict[str, Any]:
    recordings = record.get("recordings")
    return recordings if isinstance(recordings, dict) else {}


def _file_name(value: Any) -> str | None:
    """A plain file name as the feature writes it; anything with a folder in it is refused."""
    return value if isinstance(value, str) and _FILE_NAME.match(value) and ".." not in value else None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
