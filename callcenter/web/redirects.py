"""Where a redirect taken from the request (``next=``, ``back=``) may go: a path on this site, nothing else.

A prefix check (``startswith("/") and not startswith("//")``) is not enough: browsers and
aiohttp drop tabs and newlines inside URLs, so ``/\\t/evil.example`` leaves as
``Location: //evil.example``. The value is refused if it holds any control or non-printable
character, a space or a backslash, or does not start with exactly one slash; then parsed; only a path (and query) with no scheme and no host is
rebuilt and returned.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_FORBIDDEN = frozenset(chr(c) for c in range(0x21)) | {"\x7f", "\\"}


def local_path(value: str | None) -> str | None:
    """``value`` rebuilt as a path on this site, or None when it is anything else."""
    if (
        not value
        or len(value) > 2000
        or not value.isprintable()
        or any(ch in _FORBIDDEN for ch in value)
        or not value.startswith("/")
        or value.startswith("//")
    ):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    rebuilt = urlunsplit(("", "", parts.path, parts.query, ""))
    # The rebuilt value must read back the same way: no second interpretation left.
    again = urlsplit(rebuilt)
    if again.scheme or again.netloc or rebuilt.startswith("//"):
        return None
    return rebuilt
