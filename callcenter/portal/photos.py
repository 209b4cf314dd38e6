"""Checking and cleaning citizens' photos with Pillow (CPU work: call from an executor).

Every upload is opened as an image, verified, refused if it is not JPEG/PNG/WebP (or HEIC
when a HEIF plugin is installed in Pillow) or if it has more pixels than a phone camera
makes or more decoded memory than a photo needs (a decompression bomb), then re-encoded as a JPEG. Re-encoding drops every metadata
block (EXIF with the phone's model and GPS, XMP, comments); the GPS position is read first
and offered as the problem's location. A small thumbnail is made for pages and the map.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import hashlib
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from callcenter.domain.errors import ValidationError

logger = logging.getLogger(__name__)

BASE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
HEIF_FORMATS = frozenset({"HEIF", "HEIC"})
GPS_IFD = 0x8825
JPEG_QUALITY = 85


@dataclass(frozen=True)
class PhotoLimits:
    """What one photo may be.

    ``max_pixels`` is below Pillow's own bomb limit (89 Mpx), so our check refuses a bomb before
    Pillow would decode it. ``max_decoded_bytes`` bounds the memory one decode takes (width x
    height x bands, after JPEG's draft mode has picked the smallest scale still over
    ``max_side``): a 155 KB 6320x6320 RGBA PNG would need 160 MB and is refused from its header,
    while a 40 Mpx phone JPEG decodes at half scale (30 MB) and is accepted.
    """

    max_bytes: int
    max_pixels: int = 40_000_000
    max_decoded_bytes: int = 64 * 2**20
    max_side: int = 2560  # stored size: enough to see a pothole, not 20 MB per photo
    thumb_side: int = 320


@dataclass(frozen=True)
class CleanPhoto:
    """A checked photo, re-encoded without metadata."""

    jpeg: bytes
    thumb: bytes
    width: int
    height: int
    sha256: str
    source_format: str
    gps: tuple[float, float] | None


class PhotoRejected(ValidationError):
    """The upload is not a photo we accept; the message says why, in Russian, naming the file."""

    code = "photo_rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="photos")


def allowed_formats() -> frozenset[str]:
    """JPEG, PNG, WebP, plus HEIC when Pillow has a HEIF opener (pillow-heif) registered."""
    Image.init()
    return BASE_FORMATS | (HEIF_FORMATS & set(Image.OPEN))


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} МБ" if size >= 2**20 else f"{size / 1024:.0f} КБ"


def check_size(name: str, size: int, limits: PhotoLimits) -> None:
    """Refuse an empty or too large file before any decoding."""
    if size == 0:
        raise PhotoRejected(f"Файл «{name}» пустой")
    if size > limits.max_bytes:
        raise PhotoRejected(f"Файл «{name}» больше {_megabytes(limits.max_bytes)}: уменьшите фото и приложите снова")


def clean_photo(name: str, raw: bytes, limits: PhotoLimits) -> CleanPhoto:
    """Check ``raw`` and return it cleaned; raise PhotoRejected with a reason a citizen understands."""
    check_size(name, len(raw), limits)
    formats = allowed_formats()
    image = _open_checked(name, raw, limits, formats)
    try:
        image.verify()  # walks the file's structure; a broken or truncated file fails here
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        raise PhotoRejected(f"Файл «{name}» повреждён и не открывается как изображение") from err
    image = _open_checked(name, raw, limits, formats)  # verify() leaves the image unusable
    source_format = image.format or "?"
    _plan_decode(name, image, limits)  # before anything that decodes: a PNG's getexif() loads the pixels
    gps = _gps_of(image)
    try:
        pixels = _to_rgb(ImageOps.exif_transpose(_decode_small(image, limits)))
    except (OSError, ValueError, SyntaxError) as err:
        raise PhotoRejected(f"Файл «{name}» повреждён и не открывается как изображение") from err
    jpeg = _encode(pixels)
    thumb_image = pixels.copy()
    thumb_image.thumbnail((limits.thumb_side, limits.thumb_side), Image.Resampling.LANCZOS)
    return CleanPhoto(
        jpeg=jpeg,
        thumb=_encode(thumb_image),
        width=pixels.width,
        height=pixels.height,
        sha256=hashlib.sha256(jpeg).hexdigest(),
        source_format=source_format,
        gps=gps,
    )


def clean_photo_and_trim(name: str, raw: bytes, limits: PhotoLimits) -> CleanPhoto:
    """``clean_photo``, then hand freed decode buffers back to the system (glibc keeps them otherwise,
    which is why memory "stayed high" after a burst of large images)."""
    try:
        return clean_photo(name, raw, limits)
    finally:
        _trim_heap()


# Photos decoded at once, app-wide: each decode holds up to PhotoLimits.max_decoded_bytes.
DECODE_WORKERS = 2


class PhotoDecoder:
    """The one place photos are decoded: the portal's uploads, «Выполнено» with a photo and the
    answer page's photo all go through the app's one decoder (``Services.photos``).

    Its own small pool (``DECODE_WORKERS`` threads) bounds how many images are held decoded at
    once (each bounded by ``limits.max_decoded_bytes``), and a burst of photos never takes the
    default pool's threads that file I/O and the database driver need."""

    def __init__(self, limits: PhotoLimits, workers: int = DECODE_WORKERS) -> None:
        self.limits = limits
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photo-decode")

    async def clean(self, name: str, data: bytes) -> CleanPhoto:
        """Check the size, then decode, check and re-encode in the pool; ValidationError (in
        Russian, naming the file) when the photo is refused."""
        check_size(name, len(data), self.limits)
        call = functools.partial(clean_photo_and_trim, name, data, self.limits)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.shutdown, True)


