"""The ringing pop's small map (issue 14, item 4) in a real browser, at 1366×768 and 1920×1080.

The fake Asterisk replays the recorded queue call up to Operator One's ring; ``voice_live``
messages (what the AudioSocket feature publishes while the caller speaks) go through the hub:
first with no point («Адрес ещё не распознан», no map), then with a point and one open ticket
nearby, then with the point moved and a second ticket. The page runs under the app's real
Content-Security-Policy (no bypass): tile requests go to the configured ``tile_url`` host and
are answered here with a small PNG (nothing is fetched from the internet), so a loaded tile
proves the policy lets the tiles in. Screenshots go to /tmp/pop-map-*.png.
"""

from __future__ import annotations

import struct
import time
import zlib
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route

from callcenter.domain.tickets import Actor, Channel, Role
from callcenter.tickets.schemas import NewTicket
from tests.conftest import LiveServer
from tests.protocol.fake_ami import FakeAmi
from tests.telephony_fixtures import (  # noqa: F401 (fake, settings: fixtures)
    IVR_LEG,
    OP1,
    PASSWORD,
    QUEUE_CALL,
    TRACE_CALLER,
    connected,
    fake,
    index_of,
    make_user,
    queue_events,
    settings,
    stamp,
    varset_after,
)

POP = f'.pop[data-linkedid="{QUEUE_CALL}"]'
MAP = f"{POP} .pop-map"
FIRST = (44.6001, 33.5201)
MOVED = (44.6012, 33.5233)


def png_tile() -> bytes:
    """A valid 1×1 grey PNG: what the routed tile server answers."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xcc")) + chunk(b"IEND", b"")
    )


def ticket(number: str, lat: float, lon: float) -> dict[str, Any]:
    """An open ticket as the live transcript's duplicates search lists it (with its point)."""
    return {
        "number": number,
        "url": f"/staff/tickets/{number}",
        "category": "water_leak",
        "category_name": "Порыв водопровода",
        "address": "ул. Ленина, д. 5",
        "status": "new",
        "status_label": "Новая",
        "distance_m": 20,
        "same_address": True,
        "lat": lat,
        "lon": lon,
    }


def voice(text: str, point: tuple[float, float] | None, nearby: list[dict[str, Any]]) -> dict[str, Any]:
    lat, lon = point if point else (None, None)
    return {
        "type": "voice_live",
        "call_uniqueid": IVR_LEG,
        "phone": TRACE_CALLER,
        "kind": "ivr",
        "text": text,
        "final": False,
        "audio_seconds": 2.0,
        "suggestion": {
            "category": "water_leak",
            "category_name": "Порыв водопровода",
            "address": "ул. Ленина, д. 5" if point else None,
            "lat": lat,
            "lon": lon,
        },
        "nearby": nearby,
    }


@pytest.fixture
async def server(live_server: LiveServer, fake: FakeAmi) -> LiveServer:
    await connected(live_server, fake)
    return live_server


async def operator_page(browser: Browser, base: str, width: int, height: int, tiles: list[str]) -> Page:
    """Operator One signed in, under the real CSP, with tile requests answered locally."""
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="ru-RU", bypass_csp=False)
    page = await context.new_page()
    await page.add_init_script(
        """document.addEventListener("securitypolicyviolation",
             (e) => (window.cspViolations = window.cspViolations || []).push(e.violatedDirective + " " + e.blockedURI));"""
    )
    tile = png_tile()

    async def local_tile(route: Route) -> None:
        tiles.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=tile)

    await page.route("**/tile.openstreetmap.org/**", local_tile)
    await page.goto(base + "/login?next=/staff/")
    await page.fill("#f-login", "op1")
    await page.fill("#f-password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/staff/")
    await page.wait_for_selector('body[data-live="connected"]', state="attached")
    return page


