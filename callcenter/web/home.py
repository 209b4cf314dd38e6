"""The home page at `/` (the citizens' portal replaces its content when it lands)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web


def setup(app: web.Application, services: Any) -> None:
    app.router.add_get("/", home, name="home")


@aiohttp_jinja2.template("home.html")
async def home(request: web.Request) -> dict[str, Any]:
    return {}
