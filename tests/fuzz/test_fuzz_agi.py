"""Fuzz: the FastAGI environment reader and reply parser end in a result or AgiProtocolError, always."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from callcenter.ivr.agi import AgiEnvironment, AgiLimits, AgiProtocolError, AgiReply, AgiTimeouts, read_environment

LIMITS = AgiLimits(max_line_bytes=512, max_header_bytes=2048, max_header_lines=20)
key = st.from_regex(r"agi_[a-z0-9_]{1,12}", fullmatch=True)
good_line = st.builds(
    lambda k, v: f"{k}: {v}\n".encode(),
    key,
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40),
)
line = st.one_of(good_line, st.binary(max_size=80).map(lambda b: b + b"\n"), st.binary(max_size=700))
header = st.lists(line, max_size=25).map(b"".join)


def _read(data: bytes) -> AgiEnvironment | AgiProtocolError:
    async def run() -> AgiEnvironment | AgiProtocolError:
        reader = asyncio.StreamReader(limit=LIMITS.max_line_bytes)
        reader.feed_data(data)
        reader.feed_eof()
        try:
            return await read_environment(reader, AgiTimeouts(header=5), LIMITS)
        except AgiProtocolError as err:
            return err

    return asyncio.run(run())


@given(header, st.booleans())
def test_any_header_is_read_or_refused_clearly(data: bytes, with_script: bool) -> None:
    if with_script:
        data = b"agi_network_script: ivr\n" + data + b"\n"
    outcome = _read(data)
    if isinstance(outcome, AgiEnvironment):
        assert "agi_network_script" in outcome.values or "agi_request" in outcome.values
        assert sum(len(k) + len(v) for k, v in outcome.values.items()) <= LIMITS.max_header_bytes
    else:
        assert str(outcome)


@given(st.lists(st.text(max_size=60), min_size=1, max_size=6))
def test_any_reply_lines_parse_or_raise_the_protocol_error(lines: list[str]) -> None:
    try:
        reply = AgiReply.parse(lines)
    except AgiProtocolError:
        return
    assert isinstance(reply.code, int)
