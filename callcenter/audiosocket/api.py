"""The AudioSocket feature's public module: what the composition root and the IVR may import."""

from callcenter.audiosocket.server import (
    AudioSocketLimits,
    AudioSocketServer,
    Expected,
    FrameListener,
    ListenerFactory,
    MessageSpec,
    RecordingOutcome,
)
from callcenter.audiosocket.wiring import build_audiosocket

__all__ = [
    "AudioSocketLimits",
    "AudioSocketServer",
    "Expected",
    "FrameListener",
    "ListenerFactory",
    "MessageSpec",
    "RecordingOutcome",
    "build_audiosocket",
]
