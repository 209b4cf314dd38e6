"""A raw HTTP/1.1 client for attacks aiohttp's client will not send: a body cut short, odd framing.

``partial_post`` declares a long body, sends only its beginning and then waits for the answer:
a server that answers has refused the request without reading past what it was sent. The
wait is only a bound for the failure case (a server that keeps reading never answers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

# How long a failing server is given to answer before the test reports it kept reading; a
# passing server answers in milliseconds, so this bound never decides a passing run.
NO_ANSWER_BOUND = 30.0


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def _read_answer(reader: asyncio.StreamReader, read_to_end: bool = False) -> RawAnswer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if read_to_end:  # Connection: close; a chunked body must end with its last-chunk marker
        body = await reader.read()
        if headers.get("transfer-encoding") == "chunked" and not body.endswith(b"0\r\n\r\n"):
            raise AssertionError(f"the chunked answer stopped without its end marker: ...{body[-80:]!r}")
        return RawAnswer(status, headers, body)
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RawAnswer(status, headers, body)


async def exchange(
    url: str, head: str, chunks: list[bytes], *, hold_open: bool = True, read_to_end: bool = False
) -> RawAnswer:
    """Send ``head`` (request line and headers, no blank line) and ``chunks``; return the answer.

    With ``hold_open`` the connection stays open after the chunks (the declared body is longer).
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode() + b"\r\n\r\n")
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        if not hold_open:
            writer.write_eof()
        try:
            return await asyncio.wait_for(_read_answer(reader, read_to_end), NO_ANSWER_BOUND)
        except (asyncio.IncompleteReadError, ConnectionResetError) as err:
            raise AssertionError(f"the server closed the connection without an answer: {err!r}") from err
        except TimeoutError:
            raise AssertionError("no answer: the server kept waiting for (reading) the rest of the body") from None
    finally:
        writer.close()


def multipart_parts(boundary: str, fields: list[tuple[str, str]], *, extra_headers: str = "") -> bytes:
    out = bytearray()
    for name, value in fields:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n{extra_headers}\r\n{value}\r\n'
        ).encode()
    return bytes(out)


def multipart_end(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()
