"""Masking personal data in free text that is about to be published (Open311, public pages).

This is the second line of defence: public texts come from a field that is public by
construction (``PUBLIC_SUMMARY``: the citizen's own words from the portal or a partner
application, masked here when the ticket is made; operators' notes are never published).
The patterns follow how people in Sevastopol actually write in a form or a phone note:

- phones: ``+7 978 123-45-67``, ``8(978)1234567``, ``978 123 45 67``, ``79781234567``,
  glued to a word (``тел8978…``, ``т.89781234567``), landlines with the city code
  (``8 (8692) 55-12-34``) and without (``55-12-34``, ``тел 551234``);
- e-mail addresses (``olga@example.ru``, ``olga (at) mail.ru`` is left: not an address);
- flats and offices: ``кв. 12``, ``кв12``, ``квартира № 12``, ``оф. 3``, ``офис 3а``,
  ``комн. 4``, and the house-flat shorthand ``Ленина 5-12`` / ``д. 5-12``;
- names: ``Иванов И.И.``, ``И. И. Иванов``, a full name with a patronymic
  (``Петров Иван Сергеевич``), and the words after ``меня зовут`` / ``ФИО``.
Each is replaced by a bracketed Russian word saying what was hidden.
"""

from __future__ import annotations

import re
from typing import Any

from callcenter.domain.tickets import Role

PUBLIC_SUMMARY = "public_summary"  # key of Ticket.extra holding the text that may be published
# Who confirmed the public summary of a ticket, and when (staff tickets: phone, walk-in, IVR).
PUBLIC_SUMMARY_CONFIRMED = "public_summary_confirmed"
MAX_PUBLIC_SUMMARY = 2000
# Who may write or confirm a ticket's public summary (docs/open311.md, "Public texts"): those who
# take calls and edit tickets. Executors and analysts may not publish.
PUBLISHER_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})

PHONE = "[телефон скрыт]"
EMAIL = "[e-mail скрыт]"
HIDDEN = "[скрыто]"
NAME = "[имя скрыто]"

_SEP = r"[\s\-‐–—.()]{0,3}"
# Ten or more digits with the separators people use, not inside a longer number: every Russian
# mobile or long-distance number, with or without +7 / 8 / 7. Preceded by anything, even a letter.
_LONG_NUMBER = re.compile(rf"(?<![\d])(?:\+\s?)?\d(?:{_SEP}\d){{9,14}}(?![\d])")
# A local landline: 55-12-34, 5-12-34, 551-23-45, 123-45-67 (separators required: bare six
# digits are a phone only after a phone word, below).
_LANDLINE = re.compile(r"(?<![\d\-/.,])\d{1,3}[\-‐–\s]\d{2}[\-‐–\s]\d{2}(?![\d\-/])")
_PHONE_WORD = re.compile(
    r"(?i)(?<![а-яёa-z])(тел(?:ефон[а-яё]*)?|т|моб(?:ильн[а-яё]*)?|сот(?:ов[а-яё]*)?|номер|звонить|звоните|"
    r"phone|tel)\.?\s*[:№]?\s*(\+?[\d][\d\s\-‐–()]{4,}\d)"
)
_EMAIL = re.compile(r"(?i)[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_FLAT = re.compile(
    r"(?i)(?<![а-яё])(кв|квартир[а-яё]*|оф|офис[а-яё]*|комн|комнат[а-яё]*|пом|помещени[а-яё]*)"
    r"\.?\s*№?\s*\d+[а-яё]?(?![\dа-яё])"
)
_STREET = r"(?:ул|улица|пр|просп|проспект|пер|переулок|ш|шоссе|б-р|бульвар|пл|площадь|наб|набережная|туп|тупик)"
_HOUSE_FLAT = re.compile(
    rf"((?:(?<![а-яё])(?:д|дом)\.?\s*|(?<![а-яё]){_STREET}\.?\s*(?:[А-ЯЁ0-9][а-яё0-9\-]*\s*){{1,3}},?\s*)"
    r"\d{1,3}[а-яё]?)[\-‐–](\d{1,4})(?![\d\-/.])",
    re.IGNORECASE,
)
_PATRONYMIC = r"[А-ЯЁ][а-яё]+(?:ович|евич|ич|овна|евна|ична|инична)"
_FULL_NAME = re.compile(
    rf"(?:[А-ЯЁ][а-яё]+\s+){{1,2}}{_PATRONYMIC}(?:\s+[А-ЯЁ][а-яё]+(?:ов|ев|ин|ын|ий|ая|ова|ева|ина|ына|ко|ук|юк))?"
)
_INITIALS = re.compile(r"[А-ЯЁ][а-яё]+\s+[А-ЯЁ]\.\s?[А-ЯЁ]\.?|[А-ЯЁ]\.\s?[А-ЯЁ]\.\s?[А-ЯЁ][а-яё]+")
_INTRODUCED = re.compile(
    r"((?i:меня зовут|фио|зовут|заявитель|заявительница|обращается|жилец|жительница|житель)"
    r"\s*[:\-–]?\s*)([А-ЯЁ][а-яё]+(?:\s+[А-ЯЁ][а-яё]+){0,2})"
)


def _flat(match: re.Match[str]) -> str:
    word = match.group(1)
    return f"{word}{'.' if word.lower() in ('кв', 'оф', 'комн', 'пом') else ''} {HIDDEN}"


def mask_personal(text: str | None) -> str:
    """``text`` with phones, e-mails, flats and names replaced; the rest as written."""
    if not text:
        return ""
    out = _EMAIL.sub(EMAIL, text)
    out = _PHONE_WORD.sub(lambda mt: mt.group(0)[: mt.start(2) - mt.start(0)] + PHONE, out)
    out = _LONG_NUMBER.sub(PHONE, out)
    out = _LANDLINE.sub(PHONE, out)
    out = _FLAT.sub(_flat, out)
    out = _HOUSE_FLAT.sub(lambda mt: f"{mt.group(1)}, кв. {HIDDEN}", out)
    out = _INTRODUCED.sub(lambda mt: mt.group(1) + NAME, out)
    out = _FULL_NAME.sub(NAME, out)
    out = _INITIALS.sub(NAME, out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def public_text(extra: dict[str, Any] | None, fallback: str | None) -> str | None:
    """The text a public view (Open311, tracking) may show for a ticket: only its public summary
    (the citizen's own words from the portal or a partner application, or what an operator
    confirmed on the ticket page), masked once more; else ``fallback`` (the category's name).
    The description an operator typed from a call is never published."""
    summary = (extra or {}).get(PUBLIC_SUMMARY)
    if isinstance(summary, str) and summary.strip():
        return mask_personal(summary)
    return fallback
