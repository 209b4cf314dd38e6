"""1563 call-centre backend."""

__version__ = "0.1.0"
