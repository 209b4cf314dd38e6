"""The Open311 feature: GeoReport v2 at ``/open311/v2/`` and ``callcenter open311-key``."""

from __future__ import annotations

from aiohttp import web

from callcenter.features import Command, Feature
from callcenter.open311.api_keys import open311_keys
from callcenter.open311.cli import Open311KeyCommand
from callcenter.open311.georeport import OPEN311, REQUESTS_CACHE, Open311Api
from callcenter.open311.service import Open311Service
from callcenter.services import Services
from callcenter.web.public_cache import PublicCache
from callcenter.web.ratelimit import parse_networks


def setup(app: web.Application, services: Services) -> None:
    """Mount the Open311 endpoints (``app[OPEN311]`` is the service, for tests and other pages)."""
    service = Open311Service(
        services.settings, services.tickets, services.sessions, services.reference, services.gazetteer
    )
    cache = PublicCache(services.hub)
    api = Open311Api(service, open311_keys(services.sessions), parse_networks(services.settings.trusted_proxies), cache)
    app[OPEN311] = service
    app[REQUESTS_CACHE] = cache
    api.routes(app.router)

    async def close(_app: web.Application) -> None:
        cache.close()

    app.on_cleanup.append(close)


_KEYS = Open311KeyCommand()
FEATURE = Feature("open311", setup, commands=(Command(_KEYS.name, _KEYS.register, _KEYS.run, needs_database=True),))
