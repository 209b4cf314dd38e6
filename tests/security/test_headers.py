"""Browser security headers from the app itself, on every kind of answer, and the nginx sample's HSTS."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from callcenter.domain.tickets import Role
from tests.conftest import LiveServer
from tests.integration.test_staff_support import make_user, new_ticket, staff_client

NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx-callcenter.conf"


def assert_browser_headers(headers: aiohttp.typedefs.LooseHeaders) -> None:
    csp = headers["Content-Security-Policy"]
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'" and directives["form-action"] == "'self'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "path, status",
    [
        ("/", 200),
        ("/track", 200),
        ("/login", 200),
        ("/healthz", 200),
        ("/no-such-page", 404),
        ("/static/portal/form.js", 200),
        ("/api/streets/suggest?q=Ле", 200),
        ("/staff/", 302),
        ("/open311/v2/services.json", 200),
    ],
)
async def test_every_public_answer_carries_the_headers(live_server: LiveServer, path: str, status: int) -> None:
    async with aiohttp.ClientSession() as http, http.get(live_server.url + path, allow_redirects=False) as resp:
        assert resp.status == status
        assert_browser_headers(resp.headers)


async def test_staff_pages_and_json_are_never_stored(live_server: LiveServer) -> None:
    await make_user(live_server.services, "olga", Role.SUPERVISOR)
    ticket = await new_ticket(live_server.services)
    async with staff_client(live_server.url, "olga") as client:
        for path in (
            "/staff/",
            f"/staff/tickets/{ticket.number}",
            f"/staff/tickets/{ticket.number}/row",
            "/staff/board/counts",
            "/staff/calls/state",
            "/staff/export.csv",
            "/staff/callbacks",
        ):
            resp = await client.get(path)
            assert resp.status == 200, path
            assert resp.headers["Cache-Control"] == "no-store", path
            assert_browser_headers(resp.headers)
        sign_out = await client.post("/logout")
        assert sign_out.headers["Cache-Control"] == "no-store"
    async with aiohttp.ClientSession() as http, http.get(live_server.url + "/login") as resp:
        assert resp.headers["Cache-Control"] == "no-store"


async def test_public_static_files_stay_cacheable(live_server: LiveServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(live_server.url + "/static/portal/form.js") as resp:
        assert resp.headers.get("Cache-Control") != "no-store"


def test_the_nginx_sample_sends_hsts_everywhere() -> None:
    text = "\n".join(line.split("#")[0] for line in NGINX.read_text().splitlines())  # comments out
    assert text.count('add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;') == 2
    # Every location that adds its own header repeats HSTS (nginx drops the server's add_header there).
    for body in re.findall(r"^\s*location\s[^{]*\{(.*?)^\s*\}", text, re.MULTILINE | re.DOTALL):
        assert "add_header" not in body or "Strict-Transport-Security" in body
