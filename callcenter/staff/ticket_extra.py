"""A ticket's ``extra`` dict as staff read it: Russian labels and local times, internals left out.

``extra`` is where channels keep what they know beyond the ticket's fields (the portal's consent
and how the place was found, the IVR path, the speech draft, the Open311 client). Keys that
mean nothing to a person (call ids, device ids, API key ids) are not shown; a key this module
does not know is not shown either, so a new internal never leaks onto the page raw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.reference import ReferenceData

LOCATION_SOURCES = {
    "map": "отмечено заявителем на карте",
    "photo": "по координатам из фотографии",
    "address": "по адресу, который ввёл заявитель",
}


@dataclass(frozen=True)
class ExtraRow:
    label: str
    value: str


def extra_rows(
    extra: Mapping[str, Any] | None,
    zone: ZoneInfo,
    reference: ReferenceData,
    ivr_wording: Callable[[str | None], str] | None = None,
) -> list[ExtraRow]:
    """The rows the ticket page shows for ``extra``, in a stable order."""
    extra = extra or {}
    rows: list[ExtraRow] = []
    source = extra.get("location_source")
    if isinstance(source, str) and source:
        rows.append(ExtraRow("Место определено", LOCATION_SOURCES.get(source, "иначе")))
    consent = extra.get("consent_152fz")
    if isinstance(consent, Mapping):
        rows.append(ExtraRow("Согласие на обработку персональных данных", _consent(consent, zone)))
    path = extra.get("ivr_path")
    if isinstance(path, str) and path:
        rows.append(ExtraRow("Выбор в голосовом меню", ivr_wording(path) if ivr_wording else path))
    draft = extra.get("draft")
    if isinstance(draft, Mapping):
        rows.extend(_draft(draft, reference))
    transcript = extra.get("transcript")
    if isinstance(transcript, str) and transcript.strip():
        rows.append(ExtraRow("Расшифровка голосового сообщения", transcript.strip()))
    open311 = extra.get("open311")
    if isinstance(open311, Mapping):
        rows.extend(_open311(open311))
    return rows


def ivr_wording(reference: ReferenceData) -> Callable[[str | None], str]:
    """``1>water_leak>record`` -> «клавиша 1 → Порыв водопровода → голосовое сообщение»."""
    from callcenter.telephony.api import ivr_steps  # the one wording of IVR paths (board, pops)

    return lambda path: " → ".join(ivr_steps(path, reference))


def _local(value: Any, zone: ZoneInfo) -> str | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%d.%m.%Y %H:%M")


def _consent(consent: Mapping[str, Any], zone: ZoneInfo) -> str:
    when = _local(consent.get("at"), zone)
    text = "дано" + (f" {when}" if when else "")
    version = consent.get("text")
    return text + (f" (редакция текста согласия {version})" if version else "")


def _draft(draft: Mapping[str, Any], reference: ReferenceData) -> list[ExtraRow]:
    parts = []
    code = draft.get("category_code")
    if code:
        name = reference.category(code).name if reference.has_category(code) else draft.get("category_name") or code
        confidence = draft.get("confidence")
        sure = f" (уверенность {round(float(confidence) * 100)} %)" if isinstance(confidence, (int, float)) else ""
        parts.append(f"категория «{name}»{sure}")
    if draft.get("address"):
        parts.append(f"адрес «{draft['address']}»")
    return [ExtraRow("Распознавание предложило", "; ".join(parts))] if parts else []


def _open311(data: Mapping[str, Any]) -> list[ExtraRow]:
    rows = []
    if data.get("api_key"):
        rows.append(ExtraRow("Приложение (Open311)", str(data["api_key"])))
    if data.get("media_url"):
        rows.append(ExtraRow("Фото по ссылке приложения", str(data["media_url"])))
    return rows
