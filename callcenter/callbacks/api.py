"""The callbacks feature's public module: what the composition root and other features may import."""

from callcenter.callbacks.service import CallbackOutcomes, CallbackService
from callcenter.callbacks.store import CallbackStore
from callcenter.callbacks.wiring import CALLBACKS, CallbacksFeature, build_callbacks

__all__ = [
    "CALLBACKS",
    "CallbackOutcomes",
    "CallbackService",
    "CallbackStore",
    "CallbacksFeature",
    "build_callbacks",
]
