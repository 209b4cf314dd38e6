"""Browser security headers on every answer (pages, JSON, static files, errors, redirects).

- Content-Security-Policy: scripts only from this site (every page loads vendored files
  from /static; no inline script, handler or ``javascript:`` URL), no framing, no plugins,
  forms post only here. Styles allow inline ``style=`` attributes: the status colours in
  the templates and Leaflet's marker layout use them, and a style attribute cannot run code.
  Images may also come from the map tile server named in ``tile_url``.
- X-Frame-Options DENY (for browsers without frame-ancestors), nosniff, a strict referrer policy.
- ``Cache-Control: no-store`` on staff pages, staff JSON, sign-in and tracking answers: they
  carry personal data and must not stay in a shared computer's cache or a proxy.
HSTS belongs to the TLS terminator (deploy/nginx-callcenter.conf): the app may run on plain
HTTP behind it and must not pin HTTPS for a host it does not serve.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

PRIVATE_PREFIXES = ("/staff", "/login", "/logout", "/track", "/ws", "/submitted/")


def content_security_policy(tile_url: str) -> str:
    tiles = urlsplit(tile_url)
    tile_origin = f"{tiles.scheme}://{tiles.netloc.replace('{s}', '*')}"  # {s}.tile... is a subdomain wildcard
    img = "'self' data: blob:" + (f" {tile_origin}" if tiles.scheme in ("http", "https") and tiles.netloc else "")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {img}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def is_private(path: str) -> bool:
    return path.startswith(PRIVATE_PREFIXES)


def install(app: web.Application, tile_url: str) -> None:
    policy = content_security_policy(tile_url)

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), payment=(), geolocation=(self)")
        if is_private(request.path):
            headers["Cache-Control"] = "no-store"

    app.on_response_prepare.append(add_headers)
