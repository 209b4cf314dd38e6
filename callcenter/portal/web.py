"""Routes of the citizens' portal: the form and map at `/`, tracking at `/track`, photos, public JSON.

Pages (Russian UI)::

    GET  /                       request form + public problem map
    POST /                       file a request (multipart; photos optional)
    GET  /submitted/{number}     the number and how to track it
    GET  /track, POST /track     status by number + last 4 digits of the phone

Public JSON (no login; rate-limited per client address)::

    POST /portal/photos          check and keep one photo for the form (returns a token)
    POST /portal/photos/remove   drop a kept photo
    GET  /api/streets/suggest?q=           street names for the address field
    GET  /api/streets/geocode?address=     where an address is (street centre)
    GET  /api/map/points?bbox=&category=&limit=   GeoJSON of open problems
    GET  /api/duplicates?category=&lat=&lon=&address=&exclude=   possible duplicates
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.domain.errors import DomainError, TicketNotFound
from callcenter.domain.phones import last_digits
from callcenter.domain.privacy import public_text
from callcenter.domain.ticket_numbers import clean_ticket_number, spoken_groups
from callcenter.domain.tickets import STATUS_LABELS, Status
from callcenter.incidents.api import INCIDENTS
from callcenter.portal.form import HONEYPOT_FIELD, PortalForm
from callcenter.portal.geo import CITY, in_city, parse_bbox
from callcenter.portal.multipart import read_form
from callcenter.portal.public import public_address, public_timeline
from callcenter.portal.publicmap import DEFAULT_LIMIT, map_points
from callcenter.portal.service import FormInvalid, PortalService
from callcenter.portal.uploads import FILE_NAME_PATTERN, PHOTO_ID_PATTERN, THUMB_SUFFIX, PendingPhoto
from callcenter.services import Services
from callcenter.web.public_cache import PublicCache
from callcenter.web.ratelimit import IPNetwork, RateLimiter, client_address, parse_networks

logger = logging.getLogger(__name__)

# What a rate-limited form may still send: enough for every text field, no photos.
REFUSED_FORM_BYTES = 256 * 1024

STATUS_COLORS = {
    Status.NEW: "#c5221f",
    Status.DISPATCHED: "#e37400",
    Status.IN_PROGRESS: "#1a5fb4",
    Status.DONE: "#1e8e3e",
}


@dataclass
class PortalLimits:
    """Per-address budgets. Generous: many citizens may share one mobile network's address."""

    trusted_proxies: tuple[IPNetwork, ...] = ()
    attempts: RateLimiter = field(default_factory=lambda: RateLimiter(30, 600))
    submissions: RateLimiter = field(default_factory=lambda: RateLimiter(10, 600))
    photos: RateLimiter = field(default_factory=lambda: RateLimiter(60, 600))
    track: RateLimiter = field(default_factory=lambda: RateLimiter(30, 600))
    # Wrong last-4-digits per ticket number and address: 10 an hour makes guessing the 10,000
    # possibilities take weeks from one address, and a guesser elsewhere cannot lock the citizen
    # out of their own ticket (a limit per number alone let anyone do that with 10 wrong tries).
    track_failures: RateLimiter = field(default_factory=lambda: RateLimiter(10, 3600))
    # Wrong guesses per address over all numbers: one address cannot spread its guesses thin.
    track_failures_by_address: RateLimiter = field(default_factory=lambda: RateLimiter(30, 3600))
    api: RateLimiter = field(default_factory=lambda: RateLimiter(600, 60))

    def client(self, request: web.Request) -> str:
        return client_address(request, self.trusted_proxies)


PORTAL = web.AppKey("portal", PortalService)
LIMITS = web.AppKey("portal_limits", PortalLimits)
MAP_CACHE = web.AppKey("portal_map_cache", PublicCache)


