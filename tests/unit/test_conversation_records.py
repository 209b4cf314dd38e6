"""Reading a kept conversation (calls.data["conversation"]) for pages and for erasure: whatever is
stored, never an exception, never a file outside recordings/conversations/."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain.conversations import (
    conversation_files,
    read_conversation,
    recording_path,
    without_conversation,
)

RECORD = {
    "started_at": "2026-12-06T09:00:00+00:00",
    "ended_at": "2026-12-06T09:01:00+00:00",
    "ended_by": "agent_complete",
    "lines": [
        {"party": "caller", "speaker": "Абонент", "text": " нет воды ", "at_seconds": 3.5},
        {"party": "operator", "speaker": "Оператор", "text": "уточните адрес", "at_seconds": 7},
        {"party": "caller", "text": "   "},
        "not a line",
    ],
    "recordings": {"caller": "17650.1-caller.wav", "operator": "17650.1-operator.wav"},
}


def test_a_kept_conversation_reads_as_a_dialogue_with_moments() -> None:
    dialogue = read_conversation({"ivr_path": "1", "conversation": RECORD})
    assert dialogue is not None
    assert [(line.speaker, line.text) for line in dialogue.lines] == [
        ("Абонент", "нет воды"),
        ("Оператор", "уточните адрес"),
    ]
    assert dialogue.lines[0].at == datetime(2026, 12, 6, 9, 0, 3, 500000, tzinfo=UTC)
    assert dialogue.ended_by == "оператор завершил разговор" and dialogue.recordings == ("caller", "operator")
    assert conversation_files({"conversation": RECORD}) == [
        "recordings/conversations/17650.1-caller.wav",
        "recordings/conversations/17650.1-operator.wav",
    ]
    assert without_conversation({"ivr_path": "1", "conversation": RECORD}) == {"ivr_path": "1"}


def test_damaged_records_read_as_far_as_they_go() -> None:
    assert read_conversation({}) is None and read_conversation(None) is None
    assert read_conversation({"conversation": "text"}) is None
    broken = read_conversation({"conversation": {"started_at": "yesterday", "lines": [{"party": "x", "text": "a"}]}})
    assert broken is not None and broken.lines[0].at is None and broken.lines[0].speaker == "Неизвестно"
    assert broken.recordings == () and conversation_files({"conversation": {"recordings": ["a.wav"]}}) == []


def test_a_recording_name_with_a_folder_in_it_is_never_a_path() -> None:
    for name in ("../../secret.wav", "/etc/passwd.wav", "a/b.wav", "..wav", "x.mp3", "", 5):
        data = {"conversation": {"recordings": {"caller": name}}}
        assert recording_path(data, "caller") is None and conversation_files(data) == []
    assert recording_path({"conversation": RECORD}, "supervisor") is None
