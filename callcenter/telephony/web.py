"""Telephony pages: the supervisors' live calls board and click-to-call from a ticket.

* ``GET /staff/calls``: the board (supervisors, analysts, admins); the page loads its
  state once and then follows "board" and "call" messages on ``/ws``;
* ``GET /staff/calls/state``: that state as JSON (live board, missed calls of the last 24 hours);
* ``GET /staff/calls/{linkedid}/conversation/{party}.wav``: a kept conversation's recording
  (operators, supervisors, admins, executors of the call's ticket's department; never analysts,
  who see neither the transcripts nor the recordings: statistics, not people); audited;
* ``POST /staff/tickets/{number}/call``: click-to-call (operators, supervisors), with the
  ``call_key`` the ticket page rendered (``web/templates/calls/_call_button.html``).
  Answers JSON to ``web/static/telephony/call.js`` and a page to plain forms.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from callcenter.domain.errors import DomainError
from callcenter.domain.ticket_numbers import clean_ticket_number
from callcenter.domain.tickets import Role
from callcenter.services import SERVICES
from callcenter.telephony.board_messages import ivr_steps
from callcenter.telephony.click_to_call import TelephonyUnavailable, new_call_key
from callcenter.telephony.wiring import TELEPHONY, TelephonySlice
from callcenter.web.audit import audit, mask_callers, sees_full_phones
from callcenter.web.auth import SUPERVISION_ROLES, check_department, current_user, require_roles
from callcenter.web.error_pages import status_for, wants_json
from callcenter.web.files import file_inside, private_file

logger = logging.getLogger(__name__)

DIAL_ROLES = (Role.OPERATOR, Role.SUPERVISOR)
# Who may hear a kept conversation: as the IVR's voice messages, but never analysts.
CONVERSATION_ROLES = (Role.OPERATOR, Role.EXECUTOR, Role.SUPERVISOR, Role.ADMIN)
MISSED_WINDOW = timedelta(hours=24)  # round-the-clock service: not the calendar day


def add_routes(app: web.Application) -> None:
    """Routes, and the ``call_key()`` template global the call button uses."""
    aiohttp_jinja2.get_env(app).globals["call_key"] = new_call_key
    app.router.add_get("/staff/calls", calls_page, name="staff_calls")
    app.router.add_get("/staff/calls/state", calls_state, name="staff_calls_state")
    app.router.add_get(
        r"/staff/calls/{linkedid:[A-Za-z0-9._-]{1,64}}/conversation/{party:caller|operator}.wav",
        conversation_recording,
        name="staff_conversation_recording",
    )
    app.router.add_post(r"/staff/tickets/{number:\d{7,12}}/call", call_from_ticket, name="staff_ticket_call")


def _slice(request: web.Request) -> TelephonySlice:
    return request.app[TELEPHONY]


async def board_state(request: web.Request) -> dict[str, Any]:
    """The board, the last day's missed calls and the server's clock (the page ticks from it)."""
    services = request.app[SERVICES]
    missed = await _slice(request).calls.missed_since(datetime.now(UTC) - MISSED_WINDOW)
    rows = [{**m.as_json(), "ivr_steps": ivr_steps(m.ivr_path, services.reference)} for m in missed]
    return {"board": _slice(request).board(), "missed": rows, "server_now": datetime.now(UTC).isoformat()}


async def state_for_reader(request: web.Request) -> dict[str, Any]:
    """The board as this user may see it: analysts get callers' numbers masked; a full view is audited."""
    state = await board_state(request)
    if not sees_full_phones(current_user(request)):
        return dict(mask_callers(state))
    await audit(request, "calls_board_viewed", "calls", "board")
    return state


@require_roles(*SUPERVISION_ROLES)
async def calls_page(request: web.Request) -> web.Response:
    context: dict[str, Any] = {
        "state": await state_for_reader(request),
        "conversations": [],
        "sees_conversations": False,
    }
    if current_user(request).role in CONVERSATION_ROLES:
        since = datetime.now(UTC) - MISSED_WINDOW
        context["conversations"] = await _slice(request).calls.conversations_since(since)
        context["sees_conversations"] = True
    return aiohttp_jinja2.render_template("calls/board.html", request, context)


@require_roles(*CONVERSATION_ROLES)
async def conversation_recording(request: web.Request) -> web.StreamResponse:
    """One party's WAV of a kept conversation, for users who may see the call's ticket."""
    linkedid, party = request.match_info["linkedid"], request.match_info["party"]
    saved = await _slice(request).calls.conversation(linkedid)
    if saved is None or party not in saved.files:
        raise web.HTTPNotFound()
    user = current_user(request)
    if saved.ticket_number is None and user.role is Role.EXECUTOR:
        raise web.HTTPNotFound()  # a call with no ticket belongs to no executor
    check_department(user, saved.ticket_department)
    path = await asyncio.to_thread(file_inside, Path(request.app[SERVICES].settings.data_dir), saved.files[party])
    await audit(request, "conversation_heard", "call", linkedid, party=party, ticket=saved.ticket_number or "")
    return private_file(path, "audio/wav", inline=True, name=f"{party}.wav")


@require_roles(*SUPERVISION_ROLES)
async def calls_state(request: web.Request) -> web.Response:
    return web.json_response(await state_for_reader(request))


@require_roles(*DIAL_ROLES)
async def call_from_ticket(request: web.Request) -> web.Response:
    number = clean_ticket_number(request.match_info["number"])
    form = await request.post()
    key = form.get("call_key")
    try:
        report = await _slice(request).dialer.place(number, current_user(request), key if isinstance(key, str) else "")
    except DomainError as err:
        status = 503 if isinstance(err, TelephonyUnavailable) else status_for(err)
        return _answer(request, number, status, {"error": err.code, "message": err.message})
    return _answer(request, number, 200, {**report.as_json(), "ok": True})


def _answer(request: web.Request, number: str, status: int, body: dict[str, Any]) -> web.Response:
    body = {**body, "ticket": number, "next_key": new_call_key()}
    if wants_json(request):
        return web.json_response(body, status=status)
    response = aiohttp_jinja2.render_template("calls/call_result.html", request, {"result": body})
    response.set_status(status)
    return response
