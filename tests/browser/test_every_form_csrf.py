"""Every POST form on every page, for every role and for visitors, carries a usable CSRF token.

The real server is crawled over HTTP as each role (and anonymously): from the start page,
following links, plus the pages a link may not reach (each ticket, the callback pages, the admin
pages, /staff/account with a second session of the user and with two-factor enrolment started)
and pages re-rendered after a refused form. Each ``<form method=post>`` to a path the
staff middleware guards (``/staff/…``, ``/login``, ``/logout``) must carry a non-empty
``csrf_token`` field, one token per session, and that token must be accepted. The only POST
forms to unguarded paths are the public ones listed in PUBLIC_FORMS. Scripts that POST are held
to the same rule: a click on the ticket page's «Позвонить» (telephony/call.js) is watched in Chromium.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.async_api import Browser, expect

from callcenter.config import Settings
from tests.browser.journey_support import STAFF_SIZES, World, build_world, is_guarded, sign_in
from tests.conftest import LiveServer
from tests.integration.test_staff_support import StaffClient, staff_client

pytestmark = pytest.mark.timeout(240)

ROLES = ("operator", "executor", "supervisor", "analyst", "admin")
LOGINS = {"operator": "op", "executor": "ex", "supervisor": "sv", "analyst": "an", "admin": "ad"}
PUBLIC_FORMS = {
    "/": "the citizen's request form (no session to ride on)",
    "/track": "tracking by number and phone digits (POST keeps the digits out of URLs)",
}
# Paths a crawl must not follow: files, fragments for scripts, exports.
SKIP = re.compile(r"^/staff/(attachments/|.*export\.csv|tickets/\d+/row)|^/(static|open311|portal|ws)(/|$)")
# Every kind of form the product has; the crawl must meet each, or it proves nothing.
EXPECTED_ACTIONS = {
    "/login",
    "/logout",
    "/staff/tickets/new",
    "/staff/tickets/N/move",
    "/staff/tickets/N/done",
    "/staff/tickets/N/note",
    "/staff/tickets/N/public-summary",
    "/staff/tickets/N/edit",
    "/staff/tickets/N/call",
    "/staff/callbacks/N/call",
    "/staff/callbacks/N/outcome",
    "/staff/callbacks/N/retry",
    "/staff/callbacks/N/to-operator",
    "/staff/callbacks/N/unreachable",
    "/staff/admin/users/new",
    "/staff/admin/users/N",
    "/staff/admin/users/N/revoke",
    "/staff/admin/departments/CODE",
    "/staff/account/password",
    "/staff/account/sessions/N/revoke",
    "/staff/account/totp",
    "/staff/account/totp/confirm",
    "/",
    "/track",
}
WEB = Path(__file__).resolve().parents[2] / "web" / "static"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, callback_mode="operator", callback_hours="00:00-24:00", callback_delay_seconds=0
    )


@dataclass
class Form:
    page: str
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class PageParser(HTMLParser):
    """The forms (with their fields) and the links of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._open: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = Form("", a.get("method", "get").lower(), a.get("action", ""))
            self.forms.append(self._open)
        elif tag in ("input", "button", "textarea", "select") and self._open is not None and a.get("name"):
            self._open.fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def parse(url: str, html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    for form in parser.forms:
        form.page = url
        form.action = urlsplit(urljoin(url, form.action or url)).path
    return parser


def pattern(path: str) -> str:
    path = re.sub(r"/\d+", "/N", path)
    return re.sub(r"^/staff/admin/departments/[a-z][a-z0-9_]*$", "/staff/admin/departments/CODE", path)


async def crawl(client: StaffClient, starts: Iterable[str], limit: int = 400) -> tuple[list[Form], set[str]]:
    """GET pages breadth-first from ``starts``, following same-site links; the forms met and pages seen."""
    queue, seen, forms = list(starts), set(), []
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or SKIP.match(urlsplit(path).path):
            continue
        seen.add(path)
        resp = await client.get(path, allow_redirects=True)
        if resp.content_type != "text/html":
            resp.release()
            continue
        page = parse(str(resp.url), await resp.text())
        forms += page.forms
        for href in page.links:
            target = urlsplit(urljoin(str(resp.url), href))
            if target.netloc == urlsplit(client.base).netloc:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return forms, seen


def check(forms: list[Form], who: str) -> set[str]:
    """The rule, form by form; returns the session's tokens."""
    tokens = set()
    for form in forms:
        if form.method != "post":
            continue
        if not is_guarded(form.action):
            assert form.action in PUBLIC_FORMS, f"{who}: {form.page} posts to unguarded {form.action}"
            continue
        token = form.fields.get("csrf_token", "")
        assert token, f"{who}: {form.page} has a form to {form.action} without a CSRF token"
        tokens.add(token)
    return tokens


async def refused_pages(client: StaffClient, role: str, world: World, services) -> list[Form]:  # type: ignore[no-untyped-def]
    """Pages the server renders after refusing a form: they carry forms too."""
    forms: list[Form] = []

    async def post(path: str, data: dict[str, str]) -> None:
        resp = await client.post(path, data, allow_redirects=True)
        assert resp.status in (200, 409, 422), (path, resp.status, await resp.text())
        forms.extend(parse(str(resp.url), await resp.text()).forms)

    if role in ("operator", "supervisor", "admin"):
        number = world.tickets["in_progress"]
        await post(f"/staff/tickets/{number}/move", {"to": "done", "note": ""})  # «что сделано» is required
        await post("/staff/tickets/new", {"phone": "12"})
    # Every role's own account: starting two-factor sign-in shows the form that confirms it.
    await post("/staff/account/totp", {})
    await post("/staff/account/password", {"current": ""})  # the current password is required
    if role == "operator":
        callback_id = await callback_of(services, world.tickets["done"])
        await post(f"/staff/callbacks/{callback_id}/outcome", {"result": "not_satisfied", "comment": " "})
    return forms


async def callback_of(services, number: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from callcenter.store import models as m

    async with services.sessions() as session:
        return (
            await session.execute(
                select(m.Callback.id)
                .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
                .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
                .where(m.Ticket.number == number)
                .order_by(m.Callback.id.desc())
                .limit(1)
            )
        ).scalar_one()


async def test_every_post_form_for_every_role_carries_a_token(live_server: LiveServer) -> None:
    services = live_server.services
    world = await build_world(services)
    met: set[str] = set()
    user_ids = [str(u.id) for u in world.users.values()]
    for role in ROLES:
        # A second session of the same user: the account page lists it with a form to end it.
        async with (
            staff_client(live_server.url, LOGINS[role]) as _other,
            staff_client(live_server.url, LOGINS[role]) as client,
        ):
            extra = [f"/staff/tickets/{n}" for n in world.tickets.values()]
            extra += [f"/staff/tickets/{n}/edit" for n in world.tickets.values()]
            extra += [
                "/staff/tickets/new",
                "/staff/callbacks",
                "/staff/callbacks/mine",
                "/staff/calls",
                "/staff/admin/users",
                "/staff/admin/users/new",
                "/staff/admin/departments",
                "/staff/queue?department=vodokanal",
                "/staff/account",
                "/",
            ]
            extra += [f"/staff/admin/users/{i}" for i in user_ids]
            forms, seen = await crawl(client, ["/staff/", *extra])
            assert len(seen) > 10, (role, seen)
            forms += await refused_pages(client, role, world, services)
            tokens = check(forms, role)
            assert len(tokens) == 1, f"{role}: one session, one token; got {len(tokens)}"
            met |= {pattern(f.action) for f in forms if f.method == "post"}
            # The token on the pages is the one the server accepts: signing out with it works.
            resp = await client.post("/logout", {"csrf_token": tokens.pop()}, csrf=False)
            assert resp.status == 303, (role, resp.status)
            resp.release()
            assert (await client.get("/staff/")).status == 302  # signed out indeed

    async with staff_client(live_server.url) as visitor:
        forms, _ = await crawl(visitor, ["/", "/track", "/login", "/staff/"])
        resp = await visitor.post("/login", {"login": "op", "password": "не тот"}, allow_redirects=True)
        forms += parse(str(resp.url), await resp.text()).forms
        resp = await visitor.post(
            "/track", {"number": world.tickets["new"], "digits": "0001"}, csrf=False, allow_redirects=True
        )
        forms += parse(str(resp.url), await resp.text()).forms
        assert check(forms, "visitor"), "the login form carries a token"
        met |= {pattern(f.action) for f in forms if f.method == "post"}

    assert EXPECTED_ACTIONS - met == set(), "the crawl never met these forms"


def test_scripts_that_post_send_the_token() -> None:
    """Our scripts POST a form of the page (FormData carries its csrf_token field), JSON with the
    X-CSRF-Token header (the incident editor's live count), or to the portal."""
    posting = {}
    for script in sorted(WEB.rglob("*.js")):
        if "vendor" in script.parts:
            continue
        text = script.read_text()
        for call in re.finditer(r"fetch\(([^,]+),\s*\{[^}]*method:\s*\"POST\"[^}]*\}", text):
            posting.setdefault(script.relative_to(WEB).as_posix(), []).append(call.group(0))
    assert set(posting) == {"telephony/call.js", "portal/form.js", "incidents/editor.js"}, posting
    for call in posting["telephony/call.js"]:
        assert "fetch(form.action" in call and "new FormData(form)" in call, call
    for call in posting["incidents/editor.js"]:  # JSON to a staff route: the token goes in the header
        assert '"X-CSRF-Token": csrf' in call, call
    for call in posting["portal/form.js"]:
        assert re.match(r'fetch\("/portal/', call) and not is_guarded("/portal/"), call


@pytest.mark.browser
async def test_the_ticket_pages_call_button_posts_its_token(browser: Browser, live_server: LiveServer) -> None:
    world = await build_world(live_server.services)
    operator = await sign_in(browser, live_server.url, "op", STAFF_SIZES["1366x768"])
    await operator.goto(f"/staff/tickets/{world.tickets['new']}")
    await operator.page.locator("form.call-form").get_by_role("button", name="Позвонить").click()
    status = operator.page.locator("form.call-form .call-status")
    # The server heard the form (not a CSRF refusal) and says why nothing is dialled.
    await expect(status).to_have_text(re.compile("Телефония отключена"))
    assert operator.posted == ["/login", f"/staff/tickets/{world.tickets['new']}/call"]
    operator.check_clean()
    await operator.context.close()