def setup(app: web.Application, services: Services) -> None:
    """Mount the portal: its service, limits and routes (the feature's setup, see portal/feature.py)."""
    portal = PortalService(
        services.settings,
        services.tickets,
        services.sessions,
        services.reference,
        services.gazetteer,
        services.photos,
    )
    app[PORTAL] = portal
    app[LIMITS] = PortalLimits(parse_networks(services.settings.trusted_proxies))
    app[MAP_CACHE] = PublicCache(services.hub)
    app.on_cleanup.append(_close)
    router = app.router
    router.add_get("/", home, name="home")
    router.add_post("/", submit, name="portal_submit")
    router.add_get("/submitted/{number}", submitted, name="portal_submitted")
    router.add_get("/track", track_form, name="track")
    router.add_post("/track", track, name="track_lookup")
    router.add_post("/portal/photos", upload_photo, name="portal_photo_upload")
    router.add_post("/portal/photos/remove", remove_photo, name="portal_photo_remove")
    router.add_get("/portal/photos/pending/{token}/{name}", pending_photo, name="portal_photo_pending")
    router.add_get("/photos/{id:\\d+}/{name}", stored_photo, name="photo")
    router.add_get("/api/streets/suggest", suggest_streets, name="api_streets_suggest")
    router.add_get("/api/streets/geocode", geocode_address, name="api_streets_geocode")
    router.add_get("/api/map/points", points, name="api_map_points")
    router.add_get("/api/duplicates", duplicates, name="api_duplicates")


async def _close(app: web.Application) -> None:
    app[MAP_CACHE].close()
    await app[PORTAL].close()


def photo_urls(attachment_id: int, path: str) -> tuple[str, str]:
    """(photo, thumbnail) URLs of a stored photo attachment, for any page that shows it."""
    name = PurePosixPath(path).name
    return f"/photos/{attachment_id}/{name}", f"/photos/{attachment_id}/{name[:-4]}{THUMB_SUFFIX}"


