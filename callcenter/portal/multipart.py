"""Reading a form with files as a stream, with limits per file, per field and per request.

aiohttp's ``request.post()`` would hold the whole body and gives no say per file. Here a
file over the photo limit is refused (with a message naming it) while the rest of the
form is still read, so the citizen's text is never lost for one big photo.

Bounds (a hostile review froze the server with 100,000 empty parts in 5.6 MB): at most
``MAX_PARTS`` parts, and the byte budget is spent on every byte parsed (each part's delimiter
and header lines too, however the body is framed), not only on part contents.
Each part is parsed in bounded steps with a turn of the event loop between parts.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam
from multidict import MultiDict

from callcenter.portal.photos import PhotoLimits, PhotoRejected, check_size
from callcenter.portal.service import Upload
from callcenter.portal.uploads import display_name

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_FIELD_BYTES = 64 * 1024
# The portal form has about 12 text fields, a few kept-photo ids and up to max_photos files:
# 64 parts leave room for all of them and stop a many-parts body after a few milliseconds.
MAX_PARTS = 64
BROKEN_PART = "Один из файлов пришёл повреждённым и не добавлен: приложите фото ещё раз"
TOO_MANY_PARTS = "Слишком много полей в форме: отправьте форму со страницы 1563"


class TooManyParts(web.HTTPBadRequest):
    """A form with more parts than any page of ours sends."""

    def __init__(self) -> None:
        super().__init__(text=TOO_MANY_PARTS)


@dataclass
class ReadForm:
    fields: MultiDict[str] = field(default_factory=MultiDict)
    uploads: list[Upload] = field(default_factory=list)
    truncated: bool = False  # keep_partial: the budget ran out, the rest of the body was not read


def too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1)


async def read_form(
    request: web.Request, *, max_file_bytes: int, max_files: int, max_request_bytes: int, keep_partial: bool = False
) -> ReadForm:
    """Fields and files of a POST; raises 413 only when the whole request is over its limit.

    With ``keep_partial`` a body over the limit is not an error: reading stops there and the
    fields read so far are returned (``truncated`` set).
    """
    if request.content_type != "multipart/form-data":
        if request.content_length is not None and request.content_length > max_request_bytes:
            raise too_large(max_request_bytes)
        data = await request.post()  # url-encoded: bounded by the app's client_max_size and field count
        return ReadForm(fields=MultiDict((k, str(v)) for k, v in data.items() if isinstance(v, str)))
    if not keep_partial and request.content_length is not None and request.content_length > max_request_bytes:
        raise too_large(max_request_bytes)
    result = ReadForm()
    try:
        budget = _Budget(max_request_bytes, len(_boundary(request)))
        await _read_parts(request, result, max_file_bytes, max_files, budget)
    except web.HTTPRequestEntityTooLarge:
        if not keep_partial:
            raise
        result.truncated = True
    except (BadHttpMessage, ValueError) as err:
        # Part headers the parser cannot read (a NUL byte, a broken line): the rest of the body
        # cannot be found, but what was read so far is the citizen's and is shown back.
        logger.info("unreadable multipart part headers: %s", err)
        result.truncated = True
        result.uploads.append(Upload("файл", None, BROKEN_PART))
    return result


async def _read_parts(
    request: web.Request, result: ReadForm, max_file_bytes: int, max_files: int, budget: _Budget
) -> None:
    reader = await request.multipart()
    parts = 0
    while (part := await _next_part(reader)) is not None:
        budget.spend_part_head(part)  # its delimiter and headers are already read: they count too
        parts += 1
        if parts > MAX_PARTS:
            raise TooManyParts()
        await asyncio.sleep(0)  # one part per turn: other requests, WebSockets and AMI run in between
        if not isinstance(part, BodyPartReader):
            raise web.HTTPBadRequest(text="nested multipart is not supported")
        disposition = _disposition(part)
        if disposition is None:  # unreadable Content-Disposition: skip the part, say so, keep the rest
            await _read_field(part, budget)
            result.uploads.append(Upload("файл", None, BROKEN_PART))
            continue
        name, filename = disposition
        if filename is None:
            result.fields.add(name, await _read_field(part, budget))
            continue
        upload = await _read_file(part, budget, max_file_bytes)
        if upload is None:
            continue
        if len(result.uploads) >= max_files:
            upload = Upload(
                upload.name, None, f"Можно приложить не более {max_files} фото: «{upload.name}» не добавлено"
            )
        result.uploads.append(upload)


async def _next_part(reader: MultipartReader) -> Any:
    """The next part. aiohttp warns (and only warns) about a malformed Content-Disposition while
    it reads the part; ``_disposition`` then refuses that part, so the warning is silenced here.
    (Filters are process-wide and this spans an await: at worst these two aiohttp warnings stay
    silenced, which changes nothing else.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadContentDispositionHeader)
        warnings.simplefilter("ignore", BadContentDispositionParam)
        return await reader.next()


def _disposition(part: BodyPartReader) -> tuple[str, str | None] | None:
    """(field name, file name or None), or None when Content-Disposition cannot be read.

    aiohttp only warns about a malformed header (and raises on bad percent-encoding); a warning
    is turned into the same refusal here, so the outcome does not depend on warning filters.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return part.name or "", part.filename
    except (Warning, ValueError) as err:  # UnicodeDecodeError is a ValueError
        logger.info("unreadable Content-Disposition in a form part: %s", err)
        return None


def _boundary(request: web.Request) -> str:
    return str(parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, "")).parameters.get("boundary", ""))


class _Budget:
    """Bytes of the body parsed so far: part contents, and each part's boundary line and headers."""

    def __init__(self, limit: int, boundary_bytes: int) -> None:
        self.left = limit
        self.limit = limit
        self._boundary = boundary_bytes

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise too_large(self.limit)

    def spend_part_head(self, part: BodyPartReader | MultipartReader) -> None:
        """The delimiter line and every header line, as they were on the wire (CRLF included)."""
        headers = sum(
            len(name.encode("utf-8", "surrogateescape")) + len(value.encode("utf-8", "surrogateescape")) + 4
            for name, value in part.headers.items()
        )
        self.spend(self._boundary + 4 + headers + 2)


async def _read_field(part: BodyPartReader, budget: _Budget) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        budget.spend(len(chunk))
        if len(data) < MAX_FIELD_BYTES:
            data.extend(chunk[: MAX_FIELD_BYTES - len(data)])
    return data.decode(part.get_charset("utf-8"), errors="replace")


async def _read_file(part: BodyPartReader, budget: _Budget, max_bytes: int) -> Upload | None:
    """The file's bytes, or an Upload carrying the refusal when it is over ``max_bytes``."""
    name = display_name(part.filename)
    data = bytearray()
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        budget.spend(len(chunk))
        size += len(chunk)
        if size <= max_bytes:
            data.extend(chunk)
        elif data:
            data = bytearray()  # over the limit: keep reading to reach the next fields, keep nothing
    if size == 0 and not part.filename:
        return None  # the browser sends an empty part when no file was chosen
    try:
        check_size(name, size, PhotoLimits(max_bytes=max_bytes))
    except PhotoRejected as err:
        return Upload(name, None, err.message)
    return Upload(name, bytes(data))
