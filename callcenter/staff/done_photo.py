"""«Выполнено» with a photo of the result: ``POST /staff/tickets/{number}/done`` (multipart).

No empty answers (issue 16): a category may require a note and/or a photo before a ticket is
marked done (``done_requires_note`` / ``done_requires_photo`` in categories.toml; the rule is
:mod:`callcenter.domain.done_evidence`, enforced by ``TicketService.move`` for every path).
This route is the executor's form for it. The body is read once, as a bounded stream, with the
portal's reader (per-file and per-request caps, a part-count limit); the CSRF token is checked on
the field read from that stream before anything else is done (the staff middleware leaves
multipart bodies of this route to it, see ``callcenter.web.auth``). The photo goes through the
portal's checks (size, decode limits, re-encoded as JPEG without metadata) in the app's bounded
photo decoder (``Services.photos``, the portal's too),
is stored under ``data_dir/photos`` and written with the move in one transaction. A refused
move removes the stored file again. Bad input re-renders the ticket page with the note kept.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from callcenter.domain.done_evidence import check_done_evidence
from callcenter.domain.errors import DomainError, MissingField, ValidationError
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Status
from callcenter.portal.api import PhotoDecoder, PhotoStore, read_form
from callcenter.staff.pages import local_redirect, render, services
from callcenter.staff.views import ACTOR_ROLES, ticket_context
from callcenter.tickets.schemas import DonePhoto
from callcenter.web.auth import (
    CSRF_FIELD,
    check_department,
    csrf_checked_in_handler,
    current_user,
    require_roles,
    verify_form_csrf,
)
from callcenter.web.error_pages import status_for

logger = logging.getLogger(__name__)

DONE_FIELDS = ("note", "version", "public", "back", "photo")
# Room for the text fields of the form next to one photo.
FORM_SLACK_BYTES = 256 * 1024
NO_PHOTO_RECEIVED = "Фото не получено: приложите его ещё раз"
TOO_LARGE = "Фото слишком большое: уменьшите его (не более {mb} МБ) и приложите снова"


@dataclass
class DonePhotos:
    """Checks and keeps photos of done work (the portal's photo store; the app's photo decoder)."""

    store: PhotoStore
    decoder: PhotoDecoder

    async def keep(self, name: str, data: bytes, when: datetime) -> DonePhoto:
        """Check, clean and store one photo; ValidationError (field ``photo``) when it is refused."""
        try:
            clean = await self.decoder.clean(name, data)
        except ValidationError as err:
            raise ValidationError(err.message, field="photo") from None
        token = self.store.new_token()
        pending = await asyncio.to_thread(self.store.add_pending, token, name, clean)
        (stored,) = await asyncio.to_thread(self.store.commit, token, [pending.id], when)
        return DonePhoto(path=stored.path, size=stored.size, sha256=stored.sha256)

    async def discard(self, photo: DonePhoto) -> None:
        """Remove a stored photo whose move was refused (no orphan files)."""
        await asyncio.to_thread(self._unlink, photo.path)

    def _unlink(self, path: str) -> None:
        for thumb in (False, True):
            found = self.store.stored_file(path, thumb=thumb)
            if found is not None:
                found.unlink(missing_ok=True)


DONE_PHOTOS = web.AppKey("staff_done_photos", DonePhotos)  # set in staff.feature.setup


@csrf_checked_in_handler
@require_roles(*ACTOR_ROLES)
async def mark_done(request: web.Request) -> web.StreamResponse:
    number = clean_ticket_number(request.match_info["number"])
    shared = services(request)
    limit = shared.settings.max_photo_bytes
    read = await read_form(
        request, max_file_bytes=limit, max_files=1, max_request_bytes=limit + FORM_SLACK_BYTES, keep_partial=True
    )
    verify_form_csrf(request, read.fields.get(CSRF_FIELD))  # before anything is looked at or done
    typed = {name: str(read.fields.get(name, "")).strip() for name in DONE_FIELDS if name != "photo"}
    user = current_user(request)
    current = await shared.tickets.get(number)
    check_department(user, current.department)
    upload = read.uploads[0] if read.uploads else None
    if read.truncated and (upload is None or upload.error is None):
        too_large = ValidationError(TOO_LARGE.format(mb=limit // 2**20), field="photo")
        return await _refused(request, number, too_large, typed, 400)
    if upload is not None and (upload.error or not upload.data):
        bad = ValidationError(upload.error or NO_PHOTO_RECEIVED, field="photo")
        return await _refused(request, number, bad, typed, 400)
    note = typed["note"] or None
    version = int(typed["version"]) if typed["version"].isdigit() else None
    # The rule first (cheap): a missing note or photo is refused before any photo is decoded.
    rule = shared.tickets.done_rule(current.category)
    if current.status is Status.IN_PROGRESS:  # other states: the move itself says why it is refused
        try:
            check_done_evidence(rule, note=note, photos=0 if upload is None else 1)
        except MissingField as err:
            return await _refused(request, number, err, typed, status_for(err))
    photo: DonePhoto | None = None
    photos = request.app[DONE_PHOTOS]
    try:
        if upload is not None and upload.data:
            photo = await photos.keep(upload.name, upload.data, datetime.now(UTC))
        await shared.tickets.move(
            number,
            Status.DONE,
            user.actor(),
            note=note,
            expected_version=version,
            public=typed["public"] != "0",
            photo=photo,
        )
    except DomainError as err:
        if photo is not None:
            await photos.discard(photo)
        is_photo = isinstance(err, ValidationError) and err.field == "photo"
        return await _refused(request, number, err, typed, 400 if is_photo else status_for(err))
    except BaseException:  # the store went away mid-move, a cancelled request: no orphan file either
        if photo is not None:
            await asyncio.shield(photos.discard(photo))
        raise
    raise web.HTTPSeeOther(local_redirect(typed["back"], f"/staff/tickets/{number}?done=moved"))


async def _refused(
    request: web.Request, number: str, err: DomainError, typed: dict[str, str], status: int
) -> web.Response:
    context = await ticket_context(request, number)
    field = str(err.details.get("field") or "form")
    context.update(
        errors={field if field in DONE_FIELDS else "form": err.message}, typed=typed, open_action=Status.DONE.value
    )
    return render(request, "staff/ticket.html", context, status)