def _json(data: Any, *, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.json_response(
        data, status=status, content_type=content_type, dumps=functools.partial(json.dumps, ensure_ascii=False)
    )


def json_error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return _json({"error": code, "message": message, **extra}, status=status)


def _too_many(limiter: RateLimiter, key: str, message: str) -> web.Response:
    response = json_error(429, "rate_limited", message)
    response.headers["Retry-After"] = str(limiter.retry_after(key))
    return response


# ---------------------------------------------------------------------- the form


def _category_groups(portal: PortalService) -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for category in portal.reference.categories:
        groups.setdefault(category.group or "Другое", []).append((category.code, category.name))
    return list(groups.items())


def _pending_json(token: str, photo: PendingPhoto) -> dict[str, Any]:
    return {
        "id": photo.id,
        "name": photo.name,
        "size": photo.size,
        "thumb_url": f"/portal/photos/pending/{token}/{photo.id}{THUMB_SUFFIX}",
        "gps": list(photo.gps) if photo.gps else None,
        "gps_in_city": bool(photo.gps and in_city(*photo.gps)),
    }


def _render_form(
    request: web.Request,
    form: PortalForm,
    errors: dict[str, str],
    photos: list[PendingPhoto],
    *,
    status: int = 200,
    message: str | None = None,
) -> web.Response:
    portal = request.app[PORTAL]
    settings = portal.settings
    context = {
        "form": form,
        "errors": errors,
        "message": message,
        "photos": [_pending_json(form.upload_token, p) for p in photos],
        "category_groups": _category_groups(portal),
        "honeypot_field": HONEYPOT_FIELD,
        "max_photos": settings.max_photos,
        "max_photo_bytes": settings.max_photo_bytes,
        "max_photo_mb": round(settings.max_photo_bytes / 2**20),
        "tile_url": settings.tile_url,
        "status_colors": {s.value: c for s, c in STATUS_COLORS.items()},
        "status_legend": [(s.value, STATUS_LABELS[s], c) for s, c in STATUS_COLORS.items()],
        "city": CITY,
    }
    response = aiohttp_jinja2.render_template("portal/home.html", request, context)
    response.set_status(status)
    return response


async def home(request: web.Request) -> web.Response:
    form = PortalForm(category=request.query.get("category", "")[:64])
    return _render_form(request, form, {}, [])


async def submit(request: web.Request) -> web.StreamResponse:
    portal, limits = request.app[PORTAL], request.app[LIMITS]
    settings = portal.settings
    client = limits.client(request)
    # The limit is decided before the body is read: a refused client costs one small, bounded read
    # (text fields only, so the citizen gets back what they typed), never the photo budget.
    if not limits.attempts.allow(client) or not limits.submissions.would_allow(client):
        read = await read_form(
            request, max_file_bytes=0, max_files=0, max_request_bytes=REFUSED_FORM_BYTES, keep_partial=True
        )
        return await _rate_limited_form(
            request, PortalForm.from_fields(read.fields), read.uploads != [] or read.truncated
        )
    read = await read_form(
        request,
        max_file_bytes=settings.max_photo_bytes,
        max_files=settings.max_photos,
        max_request_bytes=settings.max_request_bytes,
    )
    form = PortalForm.from_fields(read.fields)
    if form.honeypot:
        logger.info("portal form with the honeypot filled from %s: refused", client)
        return _render_form(
            request,
            form,
            {},
            [],
            status=400,
            message="Обращение не принято: форма заполнена автоматически. Если это ошибка, позвоните по номеру 1563.",
        )
    outcome = await portal.accept_uploads(form.upload_token or None, read.uploads) if read.uploads else None
    if outcome is not None:
        form.upload_token = outcome.token
        form.kept_photos += [p.id for p in outcome.accepted]
    try:
        view = await portal.submit(form, outcome.errors if outcome else None)
    except FormInvalid as err:
        kept = [p for p in await portal.pending(form.upload_token) if p.id in set(form.kept_photos)]
        return _render_form(
            request,
            form,
            err.errors,
            kept,
            status=422,
            message="Обращение не отправлено: исправьте поля, отмеченные красным. "
            "Всё введённое и приложенные фото сохранены.",
        )
    limits.submissions.allow(client)
    joined = await _join_incident(request, read.fields.get("incident"), view.number)
    raise web.HTTPSeeOther(f"/submitted/{view.number}" + ("?incident=joined" if joined else ""))


async def _join_incident(request: web.Request, offered: str | None, number: str) -> bool:
    """The citizen accepted the offer to join a known outage (outage mode, callcenter/incidents):
    linked only when the new report is inside its area and of its category."""
    feature = request.app.get(INCIDENTS)
    if feature is None or not offered or not offered.isdigit() or len(offered) > 18:
        return False
    try:
        return await feature.service.join(int(offered), number, "web")
    except DomainError as err:
        logger.info("portal report %s not joined to incident %s: %s", number, offered, err.message)
        return False


async def _rate_limited_form(request: web.Request, form: PortalForm, had_files: bool) -> web.Response:
    portal, limits = request.app[PORTAL], request.app[LIMITS]
    client = limits.client(request)
    minutes = max(1, round(max(limits.submissions.retry_after(client), limits.attempts.retry_after(client)) / 60))
    kept = [p for p in await portal.pending(form.upload_token) if p.id in set(form.kept_photos)]
    message = (
        f"С вашего адреса слишком много обращений за последние минуты. Введённое сохранено: "
        f"отправьте форму через {minutes} мин или позвоните по номеру 1563."
    )
    if had_files:
        message += " Новые фото не сохранены: приложите их снова."
    response = _render_form(request, form, {}, kept, status=429, message=message)
    response.headers["Retry-After"] = str(minutes * 60)
    return response


@aiohttp_jinja2.template("portal/submitted.html")
async def submitted(request: web.Request) -> dict[str, Any]:
    number = clean_ticket_number(request.match_info["number"])
    return {"number": number, "spoken": spoken_groups(number), "joined": request.query.get("incident") == "joined"}


# ---------------------------------------------------------------------- tracking


def _track_page(request: web.Request, context: dict[str, Any], status: int = 200) -> web.Response:
    base = {"number": "", "errors": {}, "message": None, "ticket": None}
    response = aiohttp_jinja2.render_template("portal/track.html", request, {**base, **context})
    response.set_status(status)
    return response


async def track_form(request: web.Request) -> web.Response:
    return _track_page(request, {"number": request.query.get("number", "")[:20]})


async def track(request: web.Request) -> web.Response:
    limits = request.app[LIMITS]
    client = limits.client(request)
    if not limits.track.allow(client):  # before the body is read
        return _track_page(
            request,
            {
                "number": request.query.get("number", "")[:20],
                "message": (
                    "Слишком много запросов с вашего адреса. Попробуйте через несколько минут "
                    "или узнайте статус по номеру 1563."
                ),
            },
            429,
        )
    fields = await request.post()
    raw_number = str(fields.get("number", "")).strip()[:20]
    digits = "".join(ch for ch in str(fields.get("digits", "")) if ch.isdigit())
    errors: dict[str, str] = {}
    try:
        number = clean_ticket_number(raw_number)
    except DomainError as err:
        errors["number"], number = err.message, ""
    if len(digits) != 4:
        errors["digits"] = "Введите 4 последние цифры телефона, указанного в заявке"
    if errors:
        return _track_page(request, {"number": raw_number, "errors": errors}, 422)
    guess_key = f"{client}|{number}"
    if not limits.track_failures.would_allow(guess_key) or not limits.track_failures_by_address.would_allow(client):
        return _track_page(
            request,
            {
                "number": raw_number,
                "message": (
                    "По этой заявке было слишком много неверных попыток. Попробуйте через час "
                    "или узнайте статус по номеру 1563."
                ),
            },
            429,
        )
    context = await _public_ticket(request, number, digits)
    if context is None:
        limits.track_failures.allow(guess_key)
        limits.track_failures_by_address.allow(client)
        return _track_page(
            request,
            {
                "number": raw_number,
                "message": (
                    "Заявка с таким номером и последними цифрами телефона не найдена. Проверьте номер и цифры. "
                    "Заявки без телефона можно проверить по номеру 1563."
                ),
            },
            404,
        )
    return _track_page(request, {"number": number, **context})


async def _public_ticket(request: web.Request, number: str, digits: str) -> dict[str, Any] | None:
    tickets = request.app[PORTAL].tickets
    try:
        detail = await tickets.detail(number, include_internal=False)
    except TicketNotFound:
        return None
    view = detail.ticket
    if not view.phone or last_digits(view.phone) != digits:
        return None
    photos = [photo_urls(a.id, a.path) for a in detail.attachments if a.kind == "photo" and a.public]
    return {
        "ticket": {
            "number": view.number,
            "spoken": spoken_groups(view.number),
            "status": view.status.value,
            "status_label": STATUS_LABELS[view.status],
            "color": STATUS_COLORS.get(view.status, "#5f6368"),
            "category": view.category_name or "Без темы",
            "created_at": view.created_at,
            "address": public_address(view.street, view.house, view.address),
            # Only the public text (the citizen's own words, or what an operator confirmed), never
            # the description typed from a call: a ticket number and four digits are weak proof.
            "description": public_text(view.extra, None),
            "duplicate_of": view.duplicate_of,
        },
        "timeline": public_timeline(detail),
        "photos": photos,
    }


# ---------------------------------------------------------------------- photos


async def upload_photo(request: web.Request) -> web.Response:
    portal, limits = request.app[PORTAL], request.app[LIMITS]
    client = limits.client(request)
    if not limits.photos.allow(client):
        return _too_many(limits.photos, client, "Слишком много фото с вашего адреса: подождите несколько минут")
    limit = portal.settings.max_photo_bytes
    try:
        read = await read_form(request, max_file_bytes=limit, max_files=1, max_request_bytes=limit + 2**20)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "too_large", f"Файл больше {round(limit / 2**20)} МБ: уменьшите фото и приложите снова")
    if not read.uploads:
        return json_error(400, "no_file", "Файл не получен: выберите фото ещё раз")
    outcome = await portal.accept_uploads(str(read.fields.get("upload_token", "")) or None, read.uploads[:1])
    if outcome.errors:
        return json_error(422, "photo_rejected", outcome.errors[0], token=outcome.token)
    count = len(await portal.pending(outcome.token))
    return _json(
        {
            "token": outcome.token,
            "photo": _pending_json(outcome.token, outcome.accepted[0]),
            "count": count,
            "max": portal.settings.max_photos,
        }
    )


