"""The citizens' portal service: photos in, location resolved, ticket created through TicketService.

Pillow and the geocoder are CPU work and file moves are blocking I/O, so they run in this
service's own small thread pool (bounded, so a burst of uploads cannot take every core
from the event loop's other work).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.config import Settings
from callcenter.domain.errors import DomainError
from callcenter.domain.notifications import CONSENT_KEY, consent_record
from callcenter.domain.privacy import PUBLIC_SUMMARY, mask_personal
from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.portal.duplicates import DuplicateFinder
from callcenter.portal.form import CheckedForm, PortalForm, check_form
from callcenter.portal.geo import haversine_m, in_city
from callcenter.portal.photos import CleanPhoto, PhotoDecoder
from callcenter.portal.uploads import PendingPhoto, PhotoStore, StoredPhoto
from callcenter.reference import Gazetteer, GeocodeResult, ReferenceData
from callcenter.store import models as m
from callcenter.store.db import is_sqlite
from callcenter.tickets.schemas import NewTicket, TicketView
from callcenter.tickets.service import TicketService

logger = logging.getLogger(__name__)

T = TypeVar("T")
PORTAL_ACTOR = Actor(role=Role.CITIZEN, name="Портал")
# A map point farther than this from every street centre gets no "near street" hint.
NEAREST_STREET_M = 1500.0
CONSENT_TEXT_VERSION = "2026-11"


@dataclass(frozen=True)
class Upload:
    """A file as it came in the request (the bytes, or None when it was refused while reading)."""

    name: str
    data: bytes | None
    error: str | None = None


@dataclass
class UploadOutcome:
    token: str
    accepted: list[PendingPhoto] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class FormInvalid(DomainError):
    """The form has errors; ``errors`` maps each field to its message."""

    code = "form_invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Проверьте поля, отмеченные красным", details={"fields": errors})
        self.errors = errors


@dataclass(frozen=True)
class Location:
    lat: float | None
    lon: float | None
    street: str | None
    house: str | None
    flat: str | None
    district: str | None
    address: str
    source: str  # map, photo, address


class PortalService:
    """Uploads, location and ticket creation for the portal (one per app)."""

    def __init__(
        self,
        settings: Settings,
        tickets: TicketService,
        sessions: async_sessionmaker[AsyncSession],
        reference: ReferenceData,
        gazetteer: Gazetteer,
        photos: PhotoDecoder,
        *,
        workers: int = 2,
    ) -> None:
        self.settings = settings
        self.tickets = tickets
        self.sessions = sessions
        self.reference = reference
        self.gazetteer = gazetteer
        self.photos = photos
        self.limits = photos.limits
        self.store = PhotoStore(settings.data_dir, settings.max_photos)
        self.duplicates = DuplicateFinder(sessions, reference)
        # SQLite admits one writer at a time; waiting here, in order, beats waiting in its busy
        # handler, whose sleeps grow to 100 ms (at 8 concurrent forms p99 fell from ~900 to ~100 ms).
        # PostgreSQL writes in parallel, so there the lock is a no-op.
        self._writes: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if is_sqlite(settings.database_url) else contextlib.nullcontext()
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portal")

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking or CPU work in the portal's pool."""
        call = functools.partial(func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.shutdown, True)

    async def decode(self, name: str, data: bytes) -> CleanPhoto:
        """Check and re-encode one photo in the app's photo decoder (its own small pool: at most
        DECODE_WORKERS photos held decoded at once, app-wide; file I/O and geocoding keep theirs)."""
        return await self.photos.clean(name, data)

    # ------------------------------------------------------------------ photos

    async def accept_uploads(self, token: str | None, uploads: list[Upload]) -> UploadOutcome:
        """Check each file and keep the good ones under ``token`` (a new token if none is given)."""
        outcome = UploadOutcome(token=token if self.store.is_token(token) else self.store.new_token())
        for upload in uploads:
            if upload.error or upload.data is None:
                outcome.errors.append(upload.error or f"Файл «{upload.name}» не получен")
                continue
            try:
                clean = await self.decode(upload.name, upload.data)
                outcome.accepted.append(await self.run(self.store.add_pending, outcome.token, upload.name, clean))
            except DomainError as err:
                outcome.errors.append(err.message)
        return outcome

    async def pending(self, token: str | None) -> list[PendingPhoto]:
        return await self.run(self.store.pending, token)

    async def remove_pending(self, token: str, photo_id: str) -> bool:
        return await self.run(self.store.remove_pending, token, photo_id)

    async def public_photo(self, attachment_id: int) -> tuple[int, str] | None:
        """(id, path) of a public photo attachment, or None."""
        async with self.sessions() as session:
            row = await session.get(m.Attachment, attachment_id)
        if row is None or row.kind != "photo" or not row.public:
            return None
        return row.id, row.path

    # ------------------------------------------------------------------ submit

    async def submit(self, form: PortalForm, upload_errors: list[str] | None = None) -> TicketView:
        """Create the ticket, or raise FormInvalid with a message per field (nothing is created)."""
        photos = [p for p in await self.pending(form.upload_token) if p.id in set(form.kept_photos)]
        checked, errors = check_form(
            form, self.reference, photo_location=any(p.gps and in_city(*p.gps) for p in photos)
        )
        if upload_errors:
            errors["photos"] = " ".join(upload_errors)
        location = None
        if checked is not None:
            location = await self._locate(checked, photos, errors)
        if errors or checked is None or location is None:
            raise FormInvalid(errors)
        async with self._writes:
            view = await self.tickets.create(self._new_ticket(checked, location), PORTAL_ACTOR)
            await self._attach(view, form.upload_token, photos)
        logger.info("portal ticket %s created (%d photos, location from %s)", view.number, len(photos), location.source)
        return view

    async def _locate(
        self, checked: CheckedForm, photos: list[PendingPhoto], errors: dict[str, str]
    ) -> Location | None:
        """Map point first, then a photo's GPS, then the typed address (street centre)."""
        geo = await self.geocode(checked.address) if checked.address else None
        point, source = checked.point, "map"
        if point is None:
            point = next((p.gps for p in photos if p.gps and in_city(*p.gps)), None)
            source = "photo"
        if point is None and geo is None:
            errors["address"] = (
                "Адрес не найден в справочнике улиц Севастополя: проверьте название улицы или отметьте место на карте"
            )
            return None
        if point is None and geo is not None:
            point, source = (geo.lat, geo.lon), "address"
        assert point is not None
        if geo is not None:
            return Location(
                point[0], point[1], geo.street.name, geo.house or None, geo.flat, geo.district, checked.address, source
            )
        return self._point_only(point, checked.address, source)

    def _point_only(self, point: tuple[float, float], address: str, source: str) -> Location:
        street = self.gazetteer.nearest(*point)
        if street is None or haversine_m(point[0], point[1], street.lat, street.lon) > NEAREST_STREET_M:
            return Location(point[0], point[1], None, None, None, None, address, source)
        text = address or f"Отмечено на карте, рядом: {street.name}"
        return Location(point[0], point[1], None, None, None, street.district, text, source)

    async def geocode(self, address: str) -> GeocodeResult | None:
        return await self.run(self.gazetteer.geocode, address)

    def _new_ticket(self, checked: CheckedForm, location: Location) -> NewTicket:
        category = self.reference.category(checked.category)
        place = location.street and (f"{location.street}, д. {location.house}" if location.house else location.street)
        return NewTicket(
            channel=Channel.WEB,
            phone=checked.phone,
            category=checked.category,
            title=f"{category.name}: {place or 'точка на карте'}",
            description=checked.description,
            address=location.address,
            street=location.street,
            house=location.house,
            flat=location.flat,
            district=location.district,
            lat=location.lat,
            lon=location.lon,
            citizen_name=checked.name,
            extra={
                PUBLIC_SUMMARY: mask_personal(checked.description) or None,
                "location_source": location.source,
                "consent_152fz": {"at": datetime.now(UTC).isoformat(), "text": CONSENT_TEXT_VERSION},
                **(
                    {CONSENT_KEY: consent_record(email=checked.email, sms=True, via="portal", at=datetime.now(UTC))}
                    if checked.notify
                    else {}
                ),
            },
            citizen_email=checked.email,
        )

    async def _attach(self, view: TicketView, token: str, photos: list[PendingPhoto]) -> list[StoredPhoto]:
        if not photos:
            return []
        stored = await self.run(self.store.commit, token, [p.id for p in photos], view.created_at)
        for photo in stored:
            await self.tickets.add_attachment(
                view.number,
                kind="photo",
                path=photo.path,
                mime="image/jpeg",
                size=photo.size,
                sha256=photo.sha256,
                public=True,
                actor=PORTAL_ACTOR,
            )
        return stored
