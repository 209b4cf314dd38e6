"""The wallboard slice: what its pages need, kept on the app under ``WALLBOARD``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from callcenter.domain.queue_stats import QueueCall
from callcenter.wallboard.board import Wallboard
from callcenter.wallboard.escalation import Escalator
from callcenter.wallboard.reasons import PauseReasons


@dataclass
class WallboardSlice:
    board: Wallboard
    reasons: PauseReasons
    queue_calls: Callable[[datetime, datetime], Awaitable[list[QueueCall]]]
    escalator: Escalator


WALLBOARD = web.AppKey("wallboard", WallboardSlice)