async def remove_photo(request: web.Request) -> web.Response:
    fields = await request.post()
    token, photo_id = str(fields.get("upload_token", "")), str(fields.get("id", ""))
    removed = await request.app[PORTAL].remove_pending(token, photo_id)
    return _json({"removed": removed})


async def pending_photo(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL]
    name = request.match_info["name"]
    thumb = name.endswith(THUMB_SUFFIX)
    photo_id = name[: -len(THUMB_SUFFIX)] if thumb else name.removesuffix(".jpg")
    if not PHOTO_ID_PATTERN.match(photo_id):
        raise web.HTTPNotFound()
    path = await portal.run(portal.store.pending_file, request.match_info["token"], photo_id, thumb=thumb)
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": "private, max-age=3600",
            "Content-Type": "image/jpeg",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def stored_photo(request: web.Request) -> web.StreamResponse:
    """A public photo of a ticket; the random file name must match the attachment's."""
    portal = request.app[PORTAL]
    name = request.match_info["name"]
    if not FILE_NAME_PATTERN.match(name):
        raise web.HTTPNotFound()
    found = await portal.public_photo(int(request.match_info["id"]))
    if found is None:
        raise web.HTTPNotFound()
    attachment_id, rel_path = found
    full, thumb = (PurePosixPath(u).name for u in photo_urls(attachment_id, rel_path))
    if name not in (full, thumb):
        raise web.HTTPNotFound()
    path = await portal.run(portal.store.stored_file, rel_path, thumb=name == thumb)
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": "public, max-age=86400",
            "Content-Type": "image/jpeg",
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---------------------------------------------------------------------- public JSON


