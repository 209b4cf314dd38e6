"""The ticket page's extra facts: Russian labels and local times, never raw keys or internals."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from callcenter.reference import load_reference
from callcenter.staff.ticket_extra import extra_rows, ivr_wording

ZONE = ZoneInfo("Europe/Simferopol")


def test_portal_facts_are_worded_with_local_time() -> None:
    rows = extra_rows(
        {"location_source": "map", "consent_152fz": {"at": "2026-12-05T21:30:00+00:00", "text": "2026-11"}},
        ZONE,
        load_reference(),
    )
    assert [(r.label, r.value) for r in rows] == [
        ("Место определено", "отмечено заявителем на карте"),
        ("Согласие на обработку персональных данных", "дано 06.12.2026 00:30 (редакция текста согласия 2026-11)"),
    ]


def test_voice_report_facts_and_hidden_internals() -> None:
    reference = load_reference()
    extra = {
        "ivr_path": "1>water_leak>record",
        "call_uniqueid": "1733400000.42",
        "linkedid": "x",
        "draft": {"category_code": "water_leak", "confidence": 0.8, "address": "ул. Ленина, д. 5"},
        "transcript": "течёт труба",
        "something_internal": {"a": 1},
    }
    rows = {r.label: r.value for r in extra_rows(extra, ZONE, reference, ivr_wording(reference))}
    assert rows == {
        "Выбор в голосовом меню": "клавиша 1 → Порыв водопровода → голосовое сообщение",
        "Распознавание предложило": "категория «Порыв водопровода» (уверенность 80 %); адрес «ул. Ленина, д. 5»",
        "Расшифровка голосового сообщения": "течёт труба",
    }
    text = repr(rows)
    for internal in ("1733400000.42", "something_internal", "call_uniqueid", "water_leak"):
        assert internal not in text


def test_open311_client_is_named_and_its_ids_are_not_shown() -> None:
    rows = extra_rows(
        {
            "open311": {
                "api_key": "Городской помощник",
                "attributes": {},
                "media_url": None,
                "device_id": "dev-1",
                "account_id": "acc-9",
            }
        },
        ZONE,
        load_reference(),
    )
    assert [(r.label, r.value) for r in rows] == [("Приложение (Open311)", "Городской помощник")]
