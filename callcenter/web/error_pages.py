"""One error middleware: domain errors and library errors become HTTP answers here, and only here."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from callcenter.domain.errors import (
    ConflictError,
    DomainError,
    IllegalTransition,
    MissingField,
    NotFound,
    PermissionDenied,
    ValidationError,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (PermissionDenied, 403),
    (ConflictError, 409),
    (IllegalTransition, 409),
    (MissingField, 422),
    (ValidationError, 422),
    (DomainError, 400),
]

STORE_DOWN = "База данных временно недоступна. Ничего не потеряно: повторите действие через минуту."


BAD_CHARACTERS = "Запрос содержит недопустимые символы (например, нулевой байт): исправьте текст и повторите."


def _refused_value(err: DBAPIError) -> bool:
    """PostgreSQL's "data exception" class (SQLSTATE 22xxx, e.g. 22021: a NUL byte in text): the
    value sent was bad; asyncpg's adapter does not always raise these as DataError."""
    return str(getattr(err.orig, "sqlstate", "") or "").startswith("22")


def _client_gone(request: web.Request) -> bool:
    """The browser closed the connection (a reset or an unfinished body), not the database."""
    transport = request.transport
    return transport is None or transport.is_closing()


def status_for(error: DomainError) -> int:
    return next(code for cls, code in STATUS_BY_ERROR if isinstance(error, cls))


def wants_json(request: web.Request) -> bool:
    return (
        request.path.startswith(("/api/", "/open311/"))
        or "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "fetch"
    )


def render_error(request: web.Request, status: int, message: str, code: str) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": code, "message": message}, status=status)
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"status": status, "message": message, "code": code}
    )
    response.set_status(status)
    return response


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405) and not (exc.text or "").startswith("{"):
            message = "Страница не найдена" if exc.status == 404 else "Этот метод здесь не поддерживается"
            return render_error(request, exc.status, message, "not_found" if exc.status == 404 else "bad_method")
        if exc.status == 413:
            return render_error(request, 413, "Слишком большой запрос: уменьшите размер или число файлов", "too_large")
        raise
    except DomainError as err:
        return render_error(request, status_for(err), err.message, err.code)
    except DataError:
        # The database refused a value the client sent (PostgreSQL: a NUL byte, an invalid
        # character): a bad request, not an outage.
        return render_error(request, 400, BAD_CHARACTERS, "bad_characters")
    except ConnectionError as err:
        if _client_gone(request):
            logger.info("client went away during %s %s: %s", request.method, request.path, err)
            raise
        logger.error("database unavailable during %s %s: %s", request.method, request.path, err)
        return render_error(request, 503, STORE_DOWN, "store_unavailable")
    except (OperationalError, DBAPIError) as err:
        if _refused_value(err):
            return render_error(request, 400, BAD_CHARACTERS, "bad_characters")
        logger.error("database unavailable during %s %s: %s", request.method, request.path, err)
        return render_error(request, 503, STORE_DOWN, "store_unavailable")
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return render_error(request, 500, "Внутренняя ошибка сервера. Мы уже знаем о ней.", "internal")