def _trim_heap() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - present on glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


def decoded_bytes(image: Image.Image) -> int:
    """The memory a full decode of ``image`` takes as it is now (after any draft)."""
    return image.width * image.height * max(1, len(image.getbands()))


def _plan_decode(name: str, image: Image.Image, limits: PhotoLimits) -> None:
    """Pick the smallest decode that still gives ``max_side``, and refuse one too big to decode.

    JPEG decodes at 1/2, 1/4 or 1/8 scale (``draft``) before a single pixel is held; other
    formats are refused from their header when their full decode is over ``max_decoded_bytes``.
    """
    if image.format == "JPEG":
        image.draft("RGB", (limits.max_side, limits.max_side))
    if decoded_bytes(image) > limits.max_decoded_bytes:
        raise PhotoRejected(_bomb_message(name))


def _decode_small(image: Image.Image, limits: PhotoLimits) -> Image.Image:
    """Decode and shrink in place (``thumbnail`` reduces by whole factors first), so only one
    full-size buffer exists at a time."""
    image.load()
    image.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return image


def _open_checked(name: str, raw: bytes, limits: PhotoLimits, formats: frozenset[str]) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(raw))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # The warning is an exception when warnings are errors (pytest), a log line otherwise;
        # either way the pixel check below refuses the file.
        raise PhotoRejected(_bomb_message(name)) from err
    except UnidentifiedImageError as err:
        raise PhotoRejected(f"Файл «{name}» не является фотографией: принимаются {_format_list(formats)}") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise PhotoRejected(f"Файл «{name}» повреждён и не открывается как изображение") from err
    if image.format not in formats:
        raise PhotoRejected(f"Формат {image.format} файла «{name}» не принимается: приложите {_format_list(formats)}")
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > limits.max_pixels:
        raise PhotoRejected(_bomb_message(name))
    return image


def _bomb_message(name: str) -> str:
    return f"Изображение «{name}» слишком большое по числу точек: приложите обычное фото с телефона или камеры"


def _format_list(formats: frozenset[str]) -> str:
    order = ["JPEG", "PNG", "WEBP", "HEIC", "HEIF"]
    names = [{"WEBP": "WebP"}.get(f, f) for f in order if f in formats]
    return ", ".join(names[:-1]) + " или " + names[-1] if len(names) > 1 else names[0]


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (a JPEG has none) and bring every mode to RGB."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # No exif=, no icc_profile=, no comment: the new file carries pixels only. Pillow would copy a
    # JPEG comment (and other blocks) from ``info`` on its own, so ``info`` is emptied first.
    image.info.clear()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, comment=b"")
    return out.getvalue()


def _gps_of(image: Image.Image) -> tuple[float, float] | None:
    """(lat, lon) from the EXIF GPS block, or None when absent or unreadable."""
    try:
        gps = image.getexif().get_ifd(GPS_IFD)
    except Exception:  # noqa: BLE001 - a malformed EXIF block only means "no location"
        logger.debug("unreadable EXIF in an upload", exc_info=True)
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None
    try:
        lat = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return round(lat, 6), round(lon, 6)


def _degrees(value: Any) -> float:
    """EXIF degrees/minutes/seconds (rationals) to decimal degrees."""
    parts = [float(v) for v in value] + [0.0, 0.0]
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
    if not math.isfinite(degrees):
        raise ValueError("not a number")
    return degrees