def _api_allowed(request: web.Request) -> web.Response | None:
    limits = request.app[LIMITS]
    client = limits.client(request)
    if limits.api.allow(client):
        return None
    return _too_many(limits.api, client, "Слишком много запросов: подождите минуту")


async def suggest_streets(request: web.Request) -> web.Response:
    if (refused := _api_allowed(request)) is not None:
        return refused
    portal = request.app[PORTAL]
    query = request.query.get("q", "").strip()[:100]
    if len(query) < 2:
        return _json([])
    streets = await portal.run(portal.gazetteer.suggest, query, 10)
    return _json([{"name": s.name, "district": s.district, "lat": s.lat, "lon": s.lon} for s in streets])


async def geocode_address(request: web.Request) -> web.Response:
    if (refused := _api_allowed(request)) is not None:
        return refused
    portal = request.app[PORTAL]
    address = request.query.get("address", "").strip()[:300]
    result = await portal.geocode(address) if address else None
    if result is None:
        return _json({"found": False})
    return _json(
        {
            "found": True,
            "street": result.street.name,
            "house": result.house or None,
            "district": result.district,
            "lat": result.lat,
            "lon": result.lon,
            "confidence": result.confidence,
        }
    )


async def points(request: web.Request) -> web.Response:
    if (refused := _api_allowed(request)) is not None:
        return refused
    portal = request.app[PORTAL]
    try:
        box = parse_bbox(request.query["bbox"]).clipped(CITY) if "bbox" in request.query else CITY
        limit = int(request.query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        return json_error(400, "bad_request", "bbox: четыре числа «запад,юг,восток,север»; limit: целое число")
    category = request.query.get("category") or None
    if category and not portal.reference.has_category(category):
        return json_error(400, "unknown_category", f"Неизвестная тема «{category[:64]}»")

    async def make() -> tuple[bytes, str]:
        if box.empty:
            collection: dict[str, Any] = {"type": "FeatureCollection", "features": [], "truncated": False}
        else:
            collection = await map_points(
                portal.sessions, portal.reference, portal.settings.zone, box=box, category=category, limit=limit
            )
        return json.dumps(collection, ensure_ascii=False).encode(), "application/geo+json"

    # The same answer for every visitor: kept until a ticket changes (web/public_cache.py).
    key = ("points", box.west, box.south, box.east, box.north, category, limit)
    body, content_type = await request.app[MAP_CACHE].get(key, make)
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    response.headers["Cache-Control"] = "public, max-age=30"
    return response


async def duplicates(request: web.Request) -> web.Response:
    if (refused := _api_allowed(request)) is not None:
        return refused
    portal = request.app[PORTAL]
    query = request.query
    category = query.get("category", "")
    if not portal.reference.has_category(category):
        return json_error(400, "unknown_category", "Укажите тему обращения (category) из справочника")
    try:
        lat = float(query["lat"]) if query.get("lat") else None
        lon = float(query["lon"]) if query.get("lon") else None
    except ValueError:
        return json_error(400, "bad_request", "lat и lon должны быть числами")
    address = query.get("address", "").strip()[:300]
    if (lat is None) != (lon is None) or (lat is None and not address):
        return json_error(400, "bad_request", "Укажите точку (lat и lon) или адрес (address)")
    geo = await portal.geocode(address) if address else None
    found = await portal.duplicates.find(
        category,
        lat=lat,
        lon=lon,
        street=geo.street.name if geo else None,
        house=geo.house if geo else None,
        exclude_number=query.get("exclude") or None,
    )
    return _json(
        {
            "radius_m": portal.duplicates.radius_m,
            "address": {"street": geo.street.name, "house": geo.house or None} if geo else None,
            "duplicates": [c.as_json() for c in found],
        }
    )
