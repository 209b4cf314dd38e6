"""The portal's small rules without HTTP: token buckets, public addresses, masking, geometry, upload files."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from callcenter.open311.service import mask_private
from callcenter.portal.geo import Box, haversine_m, parse_bbox
from callcenter.portal.photos import PhotoLimits, PhotoRejected, clean_photo
from callcenter.portal.public import public_address
from callcenter.portal.uploads import PhotoStore
from callcenter.web.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 600, clock=clock)
    assert [limiter.allow("1.2.3.4") for _ in range(11)] == [True] * 10 + [False]
    assert limiter.allow("5.6.7.8")  # another address has its own bucket
    assert limiter.retry_after("1.2.3.4") == 60  # one token per 60 s
    clock.now += 59
    assert not limiter.allow("1.2.3.4")
    clock.now += 1
    assert limiter.allow("1.2.3.4") and not limiter.allow("1.2.3.4")
    clock.now += 10_000
    assert [limiter.allow("1.2.3.4") for _ in range(11)].count(True) == 10  # never above capacity


def test_token_bucket_memory_is_bounded() -> None:
    limiter = RateLimiter(1, 60, max_keys=3, clock=FakeClock())
    for key in "abcd":
        assert limiter.allow(key)
    assert limiter.allow("a")  # "a" was the oldest and was forgotten: it starts full again
    assert not limiter.allow("d")


@pytest.mark.parametrize(
    ("street", "house", "address", "public"),
    [
        ("улица Ленина", "5", "ул. Ленина, д. 5, кв. 12", "улица Ленина, д. 5"),
        ("улица Ленина", None, "ул. Ленина", "улица Ленина"),
        (None, None, "Острякова 160, кв. 33", "Острякова 160"),
        (None, None, "Ленина 5-12", "Ленина 5"),
        (None, None, "пр. Победы, д. 3, квартира 7, подъезд 2", "пр. Победы, д. 3, подъезд 2"),
        (None, None, "", ""),
    ],
)
def test_public_address_never_has_the_flat(street: str | None, house: str | None, address: str, public: str) -> None:
    assert public_address(street, house, address) == public


def test_descriptions_lose_phone_numbers_and_flats() -> None:
    text = "Звоните 8 978 123-45-67 или +7(978)1234567, затопило кв. 12 и квартира 14"
    assert mask_private(text) == (
        "Звоните [телефон скрыт] или [телефон скрыт], затопило кв. [скрыто] и квартира [скрыто]"
    )
    assert mask_private("Яма глубиной 15 см, 3 машины пробили колёса") == "Яма глубиной 15 см, 3 машины пробили колёса"


def test_geometry() -> None:
    assert round(haversine_m(44.6100, 33.5200, 44.6101, 33.5201)) == 14
    box = Box.around(44.61, 33.52, 100)
    assert round(haversine_m(44.61, 33.52, box.north, 33.52)) == 100
    assert round(haversine_m(44.61, 33.52, 44.61, box.east)) == 100
    assert parse_bbox("33.4,44.5,33.6,44.7") == Box(44.5, 33.4, 44.7, 33.6)
    for bad in ("1,2,3", "a,b,c,d", "33.6,44.5,33.4,44.7", "nan,1,2,3"):
        with pytest.raises(ValueError):
            parse_bbox(bad)


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def test_png_with_transparency_becomes_a_jpeg_on_white() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (255, 0, 0, 0)).save(out, "PNG")
    clean = clean_photo("a.png", out.getvalue(), PhotoLimits(max_bytes=10**6))
    with Image.open(io.BytesIO(clean.jpeg)) as image:
        assert image.format == "JPEG" and image.getpixel((5, 5)) == (255, 255, 255)
    assert clean.source_format == "PNG" and clean.gps is None


def test_gif_is_refused_by_name() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "GIF")
    with pytest.raises(PhotoRejected, match="Формат GIF файла «anim.gif» не принимается"):
        clean_photo("anim.gif", out.getvalue(), PhotoLimits(max_bytes=10**6))


def test_upload_store_keeps_by_token_commits_and_purges(tmp_path: Path) -> None:
    clock = FakeClock()
    store = PhotoStore(tmp_path, max_photos=2, pending_ttl_seconds=3600, clock=clock)
    token = store.new_token()
    clean = clean_photo("p.png", _photo(), PhotoLimits(max_bytes=10**6))
    first = store.add_pending(token, "../../etc/p.png", clean)
    clock.now += 1
    store.add_pending(token, "q.png", clean)
    assert first.name == "p.png"
    with pytest.raises(PhotoRejected, match="не более 2 фото"):
        store.add_pending(token, "r.png", clean)
    assert [p.id for p in store.pending(token)][0] == first.id
    assert store.pending("not a token") == [] and store.pending_file("../x", first.id, thumb=True) is None

    [stored] = store.commit(token, [first.id], datetime(2026, 11, 29, tzinfo=UTC))
    assert stored.path.startswith("photos/2026/11/") and (tmp_path / stored.path).is_file()
    assert store.stored_file(stored.path, thumb=True) is not None
    assert store.stored_file("../secret.key", thumb=False) is None
    assert store.pending(token) == []  # the token's folder is gone

    old = store.new_token()
    store.add_pending(old, "old.png", clean)
    os.utime(store.pending_dir / old, (clock.now - 7200, clock.now - 7200))
    assert store.purge_expired() == 1 and store.pending(old) == []
