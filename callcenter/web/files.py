"""Private files under the data folder (attachments, call recordings), served to staff only."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

logger = logging.getLogger(__name__)


def file_inside(root: Path, relative: str) -> Path:
    """The file under ``root``; missing (e.g. erased) or outside it (``..``): 404. Blocking: call
    it off the event loop (``asyncio.to_thread``)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if base not in path.parents or not path.is_file():
        logger.warning("private file missing or outside the data folder: %s", relative)
        raise web.HTTPNotFound()
    return path


def private_file(path: Path, mime: str, *, inline: bool, name: str) -> web.FileResponse:
    """The file with headers that keep it private and stop the browser guessing its type."""
    headers = {
        "Content-Type": mime if inline else "application/octet-stream",
        "Content-Disposition": "inline" if inline else f'attachment; filename="{name}"',
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(path, headers=headers)
