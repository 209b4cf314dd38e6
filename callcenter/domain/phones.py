"""Normalisation of Russian phone numbers as citizens and Asterisk spell them.

Citizens write 8 978 123-45-67, +7(978)1234567 or just 978 123 45 67; Asterisk
may hand us +79781234567 or 89781234567. Everything is stored as E.164 (+7...).
"""

from __future__ import annotations

import phonenumbers

from callcenter.domain.errors import DomainError

DEFAULT_REGION = "RU"


class InvalidPhone(DomainError):
    """A phone number that cannot be a reachable Russian (or international) number."""

    code = "invalid_phone"

    def __init__(self, raw: str) -> None:
        super().__init__(
            f"Номер телефона «{raw}» не распознан: укажите его как 8 978 123-45-67 или +7 978 123-45-67",
            details={"raw": raw},
        )


def normalize_phone(raw: str) -> str:
    """Return the number in E.164 form (``+79781234567``) or raise InvalidPhone."""
    text = (raw or "").strip()
    if not text or len(text) > 40:
        raise InvalidPhone(raw)
    digits = "".join(ch for ch in text if ch.isdigit())
    # A bare ten-digit number starting with 9 is a Russian mobile without its prefix
    # ("978 123 45 67"); phonenumbers would otherwise read it as a local number.
    if not text.startswith("+") and len(digits) == 10 and digits[0] in "3489":
        text = "+7" + digits
    elif not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    try:
        parsed = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as err:
        raise InvalidPhone(raw) from err
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str | None) -> str | None:
    """Normalise when possible; None for withheld or unusable caller ids."""
    if not raw:
        return None
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def format_phone(e164: str) -> str:
    """Human form for staff pages: +7 978 123-45-67."""
    try:
        parsed = phonenumbers.parse(e164, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_phone(e164: str) -> str:
    """A number with the subscriber digits hidden but the last two: +7 978 ***-**-67 (analysts' view)."""
    shown = format_phone(e164)
    total = sum(ch.isdigit() for ch in shown)
    keep_head = 4 if shown.startswith("+7") else 2  # the country and operator codes
    out, seen = [], 0
    for ch in shown:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep_head or seen > total - 2 else "*")
        else:
            out.append(ch)
    return "".join(out)


def last_digits(e164: str, count: int = 4) -> str:
    """The last digits a citizen types to prove a ticket is theirs."""
    return "".join(ch for ch in e164 if ch.isdigit())[-count:]
