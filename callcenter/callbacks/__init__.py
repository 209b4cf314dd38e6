"""Automatic callbacks after a ticket is done: planning, dispatching, outcomes, the boards.

``setup(app, services)`` is the feature entry for ``callcenter.app.default_features()``;
``services.callbacks.outcomes`` receives the satisfaction IVR's outcomes.
"""

from __future__ import annotations

from typing import Any


def setup(app: Any, services: Any) -> None:
    """Wire the callbacks feature (imported lazily: the web layer is not needed by the dispatcher)."""
    from callcenter.callbacks.web import setup as setup_web

    setup_web(app, services)