async def on_screen(page: Page, selector: str) -> bool:
    """The element lies inside the viewport and is the topmost thing at its centre."""
    return await page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            const r = el.getBoundingClientRect();
            if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) { return false; }
            const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return top === el || el.contains(top);
        }""",
        selector,
    )


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
async def test_the_ringing_pop_maps_the_named_place_and_the_open_tickets_there(
    server: LiveServer, fake: FakeAmi, browser: Browser, width: int, height: int
):
    await make_user(server.services, "op1", device=OP1, full_name="Анна Операторова")
    for n in range(6):  # a regular caller: the pop's history table makes it long
        await server.services.tickets.create(
            NewTicket(
                channel=Channel.WEB,
                phone=TRACE_CALLER,
                category="no_water",
                title=f"Нет воды, обращение {n + 1}",
                description="Нет воды во всём доме",
                address="ул. Ленина, 5",
            ),
            Actor(role=Role.OPERATOR, name="Оператор из теста"),
        )
    tiles: list[str] = []
    page = await operator_page(browser, server.url, width, height, tiles)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    hub = server.services.hub

    hub.publish(voice("на улице", None, []))  # said before the queue: no place yet
    events = stamp(varset_after(queue_events(), "IVR_PATH", "1>water_leak>record"), time.time() - 60)
    await fake.send_frames(events[: index_of(events, "AgentCalled") + 1])
    await page.wait_for_selector(f'{POP}[data-complete="1"] .pop-live')
    assert await page.locator(f"{POP} .pop-tickets tr").count() == 6
    assert await page.locator(f"{POP} .pop-map-none").inner_text() == "Адрес ещё не распознан"
    assert await page.locator(MAP).count() == 0

    hub.publish(voice("на улице ленина дом пять", FIRST, [ticket("2600042", 44.6003, 33.5203)]))
    await page.wait_for_selector(f'{MAP}[data-tickets="1"]')
    await page.wait_for_selector(f"{MAP} img.leaflet-tile-loaded")  # a tile came through the CSP
    the_map = page.locator(MAP)
    assert (await the_map.get_attribute("data-lat"), await the_map.get_attribute("data-lon")) == tuple(map(str, FIRST))
    assert await page.locator(f"{MAP}.leaflet-container path.pop-map-place").count() == 1
    assert await page.locator(f"{MAP} path.pop-map-ticket").count() == 1
    assert await page.locator(f"{POP} .pop-map-none").count() == 0
    osm = page.locator(f"{POP} a.pop-live-map")
    assert await osm.inner_text() == "открыть на карте"
    assert f"mlat={FIRST[0]}&mlon={FIRST[1]}" in (await osm.get_attribute("href") or "")
    # Remember the map's element and its place marker: the next update must move, not redraw.
    await page.evaluate(
        """(selector) => { const box = document.querySelector(selector);
            box.probe = "first"; window.placeMarker = box.querySelector("path.pop-map-place"); }""",
        MAP,
    )

    hub.publish(
        voice(
            "на улице ленина дом пять нет на улице гагарина",
            MOVED,
            [ticket("2600042", 44.6010, 33.5231), ticket("2600077", 44.6014, 33.5236)],
        )
    )
    await page.wait_for_selector(f'{MAP}[data-tickets="2"][data-lat="{MOVED[0]}"]')
    await page.screenshot(path=f"/tmp/pop-map-{width}x{height}.png")
    same = await page.evaluate(
        """(selector) => { const box = document.querySelector(selector);
            return [box.probe, box.querySelector("path.pop-map-place") === window.placeMarker,
                    document.querySelectorAll(selector).length]; }""",
        MAP,
    )
    assert same == ["first", True, 1], "the map was re-created instead of updated"
    assert await the_map.get_attribute("data-lon") == str(MOVED[1])
    assert await page.locator(f"{MAP} path.pop-map-ticket").count() == 2
    nearby = await page.locator(f"{POP} .pop-nearby").inner_text()
    assert "№ 2600042" in nearby and "№ 2600077" in nearby
    assert f"mlat={MOVED[0]}" in (await osm.get_attribute("href") or "")

    # The pop fits: its button and its map are on screen, not under anything.
    assert await on_screen(page, f"{POP} a.pop-new"), "the pop's button is off screen"
    assert await on_screen(page, MAP), "the pop's map is off screen"

    # A ticket's marker links to that ticket.
    await page.locator(f"{MAP} path.pop-map-ticket-2600077").click()
    popup_link = page.locator(f'{MAP} .leaflet-popup-content a[href="/staff/tickets/2600077"]')
    await popup_link.wait_for()
    assert await popup_link.inner_text() == "Заявка № 2600077"
    assert await on_screen(page, f"{POP} a.pop-new")

    assert tiles and all("tile.openstreetmap.org" in url for url in tiles)
    assert await page.evaluate("() => window.cspViolations || []") == []
    assert errors == []
