"""Supervised background tasks: the one way this program runs work beside the request at hand.

A task started with :func:`start_task` (or handed to :func:`supervise`) logs its failure on
the owner's logger the moment it ends, so an exception never waits unseen for a garbage
collector; the owner keeps the reference (an attribute, or a set for many short tasks) and
cancels it on shutdown with :func:`cancel_and_wait`. (asyncio keeps only a weak reference to
a running task: one nobody holds can vanish mid-way.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Collection, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_logger = logging.getLogger(__name__)


def _log_failure(logger: logging.Logger, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error("task %s failed", task.get_name(), exc_info=exc)


def supervise(task: asyncio.Task[T], logger: logging.Logger = _logger) -> asyncio.Task[T]:
    """Log ``task``'s exception on ``logger`` when it ends; returns the task."""
    task.add_done_callback(functools.partial(_log_failure, logger))
    return task


def start_task(coro: Coroutine[Any, Any, T], *, name: str, logger: logging.Logger = _logger) -> asyncio.Task[T]:
    """Start ``coro`` as a supervised task (the caller keeps the reference)."""
    return supervise(asyncio.create_task(coro, name=name), logger)


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks (None is skipped) and wait until they have ended."""
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def close_server(server: asyncio.Server | None, sessions: Collection[asyncio.Task[Any]], grace: float) -> None:
    """Shut a socket server down: stop accepting, let its running ``sessions`` finish for ``grace``
    seconds, cancel the rest and wait for them, then wait (bounded by ``grace`` again) for the
    server to close. The FastAGI and AudioSocket servers close this way."""
    if server is not None:
        server.close()
    pending = set(sessions)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=grace)
    await cancel_and_wait(*pending)
    if server is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await server.wait_closed()
