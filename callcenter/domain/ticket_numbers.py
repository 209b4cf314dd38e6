"""Ticket numbers a citizen can say on the phone and type on a keypad.

Digits only: two digits of the year, then a counter of at least five digits
(``2600042``). 50,000 requests a year fit in five digits; the counter simply grows
longer past 99,999, so a number never repeats. The store hands out the counter
atomically; this module only formats and checks.
"""

from __future__ import annotations

import re

from callcenter.domain.errors import ValidationError

_NUMBER = re.compile(r"^\d{7,12}$")


def format_ticket_number(year: int, sequence: int) -> str:
    if sequence < 1:
        raise ValueError("sequence starts at 1")
    return f"{year % 100:02d}{sequence:05d}"


def clean_ticket_number(raw: str) -> str:
    """Accept what people type ("26-00042", "№ 2600042") and return the digits."""
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    if not _NUMBER.match(digits):
        raise ValidationError("Номер заявки состоит из 7 и более цифр, например 2600042", field="number")
    return digits


def spoken_groups(number: str) -> str:
    """Group digits for reading aloud and printing: 26 000 42."""
    return f"{number[:2]} {number[2:-2]} {number[-2:]}"
