"""The citizen's request form: the values as typed, and their checks (pure, no I/O).

A form that fails comes back with every value as it was typed and one Russian message by
each field at fault, so nothing is lost and the citizen sees what to fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callcenter.domain.errors import DomainError
from callcenter.domain.notifications import check_email
from callcenter.domain.phones import normalize_phone
from callcenter.portal.geo import in_city
from callcenter.reference import ReferenceData

MAX_DESCRIPTION = 4000
MIN_DESCRIPTION = 10
MAX_ADDRESS = 300
MAX_NAME = 200
HONEYPOT_FIELD = "website"  # hidden from people; bots fill every field they find


@dataclass
class PortalForm:
    """What the citizen typed, kept as strings so it can be shown again unchanged."""

    category: str = ""
    address: str = ""
    lat: str = ""
    lon: str = ""
    description: str = ""
    name: str = ""
    phone: str = ""
    consent: bool = False
    email: str = ""
    notify: bool = False  # consent to messages about the request (e-mail if given, SMS to the phone)
    upload_token: str = ""
    kept_photos: list[str] = field(default_factory=list)
    honeypot: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> PortalForm:
        """Build from a MultiDict of form fields (unknown fields are ignored)."""

        def text(name: str, limit: int = 5000) -> str:
            value = fields.get(name, "")
            # NUL is never typed by a person and PostgreSQL refuses it in text: drop it, keep the rest.
            return str(value).replace("\r\n", "\n").replace("\x00", "").strip()[:limit]

        getall = getattr(fields, "getall", None)
        kept = [str(v) for v in getall("kept_photo", [])] if getall else []
        return cls(
            category=text("category", 64),
            address=text("address", 1000),
            lat=text("lat", 40),
            lon=text("lon", 40),
            description=text("description", 20000),
            name=text("name", 1000),
            phone=text("phone", 100),
            consent=text("consent", 10) in ("on", "1", "yes", "true"),
            email=text("email", 300),
            notify=text("notify", 10) in ("on", "1", "yes", "true"),
            upload_token=text("upload_token", 100),
            kept_photos=kept[:20],
            honeypot=text(HONEYPOT_FIELD, 500),
        )


@dataclass(frozen=True)
class CheckedForm:
    """A form whose fields passed their own checks (the location is resolved later)."""

    category: str
    address: str
    point: tuple[float, float] | None
    description: str
    name: str | None
    phone: str
    email: str | None = None
    notify: bool = False


def check_form(
    form: PortalForm, reference: ReferenceData, *, photo_location: bool = False
) -> tuple[CheckedForm | None, dict[str, str]]:
    """Check every field; return the clean values, or None with a message per bad field.

    ``photo_location``: an attached photo carries a GPS position in the city, which may
    stand for the address.
    """
    errors: dict[str, str] = {}
    if not form.category:
        errors["category"] = "Выберите, что случилось"
    elif not reference.has_category(form.category):
        errors["category"] = "Такой темы нет в списке: выберите тему из списка"
    point = _check_point(form, errors)
    if len(form.address) > MAX_ADDRESS:
        errors["address"] = f"Адрес слишком длинный: не более {MAX_ADDRESS} знаков"
    elif not form.address and point is None and not photo_location and "point" not in errors:
        errors["address"] = "Укажите адрес или отметьте место на карте"
    _check_description(form.description, errors)
    if len(form.name) > MAX_NAME:
        errors["name"] = f"Имя слишком длинное: не более {MAX_NAME} знаков"
    phone = _check_phone(form.phone, errors)
    email = _check_email(form.email, errors)
    if not form.consent:
        errors["consent"] = (
            "Без согласия на обработку персональных данных (152-ФЗ) обращение не может быть принято: отметьте согласие"
        )
    if errors or phone is None:
        return None, errors
    checked = CheckedForm(
        form.category, form.address, point, form.description, form.name or None, phone, email, form.notify
    )
    return checked, errors


def _check_email(raw: str, errors: dict[str, str]) -> str | None:
    if not raw:
        return None
    try:
        return check_email(raw)
    except DomainError as err:
        errors["email"] = err.message
        return None


def _check_point(form: PortalForm, errors: dict[str, str]) -> tuple[float, float] | None:
    if not form.lat and not form.lon:
        return None
    try:
        lat, lon = float(form.lat.replace(",", ".")), float(form.lon.replace(",", "."))
    except ValueError:
        errors["point"] = "Место на карте не распознано: отметьте его на карте ещё раз"
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or not in_city(lat, lon):
        errors["point"] = "Отмеченное место вне Севастополя: отметьте место на карте города"
        return None
    return lat, lon


def _check_description(text: str, errors: dict[str, str]) -> None:
    if not text:
        errors["description"] = "Опишите проблему"
    elif len(text) < MIN_DESCRIPTION:
        errors["description"] = f"Опишите проблему подробнее: хотя бы {MIN_DESCRIPTION} знаков"
    elif len(text) > MAX_DESCRIPTION:
        errors["description"] = f"Описание слишком длинное: не более {MAX_DESCRIPTION} знаков (сейчас {len(text)})"


def _check_phone(raw: str, errors: dict[str, str]) -> str | None:
    if not raw:
        errors["phone"] = "Укажите телефон: по нему сообщат о выполнении и уточнят детали"
        return None
    try:
        return normalize_phone(raw)
    except DomainError as err:
        errors["phone"] = err.message
        return None
