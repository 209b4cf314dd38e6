"""The notifications feature's pages (routes in feature.py).

Citizens (no login; the signed token in the path is the only key):
  GET  /n/answer/{token}        «Проблема устранена?» yes / no, a comment and a photo
  POST /n/answer/{token}        applies the answer (GET never changes anything: mail scanners open links)
  GET  /n/unsubscribe/{token}   asks to confirm
  POST /n/unsubscribe/{token}   stops messages to that address
Supervisors:
  GET  /staff/notifications               counts, failed and retried messages, unanswered done tickets
  POST /staff/notifications/{id}/retry    a failed message goes back to the queue
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.domain.errors import DomainError, NotFound
from callcenter.domain.notifications import CHANNEL_LABELS, STATE_LABELS, NotifyChannel, OutboxState
from callcenter.domain.tickets import Role
from callcenter.notifications.links import BadLink, ExpiredLink
from callcenter.notifications.wiring import NOTIFICATIONS
from callcenter.portal.api import read_form
from callcenter.web.auth import require_roles
from callcenter.web.request_keys import CURRENT_USER

logger = logging.getLogger(__name__)

SUPERVISION = (Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)
DECIDERS = (Role.SUPERVISOR, Role.ADMIN)
TOKEN = r"{token:[A-Za-z0-9_\-\.]{1,600}}"
ANSWER_FORM_BYTES = 12 * 1024 * 1024


def _page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context)
    response.set_status(status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak to other sites
    return response


def _link_error(request: web.Request, err: DomainError) -> web.Response:
    status = 410 if isinstance(err, ExpiredLink) else 404 if isinstance(err, NotFound) else 400
    return _page(request, "notifications/answer.html", {"page": None, "message": err.message, "errors": {}}, status)


async def answer_page(request: web.Request) -> web.Response:
    feature = request.app[NOTIFICATIONS]
    try:
        page = await feature.answers.page(request.match_info["token"])
    except DomainError as err:
        return _link_error(request, err)
    return _page(request, "notifications/answer.html", {"page": page, "message": None, "errors": {}, "typed": {}})


async def answer_submit(request: web.Request) -> web.Response:
    feature = request.app[NOTIFICATIONS]
    token = request.match_info["token"]
    try:
        page = await feature.answers.page(token)
    except DomainError as err:
        return _link_error(request, err)
    if not page.can_answer:  # answered already (or moved on): the body is not even read
        return _page(request, "notifications/answer.html", {"page": page, "message": None, "errors": {}}, 409)
    limit = feature.settings.max_photo_bytes
    read = await read_form(request, max_file_bytes=limit, max_files=1, max_request_bytes=limit + 256 * 1024)
    fixed = str(read.fields.get("fixed", ""))[:10]
    comment = str(read.fields.get("comment", ""))[:20000]
    upload = read.uploads[0] if read.uploads else None
    typed = {"fixed": fixed, "comment": comment}
    if upload is not None and (upload.error or upload.data is None):
        errors = {"photo": upload.error or "Фото не получено"}
        return _page(
            request, "notifications/answer.html", {"page": page, "message": None, "errors": errors, "typed": typed}, 422
        )
    try:
        view = await feature.answers.answer(
            token, fixed, comment, (upload.name, upload.data) if upload is not None and upload.data else None
        )
    except (BadLink, ExpiredLink) as err:
        return _link_error(request, err)
    except DomainError as err:
        field = getattr(err, "field", None) or "form"
        return _page(
            request,
            "notifications/answer.html",
            {"page": page, "message": None, "errors": {field: err.message}, "typed": typed},
            422,
        )
    return _page(request, "notifications/answered.html", {"number": view.number, "fixed": fixed == "yes"})


async def unsubscribe_page(request: web.Request) -> web.Response:
    feature = request.app[NOTIFICATIONS]
    try:
        claims = feature.answers.unsubscribe_claims(request.match_info["token"])
    except DomainError as err:
        return _page(request, "notifications/unsubscribe.html", {"message": err.message, "done": False}, 400)
    return _page(request, "notifications/unsubscribe.html", {"message": None, "done": False, "claims": claims})


async def unsubscribe_submit(request: web.Request) -> web.Response:
    feature = request.app[NOTIFICATIONS]
    try:
        claims = await feature.answers.unsubscribe(request.match_info["token"])
    except DomainError as err:
        return _page(request, "notifications/unsubscribe.html", {"message": err.message, "done": False}, 400)
    return _page(request, "notifications/unsubscribe.html", {"message": None, "done": True, "claims": claims})


@require_roles(*SUPERVISION)
@aiohttp_jinja2.template("notifications/staff.html")
async def staff_page(request: web.Request) -> dict[str, Any]:
    feature = request.app[NOTIFICATIONS]
    counts = await feature.outbox.counts()
    return {
        "counts": [(STATE_LABELS[s], counts.get(s.value, 0)) for s in OutboxState],
        "problems": await feature.outbox.problems(),
        "unanswered": await feature.answers.unanswered(),
        "channels": [CHANNEL_LABELS[NotifyChannel(c)] for c in sorted(feature.worker.channels)],
        "no_answer_days": feature.settings.notify_no_answer_days,
        "no_answer_action": feature.settings.notify_no_answer_action,
        "state_labels": {s.value: label for s, label in STATE_LABELS.items()},
        "notify_channel_labels": {c.value: label for c, label in CHANNEL_LABELS.items()},
        "can_decide": request[CURRENT_USER].role in DECIDERS,
    }


@require_roles(*DECIDERS)
async def staff_retry(request: web.Request) -> web.Response:
    feature = request.app[NOTIFICATIONS]
    notification_id = int(request.match_info["notification_id"])
    if await feature.outbox.retry(notification_id, feature.answers.now()):
        feature.worker.wake()
    raise web.HTTPSeeOther("/staff/notifications")
