"""What a feature is: one ``Feature`` value in ``callcenter/<feature>/feature.py``.

A feature adds itself to the running app with ``setup(app, services)`` (routes, background
tasks as ``cleanup_ctx`` resources, the WebSocket message types it publishes) and to the
command line with its ``commands``. The composition root lists the features
(:data:`callcenter.app.FEATURES`); the command line registers every feature's commands the
same way. See docs/architecture.md, "Adding a feature".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter.config import Settings

if TYPE_CHECKING:
    from callcenter.services import Services

# argparse keeps its sub-parser action class private; this is the object add_subparsers() returns.
SubParsers = Any


HealthCheck = Callable[[], Coroutine[Any, Any, dict[str, Any]]]
# Fields a feature adds to ``GET /healthz`` (never ``status``): ``app[HEALTH_CHECKS][name] = check``.
HEALTH_CHECKS = web.AppKey("health_checks", dict[str, HealthCheck])


@dataclass(frozen=True)
class Command:
    """One ``callcenter NAME ...`` command a feature adds."""

    name: str
    register: Callable[[SubParsers], None]  # adds the sub-parser and its arguments
    run: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]  # the exit status
    needs_database: bool = False  # migrate the store before running


@dataclass(frozen=True)
class Feature:
    """A feature: its name, how it joins the app, and its commands."""

    name: str
    setup: Callable[[web.Application, Services], None]
    commands: tuple[Command, ...] = ()
