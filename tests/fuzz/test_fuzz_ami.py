"""Fuzz: the AMI frame parser takes any bytes, split anywhere, and never raises or grows unbounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callcenter.telephony.ami_protocol import FRAME_END, AmiFrameParser

LIMIT = 4096

header_line = st.builds(
    lambda k, v: f"{k}: {v}".encode(),
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n:", blacklist_categories=("Cs",)), min_size=0, max_size=20
    ),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=60),
)
frame = st.lists(header_line, max_size=8).map(lambda lines: b"\r\n".join(lines) + FRAME_END)
stream = st.lists(st.one_of(frame, st.binary(max_size=300)), max_size=12).map(b"".join)


def _feed_in_pieces(parser: AmiFrameParser, data: bytes, cuts: list[int]) -> list[dict[str, str]]:
    frames = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in zip(points, points[1:], strict=False):
        frames.extend(parser.feed(data[start:end]))
    return frames


@given(stream, st.lists(st.integers(min_value=0, max_value=10_000), max_size=10))
def test_any_bytes_split_anywhere_give_the_same_frames(data: bytes, cuts: list[int]) -> None:
    whole = AmiFrameParser(max_frame_bytes=LIMIT).feed(data)
    split = _feed_in_pieces(AmiFrameParser(max_frame_bytes=LIMIT), data, cuts)
    assert split == whole
    for fields in whole:
        assert "Event" in fields or "Response" in fields


SMALL = 256


@given(st.binary(min_size=SMALL + 1, max_size=4 * SMALL), st.booleans())
def test_a_frame_over_the_limit_is_refused_whether_it_ends_or_not(body: bytes, ends: bool) -> None:
    parser = AmiFrameParser(max_frame_bytes=SMALL)
    payload = b"Event: Big\r\nX: " + body.replace(FRAME_END, b"") + (FRAME_END if ends else b"")
    assert parser.feed(payload) == []
    assert parser.malformed >= 1
    # The stream recovers: the next frame after the oversized one is read.
    if not ends:
        parser.feed(FRAME_END)
    assert parser.feed(b"Event: Next\r\n\r\n") == [{"Event": "Next"}]
    assert len(parser._buffer) <= SMALL  # noqa: SLF001 - the bound is what this test is about


@given(
    st.integers(min_value=-4, max_value=4),
    st.lists(frame, max_size=3),
    st.lists(st.integers(min_value=-4, max_value=4), min_size=1, max_size=4),
    st.lists(st.integers(min_value=0, max_value=SMALL + 200), max_size=6),
)
def test_frames_near_or_over_the_limit_split_anywhere_give_the_same_frames(
    delta: int, following: list[bytes], near_end: list[int], cuts: list[int]
) -> None:
    """A frame just under, at or over the limit, then good frames: cut anywhere (often near the big
    frame's blank line), the same frames as whole, and nothing after the big frame is lost."""
    head = b"Event: Big\r\nX: "
    data = head + b"y" * (SMALL + delta - len(head)) + FRAME_END + b"".join(following)
    around_the_blank_line = [SMALL + delta + offset for offset in near_end]
    whole = AmiFrameParser(max_frame_bytes=SMALL).feed(data)
    split = _feed_in_pieces(AmiFrameParser(max_frame_bytes=SMALL), data, around_the_blank_line + cuts)
    assert split == whole
    assert (whole[:1] == [{"Event": "Big", "X": "y" * (SMALL + delta - len(head))}]) == (delta <= 0)
