"""The one clock: what "now" is, in UTC, and the type of a clock a service takes for its tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC (the store keeps UTC; pages show Europe/Simferopol)."""
    return datetime.now(UTC)
