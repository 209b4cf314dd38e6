"""The incidents feature's pages and endpoints.

GET  /staff/incidents                  list; the form to create one with the area drawn on the map
POST /staff/incidents                  create (supervisor)
POST /staff/incidents/count            live count of open tickets / citizens inside an area (JSON)
GET  /staff/incidents/{id}             the incident board (IVR calls, subscribers, callbacks) and edit form
POST /staff/incidents/{id}             edit an active incident
POST /staff/incidents/{id}/restore     restored: linked tickets done, citizens called back
POST /staff/incidents/{id}/cancel      cancelled
POST /api/incidents                    a utility's system posts outages (X-Api-Key: a department key)
GET  /api/incidents/active.json        active incidents for the public map and banner (no personal data)
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.domain.errors import DomainError, ValidationError
from callcenter.domain.incidents import INCIDENT_STATUS_LABELS, IncidentStatus, area_from_json
from callcenter.domain.tickets import Actor, Role
from callcenter.incidents.importer import ImportError_, parse_outage_file
from callcenter.incidents.service import IncidentInput, IncidentView, parse_local_time
from callcenter.incidents.wiring import INCIDENTS
from callcenter.reference import DISTRICTS
from callcenter.web.auth import require_roles
from callcenter.web.request_keys import CURRENT_USER

logger = logging.getLogger(__name__)

SUPERVISION = (Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
DECIDERS = (Role.SUPERVISOR, Role.ADMIN)
ID = r"{incident_id:\d{1,18}}"
OUTAGE_CATEGORIES = (
    "no_water",
    "hot_water",
    "no_electricity",
    "no_heating",
    "low_water_pressure",
    "gas_smell",
    "other",
)
MAX_API_BYTES = 1024 * 1024


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/staff/incidents", list_page, name="staff_incidents")
    router.add_post("/staff/incidents", create)
    router.add_post("/staff/incidents/count", count_inside)
    router.add_get(f"/staff/incidents/{ID}", board_page, name="staff_incident")
    router.add_post(f"/staff/incidents/{ID}", edit)
    router.add_post(f"/staff/incidents/{ID}/restore", restore)
    router.add_post(f"/staff/incidents/{ID}/cancel", cancel)
    router.add_post("/api/incidents", api_post)
    router.add_get("/api/incidents/active.json", public_active, name="incidents_active")
    router.add_get("/api/incidents/match", public_match, name="incidents_match")


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _actor(request: web.Request) -> Actor:
    return request[CURRENT_USER].actor()


def _form_input(request: web.Request, form: Any) -> IncidentInput:
    service = request.app[INCIDENTS].service
    try:
        area_data = json.loads(form.get("area") or "{}")
    except json.JSONDecodeError:
        raise ValidationError("Область аварии не прочитана: нарисуйте её заново", field="area") from None
    area = area_from_json(area_data, DISTRICTS)
    return IncidentInput(
        category=(form.get("category") or "").strip(),
        title=(form.get("title") or "").strip(),
        public_text=(form.get("public_text") or "").strip(),
        area=area,
        starts_at=parse_local_time(form.get("starts_at") or "", service.zone, field_name="starts_at"),
        expected_at=parse_local_time(form.get("expected_at") or "", service.zone, field_name="expected_at"),
        recording=(form.get("recording") or "").strip() or None,
    )


def _page(request: web.Request, **extra: Any) -> dict[str, Any]:
    feature = request.app[INCIDENTS]
    return {
        "zone": feature.service.zone,
        "labels": INCIDENT_STATUS_LABELS,
        "categories": [c for c in feature.service._reference.categories if c.code in OUTAGE_CATEGORIES],  # noqa: SLF001
        "districts": DISTRICTS,
        "tile_url": feature.tile_url,
        "can_decide": request[CURRENT_USER].role in DECIDERS,
        **extra,
    }


@require_roles(*SUPERVISION)
async def list_page(request: web.Request) -> web.Response:
    incidents = await request.app[INCIDENTS].service.listing()
    return aiohttp_jinja2.render_template(
        "staff/incidents.html", request, _page(request, incidents=incidents, errors={}, typed={})
    )


@require_roles(*DECIDERS)
async def create(request: web.Request) -> web.Response:
    service = request.app[INCIDENTS].service
    form = await request.post()
    try:
        view = await service.create(_form_input(request, form), _actor(request))
    except DomainError as err:
        incidents = await service.listing()
        errors = {err.details.get("field", "form"): err.message}
        return aiohttp_jinja2.render_template(
            "staff/incidents.html",
            request,
            _page(request, incidents=incidents, errors=errors, typed=dict(form)),
            status=400,
        )
    raise web.HTTPSeeOther(f"/staff/incidents/{view.id}")


@require_roles(*SUPERVISION)
async def count_inside(request: web.Request) -> web.Response:
    service = request.app[INCIDENTS].service
    try:
        data = await request.json()
        counts = await service.count_inside(
            area_from_json(data.get("area") if isinstance(data, dict) else None, DISTRICTS)
        )
    except (ValueError, DomainError) as err:
        message = err.message if isinstance(err, DomainError) else "Ожидается JSON с полем area"
        return web.json_response({"error": message}, status=400)
    return web.json_response(counts)


@require_roles(*SUPERVISION)
async def board_page(request: web.Request) -> web.Response:
    return await _render_board(request, errors={})


async def _render_board(request: web.Request, errors: dict[str, str], status: int = 200) -> web.Response:
    service = request.app[INCIDENTS].service
    board = await service.board(int(request.match_info["incident_id"]))
    return aiohttp_jinja2.render_template(
        "staff/incident.html", request, _page(request, board=board, i=board.incident, errors=errors), status=status
    )


@require_roles(*DECIDERS)
async def edit(request: web.Request) -> web.Response:
    service = request.app[INCIDENTS].service
    form = await request.post()
    try:
        await service.update(int(request.match_info["incident_id"]), _form_input(request, form), _actor(request))
    except DomainError as err:
        return await _render_board(request, {err.details.get("field", "form"): err.message}, status=400)
    raise web.HTTPSeeOther(f"/staff/incidents/{request.match_info['incident_id']}")


@require_roles(*DECIDERS)
async def restore(request: web.Request) -> web.Response:
    service = request.app[INCIDENTS].service
    form = await request.post()
    try:
        result = await service.restore(int(request.match_info["incident_id"]), _actor(request), _text(form, "note"))
    except DomainError as err:
        return await _render_board(request, {err.details.get("field", "restore"): err.message}, status=400)
    logger.info(
        "incident %s restored: %d tickets done, %d citizens", result.incident.id, len(result.done), result.citizens
    )
    raise web.HTTPSeeOther(f"/staff/incidents/{result.incident.id}")


@require_roles(*DECIDERS)
async def cancel(request: web.Request) -> web.Response:
    service = request.app[INCIDENTS].service
    form = await request.post()
    try:
        await service.cancel(int(request.match_info["incident_id"]), _actor(request), _text(form, "note"))
    except DomainError as err:
        return await _render_board(request, {err.details.get("field", "cancel"): err.message}, status=400)
    raise web.HTTPSeeOther(f"/staff/incidents/{request.match_info['incident_id']}")


async def api_post(request: web.Request) -> web.Response:
    """A utility's own system: the same CSV/JSON as ``callcenter incidents import`` (JSON body or
    text/csv), authenticated by ``X-Api-Key`` (a key of its department). Repeated refs are skipped."""
    feature = request.app[INCIDENTS]
    key = await feature.keys.check(request.headers.get("X-Api-Key"))
    if key is None:
        return web.json_response({"error": "Неверный или отозванный ключ (X-Api-Key)"}, status=401)
    await feature.keys.touch(key.id)
    if request.content_length is not None and request.content_length > MAX_API_BYTES:
        return web.json_response({"error": "Слишком большой запрос"}, status=413)
    body = await request.content.read(MAX_API_BYTES + 1)
    if len(body) > MAX_API_BYTES:
        return web.json_response({"error": "Слишком большой запрос"}, status=413)
    service = feature.service
    is_csv = request.content_type in ("text/csv", "text/plain")
    known = {c.code for c in service._reference.categories}  # noqa: SLF001

    def parse() -> list[IncidentInput]:
        # Up to 2 MB / 5,000 rows, each street through the gazetteer: off the event loop.
        items = parse_outage_file(
            body,
            name="body.csv" if is_csv else "body.json",
            zone=service.zone,
            default_category="no_water",
            known_categories=known,
        )
        for item in items:
            service.normalise_area(item.area)
        return items

    try:
        inputs = await asyncio.to_thread(parse)
    except ImportError_ as err:
        return web.json_response({"error": "Ничего не принято", "problems": err.problems}, status=400)
    except DomainError as err:
        return web.json_response({"error": err.message}, status=400)
    actor = Actor(role=Role.SUPERVISOR, name=f"система исполнителя {key.owner}", department=key.owner)
    created, skipped = [], []
    for item in inputs:
        item = IncidentInput(**{**item.__dict__, "department": key.owner, "source": "api"})
        if item.external_ref and await service.find_external(key.owner, item.external_ref) is not None:
            skipped.append(item.external_ref)
            continue
        view = await service.create(item, actor)
        created.append({"id": view.id, "master_ticket": view.master_number, "ref": view.external_ref})
    return web.json_response({"created": created, "skipped_refs": skipped}, status=201 if created else 200)


async def public_active(request: web.Request) -> web.Response:
    """Active incidents for the portal's banner and map: text, area, times; nothing personal."""
    service = request.app[INCIDENTS].service
    items = [i.public_json(service.zone) for i in await service.active()]
    return web.json_response({"incidents": items}, headers={"Cache-Control": "public, max-age=30"})


async def public_match(request: web.Request) -> web.Response:
    """The portal's offer: active incidents of this category holding the chosen point or address."""
    service = request.app[INCIDENTS].service
    query = request.query
    category = query.get("category", "")[:64]
    try:
        lat = float(query["lat"]) if query.get("lat") else None
        lon = float(query["lon"]) if query.get("lon") else None
    except ValueError:
        return web.json_response({"error": "lat и lon должны быть числами"}, status=400)
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180 if lon is not None else False):
        return web.json_response({"error": "lat и lon вне допустимого диапазона"}, status=400)
    place = service.place_of_address(query.get("address", "")[:300], lat, lon)
    found = await service.for_place(place, category or None)
    return web.json_response({"incidents": [i.public_json(service.zone) for i in found]})


def status_label(view: IncidentView) -> str:
    return INCIDENT_STATUS_LABELS[IncidentStatus(view.status)]
