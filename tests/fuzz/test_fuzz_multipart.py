"""Fuzz: the portal's multipart reader turns any body into fields, a clear 4xx, or a partial form."""

from __future__ import annotations

import asyncio
from unittest import mock

from aiohttp import streams, web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st

from callcenter.portal.multipart import read_form

BOUNDARY = "fuzzBoundary1563"
LIMIT = 64 * 1024

header_value = st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=60)
part = st.builds(
    lambda disposition, extra, body: (
        f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode("utf-8", "surrogatepass")
        + body
        + b"\r\n"
    ),
    st.one_of(
        st.builds(lambda n: f'form-data; name="{n}"', header_value),
        st.builds(lambda n, f: f'form-data; name="{n}"; filename="{f}"', header_value, header_value),
        header_value,
    ),
    st.one_of(st.just(""), st.builds(lambda v: f"Content-Type: {v}\r\n", header_value)),
    st.binary(max_size=200),
)
body = st.one_of(
    st.lists(part, max_size=8).map(lambda parts: b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()),
    st.binary(max_size=500),
)


def _request(data: bytes) -> web.Request:
    protocol = mock.Mock(_reading_paused=False)
    payload = streams.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    payload.feed_data(data)
    payload.feed_eof()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(len(data))}
    return make_mocked_request("POST", "/", headers=headers, payload=payload)


@given(body, st.booleans())
def test_any_body_is_read_or_refused_with_a_client_error(data: bytes, keep_partial: bool) -> None:
    async def run() -> None:
        try:
            form = await read_form(
                _request(data), max_file_bytes=4096, max_files=3, max_request_bytes=LIMIT, keep_partial=keep_partial
            )
        except web.HTTPException as err:
            assert 400 <= err.status < 500, err
            return
        assert len(form.uploads) <= 64
        for name, value in form.fields.items():
            assert isinstance(name, str) and isinstance(value, str)

    asyncio.run(run())
