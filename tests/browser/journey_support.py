"""Helpers for the browser journeys (this module holds no tests of its own).

A ``Person`` is one user's browser context at one screen size. It records what a user would
notice and a unit test would not: script errors, and any form the browser posts to a guarded
path (staff pages, /login, /logout) without a CSRF token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Browser, BrowserContext, Locator, Page, Request, expect

from tests.integration.test_staff_support import PASSWORD

WAIT = 15_000
# A bound on waiting, not a timing assertion: six suites may share two cores, and a page that
# takes 6 s to come back then is slow, not broken.
expect.set_options(timeout=WAIT)
SHOTS = Path("/tmp/journey-shots")
STAFF_SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}
PHONE_SIZE = (390, 844)
CSRF_IN_MULTIPART = re.compile(rb'name="csrf_token"\r\n\r\n([^\r]+)\r\n')


def is_guarded(path: str) -> bool:
    """The paths whose POSTs the staff middleware checks for a CSRF token."""
    return path == "/staff" or path.startswith("/staff/") or path in ("/login", "/logout")


def posted_csrf(request: Request) -> str:
    """The CSRF token a POST carries: the X-CSRF-Token header or the csrf_token form field."""
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    body = request.post_data_buffer or b""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        found = CSRF_IN_MULTIPART.search(body)
        return found.group(1).decode() if found else ""
    return parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [""])[0]


@dataclass
class Person:
    """One user in one browser context."""

    name: str
    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    tokenless_posts: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)  # paths of the guarded POSTs seen

    @property
    def context(self) -> BrowserContext:
        return self.page.context

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def shot(self, label: str, *, full_page: bool = False) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size or {"width": 0, "height": 0}
        path = SHOTS / f"{self.name}-{label}-{size['width']}x{size['height']}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def check_clean(self) -> None:
        """No script errors happened, and every guarded POST carried a token."""
        assert self.errors == [], f"{self.name}: script errors {self.errors}"
        assert self.tokenless_posts == [], f"{self.name}: POSTs without a CSRF token {self.tokenless_posts}"


async def open_person(browser: Browser, base: str, name: str, size: tuple[int, int]) -> Person:
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="ru-RU")
    page = await context.new_page()
    person = Person(name, page, base)
    page.on("pageerror", lambda exc: person.errors.append(str(exc)))

    def on_request(request: Request) -> None:
        if request.method != "POST" or not is_guarded(urlsplit(request.url).path):
            return
        person.posted.append(urlsplit(request.url).path)
        if not posted_csrf(request):
            person.tokenless_posts.append(request.url)

    context.on("request", on_request)
    # No tile server is reachable on the test machines: refuse tiles at once instead of waiting.
    await context.route("**/tile.openstreetmap.org/**", lambda route: route.abort("internetdisconnected"))
    return person


async def sign_in(browser: Browser, base: str, login: str, size: tuple[int, int]) -> Person:
    """A staff member signs in through the login form, as on any morning."""
    person = await open_person(browser, base, login, size)
    await person.goto("/login")
    await person.page.fill("#f-login", login)
    await person.page.fill("#f-password", PASSWORD)
    await person.page.click("button[type=submit]")
    await person.page.wait_for_load_state()
    assert "/login" not in person.page.url, f"{login} could not sign in"
    return person


async def horizontal_overflow(page: Page) -> dict[str, object]:
    """How far the document, and any box that scrolls sideways, is wider than what the user sees."""
    return await page.evaluate("""() => {
      const doc = document.scrollingElement;
      const boxes = [];
      for (const el of document.querySelectorAll('body *')) {
        const style = getComputedStyle(el);
        if (!['auto', 'scroll'].includes(style.overflowX) || el.clientWidth === 0) continue;
        if (el.scrollWidth > el.clientWidth + 1) {
          boxes.push((el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + [...el.classList].join('.'))
                     + ' ' + el.scrollWidth + '>' + el.clientWidth);
        }
      }
      return {document: Math.max(0, doc.scrollWidth - window.innerWidth), boxes};
    }""")


async def assert_no_sideways_scrolling(page: Page, where: str) -> None:
    overflow = await horizontal_overflow(page)
    assert overflow["document"] == 0 and overflow["boxes"] == [], f"{where} scrolls sideways: {overflow}"


async def assert_fully_visible(locator: Locator, where: str) -> None:
    """The element is drawn inside the viewport and inside every box that clips it (no sideways scroll)."""
    await expect(locator).to_be_visible()
    clipped = await locator.evaluate("""el => {
      const r = el.getBoundingClientRect();
      const out = [];
      if (r.left < 0 || r.right > window.innerWidth)
        out.push('viewport ' + r.left + '..' + r.right + ' of ' + window.innerWidth);
      for (let p = el.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX === 'visible') continue;
        const b = p.getBoundingClientRect();
        if (r.left < b.left - 1 || r.right > b.right + 1)
          out.push(p.tagName + '.' + p.className + ' ' + b.left + '..' + b.right);
      }
      return out;
    }""")
    assert clipped == [], f"{where}: cut off by {clipped}"


# ---------------------------------------------------------------------- a working day's data


LONG_ADDRESS = "улица Генерала Хрюкина, д. 50, корп. 2, кв. 169, подъезд 3 (вход со двора)"
LONG_TEXT = (
    "Третий день во дворе из-под асфальта бьёт вода, затопило подвал и детскую площадку; "
    "жильцы звонили в управляющую компанию, но никто не приехал. Просьба разобраться как можно скорее."
)


@dataclass
class World:
    """Users of every role and tickets in every state, for crawls and screenshots."""

    users: dict[str, object]
    tickets: dict[str, str]  # state -> ticket number


async def build_world(services) -> World:  # type: ignore[no-untyped-def]
    """Users of every role; tickets of every channel and status; callbacks due, and one unreachable.

    Needs callbacks in operator mode with no delay (the modules' ``settings`` fixture).
    """
    from callcenter.domain.tickets import Channel, Role, Status
    from tests.integration.test_staff_support import OPERATOR_ACTOR, make_user, new_ticket

    users = {
        "operator": await make_user(services, "op", Role.OPERATOR),
        "executor": await make_user(services, "ex", Role.EXECUTOR, department="vodokanal"),
        "supervisor": await make_user(services, "sv", Role.SUPERVISOR),
        "analyst": await make_user(services, "an", Role.ANALYST),
        "admin": await make_user(services, "ad", Role.ADMIN),
    }
    staff = OPERATOR_ACTOR
    tickets: dict[str, str] = {}

    async def ticket(state: str, phone: str, **kw: object) -> str:
        made = await new_ticket(services, phone=phone, **kw)
        tickets[state] = made.number
        return made.number

    await ticket("new", "+7 978 100-00-01", channel=Channel.PHONE, address=LONG_ADDRESS, description=LONG_TEXT)
    await ticket(
        "draft",
        "+7 978 100-00-02",
        channel=Channel.IVR,
        is_draft=True,
        category=None,
        title="",
        description="Голосовое сообщение: «у нас на Острякова не горят фонари уже неделю»",
        extra={"ivr_path": "1,3"},
    )
    await ticket(
        "open311",
        "+7 978 100-00-03",
        channel=Channel.OPEN311,
        category="road_pothole",
        title="Яма на дороге",
        address="проспект Октябрьской Революции, д. 44",
    )
    for state, phone in (
        ("dispatched", "+7 978 100-00-04"),
        ("in_progress", "+7 978 100-00-05"),
        ("done", "+7 978 100-00-06"),
        ("closed", "+7 978 100-00-07"),
        ("unreachable", "+7 978 100-00-08"),
        ("archived", "+7 978 100-00-09"),
    ):
        number = await ticket(state, phone, address=LONG_ADDRESS, description=LONG_TEXT)
        await services.tickets.move(number, Status.DISPATCHED, staff, department="vodokanal")
        if state == "dispatched":
            continue
        await services.tickets.move(number, Status.IN_PROGRESS, staff)
        if state == "in_progress":
            continue
        await services.tickets.move(number, Status.DONE, staff, note="Заменили участок трубы, подвал осушили")
        if state in ("closed", "archived"):
            await services.tickets.move(number, Status.CLOSED, staff, note="Заявитель подтвердил по телефону")
        if state == "archived":
            await services.tickets.move(number, Status.ARCHIVED, staff)
    rejected = await ticket("rejected", "+7 978 100-00-10")
    await services.tickets.move(rejected, Status.REJECTED, staff, note="Не в ведении города: частная территория")

    # The «unreachable» ticket's callback: busy at every attempt, so it waits for a supervisor.
    from sqlalchemy import select

    from callcenter.store import models as m

    async with services.sessions() as session:
        callback_id = (
            await session.execute(
                select(m.Callback.id)
                .join(m.CallbackTicket, m.CallbackTicket.callback_id == m.Callback.id)
                .join(m.Ticket, m.Ticket.id == m.CallbackTicket.ticket_id)
                .where(m.Ticket.number == tickets["unreachable"])
            )
        ).scalar_one()
    for _ in range(services.settings.callback_max_attempts):
        await services.callbacks.service.record_operator_outcome(callback_id, users["operator"], "busy")
    async with services.sessions() as session:
        assert (await session.get(m.Callback, callback_id)).state == "unreachable"  # type: ignore[union-attr]
    return World(users, tickets)
