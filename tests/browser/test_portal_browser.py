"""A citizen in a real browser: files a request with a photo and a map point, tracks it, finds it on the map.

No tile server is reachable here (as on the project's machines): tile requests are refused and
the problem points must still be drawn. Screenshots go to /tmp/portal-*.png for a look.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, Route, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp")


def write_jpeg(path: Path) -> Path:
    image = Image.new("RGB", (800, 600), (70, 110, 160))
    for x in range(200, 600):
        for y in range(250, 350):
            image.putpixel((x, y), (40, 40, 40))  # a dark "pothole" band, so the thumbnail shows something
    out = io.BytesIO()
    image.save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


async def open_portal(browser: Browser, live_server: LiveServer) -> tuple[Page, list[str], list[str]]:
    page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    errors: list[str] = []
    tiles: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    async def no_tiles(route: Route) -> None:
        tiles.append(route.request.url)
        await route.abort("internetdisconnected")

    await page.route("**/tile.openstreetmap.org/**", no_tiles)
    await page.goto(live_server.url + "/", wait_until="domcontentloaded")
    await page.wait_for_function("Number(document.getElementById('problem-map').dataset.loads || 0) >= 1")
    return page, errors, tiles


async def test_citizen_files_tracks_and_finds_the_problem_on_the_map(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    page, errors, tiles = await open_portal(browser, live_server)
    await page.select_option("#category", "road_pothole")
    await page.fill("#address", "ул. Ленина, д. 5")
    await page.fill("#description", "Глубокая яма на проезжей части, машины объезжают по встречной")
    await page.fill("#name", "Алексей")
    await page.fill("#phone", "8 978 123-45-67")
    await page.check("#consent")
    await page.set_input_files("#photos", str(write_jpeg(tmp_path / "яма.jpg")))
    await expect(page.locator("#photo-list li img")).to_have_count(1)
    await expect(page.locator("#photo-list li")).to_contain_text("яма.jpg")

    box = await page.locator("#problem-map").bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)
    await expect(page.locator("#pick-status")).to_contain_text("Место отмечено на карте")
    lat, lon = float(await page.input_value("#lat")), float(await page.input_value("#lon"))
    assert 44.37 < lat < 44.8 and 33.35 < lon < 33.95
    await page.screenshot(path=str(SHOTS / "portal-form.png"), full_page=True)

    await page.click("#submit-button")
    await page.wait_for_url("**/submitted/*")
    number = await page.get_attribute("#ticket-number", "data-number")
    assert number and number.isdigit()
    await page.screenshot(path=str(SHOTS / "portal-submitted.png"))
    detail = await live_server.services.tickets.detail(number)
    assert (detail.ticket.lat, detail.ticket.lon) == (lat, lon) and detail.ticket.phone == "+79781234567"
    assert [a.kind for a in detail.attachments] == ["photo"]

    await page.click("#track-link")
    await expect(page.locator("#number")).to_have_value(number)
    await page.fill("#digits", "4567")
    await page.click(".track-form button[type=submit]")
    await expect(page.locator("#ticket-status")).to_have_text("Новая")
    photo = page.locator(".public-photos img")
    await expect(photo).to_have_count(1)
    # Wait for the image itself (the staff page's photo is loading="lazy": below the fold at
    # 1366x768 it loads only once scrolled to), then check it decoded.
    await photo.scroll_into_view_if_needed()
    await expect(photo).to_have_js_property("complete", True)
    assert await photo.evaluate("img => img.naturalWidth > 0")
    await expect(page.locator("#timeline")).to_contain_text("Обращение зарегистрировано (Портал)")
    assert "Алексей" not in await page.content()
    await page.screenshot(path=str(SHOTS / "portal-track.png"), full_page=True)

    page, more_errors, more_tiles = await open_portal(browser, live_server)
    point = page.locator("path.problem-point.status-new")
    await expect(point).to_have_count(1)
    await point.click()
    await expect(page.locator(".leaflet-popup-content")).to_contain_text(f"Заявка № {number}")
    await expect(page.locator(".leaflet-popup-content")).to_contain_text("Яма на дороге")
    await expect(page.locator("#map-note")).to_be_visible()  # tiles failed, and the page says so
    assert tiles and more_tiles, "the map did try its tile server"
    await page.screenshot(path=str(SHOTS / "portal-map.png"))
    assert errors == [] and more_errors == []


async def test_bad_input_in_the_browser_keeps_text_and_the_uploaded_photo(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    page, errors, _ = await open_portal(browser, live_server)
    await page.select_option("#category", "garbage")
    await page.fill("#address", "ул. Ленина, д. 3")
    await page.fill("#description", "Контейнеры переполнены, мусор не вывозят неделю")
    await page.fill("#phone", "12")
    not_a_photo = tmp_path / "отчёт.jpg"
    not_a_photo.write_text("это текстовый файл, а не фото")
    await page.set_input_files("#photos", [str(write_jpeg(tmp_path / "двор.jpg")), str(not_a_photo)])
    await expect(page.locator("#err-photos")).to_contain_text("«отчёт.jpg» не является фотографией")
    await expect(page.locator("#photo-list li")).to_have_count(1)
    await page.click("#submit-button")

    await expect(page.locator("#err-phone")).to_be_visible()
    await expect(page.locator("#err-consent")).to_be_visible()
    await expect(page.locator("#description")).to_have_value("Контейнеры переполнены, мусор не вывозят неделю")
    await expect(page.locator("#address")).to_have_value("ул. Ленина, д. 3")
    await expect(page.locator("#photo-list li img")).to_have_count(1)  # the photo survived the round trip
    await page.screenshot(path=str(SHOTS / "portal-errors.png"), full_page=True)

    await page.fill("#phone", "+7 978 000-11-22")
    await page.check("#consent")
    await page.click("#submit-button")
    await page.wait_for_url("**/submitted/*")
    number = await page.get_attribute("#ticket-number", "data-number")
    assert len((await live_server.services.tickets.detail(number or "")).attachments) == 1
    assert errors == []
