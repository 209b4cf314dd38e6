"""Photo files on disk: uploads waiting for their form, and the files of filed tickets.

A browser cannot keep chosen files when a form comes back with an error, so accepted
photos wait on the server under a random upload token (a hidden field of the form; the
token is the only key to them). When the form is accepted, the photos move to
``photos/YYYY/MM/<random>.jpg`` (+ ``.thumb.jpg``) and get rows in ``attachments``.
Waiting uploads are removed a day after their last change.

Every method here does blocking file I/O: call them from an executor.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from callcenter.portal.photos import CleanPhoto, PhotoRejected

logger = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
PHOTO_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
FILE_NAME_PATTERN = re.compile(r"^[0-9a-f]{32}(\.thumb)?\.jpg$")
THUMB_SUFFIX = ".thumb.jpg"


@dataclass(frozen=True)
class PendingPhoto:
    """A checked photo waiting for its form."""

    id: str
    name: str
    size: int
    sha256: str
    gps: tuple[float, float] | None
    created: float


@dataclass(frozen=True)
class StoredPhoto:
    """A photo moved to its final place; ``path`` is relative to the data folder."""

    path: str
    size: int
    sha256: str


def thumb_path(path: str) -> str:
    """The thumbnail's path next to a stored photo's path."""
    return path[: -len(".jpg")] + THUMB_SUFFIX if path.endswith(".jpg") else path + THUMB_SUFFIX


def display_name(raw: str | None) -> str:
    """The file name as the citizen knows it, without folders, bounded, always valid text.

    A browser on a Russian Windows may send the name in cp1251 (it arrives as undecodable
    bytes, kept by aiohttp as surrogates); control characters such as NUL are dropped.
    """
    text = raw or ""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        text = text.encode("utf-8", "surrogateescape").decode("cp1251", "replace")
    text = "".join(ch for ch in text if ch.isprintable())
    name = PurePosixPath(text.replace("\\", "/")).name.strip()
    return (name or "фото")[:100]


class PhotoStore:
    """Pending uploads by token and final photo files, under ``data_dir/photos``."""

    def __init__(
        self,
        data_dir: Path,
        max_photos: int,
        *,
        pending_ttl_seconds: float = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.photos_dir = self.data_dir / "photos"
        self.pending_dir = self.photos_dir / "pending"
        self.max_photos = max_photos
        self._ttl = pending_ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()  # count-then-write of one token must not interleave
        self._last_purge = 0.0

    # ------------------------------------------------------------------ tokens

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def is_token(token: str | None) -> bool:
        return bool(token) and bool(TOKEN_PATTERN.match(token or ""))

    def _token_dir(self, token: str) -> Path:
        if not self.is_token(token):
            raise ValueError("bad upload token")
        return self.pending_dir / token

    # ------------------------------------------------------------------ pending

    def add_pending(self, token: str, name: str, photo: CleanPhoto) -> PendingPhoto:
        """Keep a checked photo under ``token``; PhotoRejected when the token already has the maximum."""
        self._maybe_purge()
        folder = self._token_dir(token)
        with self._lock:
            if len(self._metas(folder)) >= self.max_photos:
                raise PhotoRejected(
                    f"Можно приложить не более {self.max_photos} фото: «{display_name(name)}» не добавлено"
                )
            folder.mkdir(parents=True, exist_ok=True)
            pending = PendingPhoto(
                id=secrets.token_hex(8),
                name=display_name(name),
                size=len(photo.jpeg),
                sha256=photo.sha256,
                gps=photo.gps,
                created=self._clock(),
            )
            _write_atomic(folder / f"{pending.id}.jpg", photo.jpeg)
            _write_atomic(folder / f"{pending.id}{THUMB_SUFFIX}", photo.thumb)
            _write_atomic(
                folder / f"{pending.id}.json",
                json.dumps(
                    {
                        "id": pending.id,
                        "name": pending.name,
                        "size": pending.size,
                        "sha256": pending.sha256,
                        "gps": list(pending.gps) if pending.gps else None,
                        "created": pending.created,
                    }
                ).encode(),
            )
        return pending

    def pending(self, token: str | None) -> list[PendingPhoto]:
        """The photos waiting under ``token``, oldest first; [] for an unknown or bad token."""
        if not self.is_token(token):
            return []
        return sorted(self._metas(self._token_dir(token or "")), key=lambda p: (p.created, p.id))

    def _metas(self, folder: Path) -> list[PendingPhoto]:
        found = []
        for meta in folder.glob("*.json") if folder.is_dir() else ():
            try:
                raw = json.loads(meta.read_text())
                gps = tuple(raw["gps"]) if raw.get("gps") else None
                found.append(PendingPhoto(raw["id"], raw["name"], raw["size"], raw["sha256"], gps, raw["created"]))
            except (OSError, ValueError, KeyError, TypeError):
                logger.warning("unreadable pending photo record %s", meta)
        return found

    def pending_file(self, token: str, photo_id: str, *, thumb: bool) -> Path | None:
        """The file of a waiting photo (for its preview), or None."""
        if not self.is_token(token) or not PHOTO_ID_PATTERN.match(photo_id):
            return None
        path = self._token_dir(token) / (f"{photo_id}{THUMB_SUFFIX}" if thumb else f"{photo_id}.jpg")
        return path if path.is_file() else None

    def remove_pending(self, token: str, photo_id: str) -> bool:
        if not self.is_token(token) or not PHOTO_ID_PATTERN.match(photo_id):
            return False
        folder = self._token_dir(token)
        removed = False
        for suffix in (".jpg", THUMB_SUFFIX, ".json"):
            try:
                (folder / f"{photo_id}{suffix}").unlink()
                removed = True
            except FileNotFoundError:
                pass
        return removed

    # ------------------------------------------------------------------ final files

    def commit(self, token: str, photo_ids: list[str], when: datetime) -> list[StoredPhoto]:
        """Move the chosen waiting photos to their final place; the token's folder is then removed."""
        wanted = [p for p in self.pending(token) if p.id in set(photo_ids)][: self.max_photos]
        folder = self.photos_dir / f"{when.year:04d}" / f"{when.month:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        stored = []
        source = self._token_dir(token)
        for photo in wanted:
            name = secrets.token_hex(16)
            os.replace(source / f"{photo.id}.jpg", folder / f"{name}.jpg")
            os.replace(source / f"{photo.id}{THUMB_SUFFIX}", folder / f"{name}{THUMB_SUFFIX}")
            rel = (folder / f"{name}.jpg").relative_to(self.data_dir).as_posix()
            stored.append(StoredPhoto(path=rel, size=photo.size, sha256=photo.sha256))
        shutil.rmtree(source, ignore_errors=True)
        return stored

    def stored_file(self, rel_path: str, *, thumb: bool) -> Path | None:
        """The file of a stored photo, or None if it is missing or the path points outside the folder."""
        path = (self.data_dir / (thumb_path(rel_path) if thumb else rel_path)).resolve()
        if not path.is_relative_to(self.photos_dir.resolve()) or not path.is_file():
            return None
        return path

    # ------------------------------------------------------------------ housekeeping

    def _maybe_purge(self) -> None:
        now = self._clock()
        if now - self._last_purge >= 600:
            self._last_purge = now
            self.purge_expired()

    def purge_expired(self) -> int:
        """Remove waiting uploads untouched for longer than the time to live; returns how many."""
        if not self.pending_dir.is_dir():
            return 0
        cutoff = self._clock() - self._ttl
        removed = 0
        for folder in self.pending_dir.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            logger.info("removed %d abandoned photo uploads", removed)
        return removed


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
