"""Reading a form with files as a stream, with limits per file, per field and per request.

aiohttp's ``request.post()`` would hold the whole body and gives no say per file. Here a
file over the photo limit is refused (with a message naming it) while the rest of the
form is still read, so the citizen's text is never lost for one big photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from callcenter.portal.photos import PhotoLimits, PhotoRejected, check_size
from callcenter.portal.uploads import display_name
from callcenter.portal.service import Upload

CHUNK = 64 * 1024
MAX_FIELD_BYTES = 64 * 1024


@dataclass
class ReadForm:
    fields: MultiDict[str] = field(default_factory=MultiDict)
    uploads: list[Upload] = field(default_factory=list)


def too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1)


async def read_form(request: web.Request, *, max_file_bytes: int, max_files: int,
                    max_request_bytes: int) -> ReadForm:
    """Fields and files of a POST; raises 413 only when the whole request is over its limit."""
    if request.content_length is not None and request.content_length > max_request_bytes:
        raise too_large(max_request_bytes)
    if request.content_type != "multipart/form-data":
        data = await request.post()   # url-encoded: bounded by the app's client_max_size
        return ReadForm(fields=MultiDict((k, str(v)) for k, v in data.items() if isinstance(v, str)))
    result = ReadForm()
    budget = _Budget(max_request_bytes)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise web.HTTPBadRequest(text="nested multipart is not supported")
        if part.filename is None:
            result.fields.add(part.name or "", await _read_field(part, budget))
            continue
        upload = await _read_file(part, budget, max_file_bytes)
        if upload is None:
            continue
        if len(result.uploads) >= max_files:
            upload = Upload(upload.name, None, f"Можно приложить не более {max_files} фото: "
                                               f"«{upload.name}» не добавлено")
        result.uploads.append(upload)
    return result


@dataclass
class _Budget:
    left: int

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise too_large(self.left + size)


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
            data = bytearray()   # over the limit: keep reading to reach the next fields, keep nothing
    if size == 0 and not part.filename:
        return None   # the browser sends an empty part when no file was chosen
    try:
        check_size(name, size, PhotoLimits(max_bytes=max_bytes))
    except PhotoRejected as err:
        return Upload(name, None, err.message)
    return Upload(name, bytes(data))
