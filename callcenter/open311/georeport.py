"""Open311 GeoReport v2 endpoints under ``/open311/v2/`` (JSON and XML by the path's extension).

    GET  discovery.{json|xml}                 service discovery
    GET  services.{json|xml}                  the service list (our categories)
    GET  services/{service_code}.{json|xml}   a service definition with its attributes
    POST requests.{json|xml}                  create (form-urlencoded; api_key required)
    GET  requests.{json|xml}                  query (service_request_id, service_code, start_date,
                                              end_date, status; extensions: extended_status, page, page_size)
    GET  requests/{service_request_id}.{json|xml}

Every error, including unknown paths under the prefix, comes in the specification's format.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from callcenter.accounts.api_keys import ApiKeys
from callcenter.open311.formats import Format, error_response, format_of, respond
from callcenter.open311.service import Open311Error, Open311Service
from callcenter.web.error_pages import STORE_DOWN
from callcenter.web.public_cache import PublicCache
from callcenter.web.ratelimit import IPNetwork, RateLimiter, client_address

logger = logging.getLogger(__name__)

PREFIX = "/open311/v2"
MAX_CACHED_QUERY = 512  # longer query strings (long id lists) are answered without the cache
MAX_POST_BYTES = 256 * 1024
MAX_POST_FIELDS = 100  # GeoReport v2 POST has about 15 fields plus a few attribute[] entries
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
OPEN311 = web.AppKey("open311", Open311Service)
REQUESTS_CACHE = web.AppKey("open311_requests_cache", PublicCache)


class Open311Api:
    """The endpoint handlers with their service, keys and rate limits."""

    def __init__(
        self,
        service: Open311Service,
        keys: ApiKeys,
        trusted: tuple[IPNetwork, ...],
        cache: PublicCache | None = None,
    ) -> None:
        self.service = service
        self.cache = cache  # public lists, the same for every client (web/public_cache.py)
        self.keys = keys
        self.trusted = trusted
        self.reads = RateLimiter(300, 60)  # per client address
        self.writes = RateLimiter(120, 600)  # per API key: a busy partner app, not a flood
        self.bad_keys = RateLimiter(20, 600)  # per client address: wrong keys

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(PREFIX + "/discovery.{fmt:[A-Za-z]+}", self.discovery, name="open311_discovery")
        router.add_get(PREFIX + "/services.{fmt:[A-Za-z]+}", self.services_list, name="open311_services")
        router.add_get(PREFIX + "/services/{code}.{fmt:[A-Za-z]+}", self.definition, name="open311_definition")
        router.add_get(PREFIX + "/requests.{fmt:[A-Za-z]+}", self.query, name="open311_requests")
        router.add_post(PREFIX + "/requests.{fmt:[A-Za-z]+}", self.create, name="open311_create")
        router.add_get(PREFIX + "/requests/{id}.{fmt:[A-Za-z]+}", self.request_one, name="open311_request")
        router.add_route("*", PREFIX + "/{tail:.*}", self.unknown, name="open311_unknown")
        router.add_route("*", PREFIX, self.unknown)

    # ------------------------------------------------------------------ helpers

    def _format(self, request: web.Request) -> Format:
        fmt = format_of(request.match_info.get("fmt", ""))
        if fmt is None:
            raise Open311Error(404, "Формат ответа: .json или .xml")
        return fmt

    def _read_allowed(self, request: web.Request) -> None:
        if not self.reads.allow(client_address(request, self.trusted)):
            raise Open311Error(429, "Слишком много запросов: не более 300 в минуту с одного адреса")

    async def _answer(self, request: web.Request, work: Any) -> web.Response:
        """Run ``work(fmt)``; Open311Error becomes the specification's error body."""
        fmt = format_of(request.match_info.get("fmt", "")) or Format.JSON
        try:
            fmt = self._format(request)
            return await work(fmt)
        except Open311Error as err:
            return error_response(fmt, err.status, *err.descriptions)
        except DataError:  # e.g. a NUL byte PostgreSQL will not store: the client's input, not an outage
            return error_response(fmt, 400, "Запрос содержит недопустимые символы")
        except (OperationalError, DBAPIError, ConnectionRefusedError) as err:
            # Partners parse GeoReport errors: an outage is answered in that format too.
            logger.error("database unavailable during %s %s: %s", request.method, request.path, err)
            return error_response(fmt, 503, STORE_DOWN)

    # ------------------------------------------------------------------ handlers

    async def discovery(self, request: web.Request) -> web.Response:
        async def work(fmt: Format) -> web.Response:
            base = self.service.settings.public_url.rstrip("/") + PREFIX
            return respond(
                fmt,
                "discovery",
                {
                    "changeset": "2026-11-29T00:00:00+03:00",
                    "contact": "Единая диспетчерская служба 1563, Севастополь; телефон 1563",
                    "key_service": "Ключ API выдаёт администратор службы 1563 (callcenter open311-key add)",
                    "endpoints": [
                        {
                            "specification": SPECIFICATION,
                            "url": base,
                            "changeset": "2026-11-29T00:00:00+03:00",
                            "type": "production",
                            "formats": ["text/xml", "application/json"],
                        }
                    ],
                },
            )

        return await self._answer(request, work)

    async def services_list(self, request: web.Request) -> web.Response:
        async def work(fmt: Format) -> web.Response:
            self._read_allowed(request)
            self.service.check_jurisdiction(request.query.get("jurisdiction_id"))
            return respond(fmt, "services", self.service.services())

        return await self._answer(request, work)

    async def definition(self, request: web.Request) -> web.Response:
        async def work(fmt: Format) -> web.Response:
            self._read_allowed(request)
            self.service.check_jurisdiction(request.query.get("jurisdiction_id"))
            return respond(fmt, "service_definition", self.service.definition(request.match_info["code"]))

        return await self._answer(request, work)

    async def query(self, request: web.Request) -> web.Response:
        async def work(fmt: Format) -> web.Response:
            self._read_allowed(request)
            query = self.service.parse_query(request.query)  # a bad filter is refused before the cache

            async def make() -> tuple[bytes, str]:
                answer = respond(fmt, "service_requests", await self.service.requests(query))
                return answer.body, answer.content_type  # type: ignore[return-value]

            if self.cache is None or len(request.query_string) > MAX_CACHED_QUERY:
                body, content_type = await make()
            else:
                key = ("requests", fmt.value, tuple(sorted(request.query.items())))
                body, content_type = await self.cache.get(key, make)
            return web.Response(body=body, content_type=content_type, charset="utf-8")

        return await self._answer(request, work)

    async def request_one(self, request: web.Request) -> web.Response:
        async def work(fmt: Format) -> web.Response:
            self._read_allowed(request)
            self.service.check_jurisdiction(request.query.get("jurisdiction_id"))
            return respond(fmt, "service_requests", await self.service.one(request.match_info["id"]))

        return await self._answer(request, work)

    async def create(self, request: web.Request) -> web.Response:
        async def work(fmt: Format) -> web.Response:
            fields = await _bounded_post(request)
            text_fields = {k: v for k, v in fields.items() if isinstance(v, str)}
            key = await self._key(request, text_fields.get("api_key") or request.query.get("api_key"))
            if not self.writes.allow(str(key.id)):
                raise Open311Error(429, "Слишком много новых заявок с этим ключом: не более 120 за 10 минут")
            created = await self.service.create(_FieldView(fields), key)
            await self.keys.touch(key.id)
            logger.info("open311 request %s created by %s", created["service_request_id"], key.owner)
            return respond(fmt, "service_requests", [created])

        return await self._answer(request, work)

    async def _key(self, request: web.Request, raw: str | None) -> Any:
        client = client_address(request, self.trusted)
        if not self.bad_keys.would_allow(client):
            raise Open311Error(429, "Слишком много попыток с неверным api_key: подождите 10 минут")
        if not raw:
            raise Open311Error(400, "api_key: не указан ключ API")
        key = await self.keys.check(raw)
        if key is None:
            self.bad_keys.allow(client)
            raise Open311Error(403, "api_key недействителен или отозван")
        return key

    async def unknown(self, request: web.Request) -> web.Response:
        fmt = Format.XML if request.path.endswith(".xml") else Format.JSON
        return error_response(fmt, 404, f"Нет такого метода Open311: {request.method} {request.path[:200]}")


async def _bounded_post(request: web.Request) -> Any:
    """The POST fields, refused past MAX_POST_BYTES however the body is sent (Content-Length or chunked)."""
    too_large = Open311Error(413, f"Запрос больше {MAX_POST_BYTES // 1024} КБ")
    if request.content_length is not None and request.content_length > MAX_POST_BYTES:
        raise too_large
    try:
        # The clone counts every byte it reads, so a chunked body stops at the limit too.
        return await request.clone(client_max_size=MAX_POST_BYTES, client_max_fields=MAX_POST_FIELDS).post()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    except web.HTTPBadRequest as err:  # aiohttp's "too many fields"
        raise Open311Error(400, "Слишком много полей в запросе") from err


class _FieldView(dict[str, str]):
    """Text fields of a POST as a mapping that also answers ``getall`` (for attribute[] lists)."""

    def __init__(self, fields: Any) -> None:
        super().__init__((k, v) for k, v in fields.items() if isinstance(v, str))
        self._fields = fields

    def getall(self, name: str, default: Any = None) -> list[str]:
        return [v for v in self._fields.getall(name, default or []) if isinstance(v, str)]
