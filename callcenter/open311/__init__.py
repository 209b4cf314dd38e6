"""Open311 GeoReport v2 at ``/open311/v2/`` (see docs/open311.md). Mounted by
:func:`callcenter.open311.api.setup`; API keys with :class:`callcenter.open311.cli.Open311KeyCommand`."""

from callcenter.open311.api import setup
from callcenter.open311.cli import Open311KeyCommand

__all__ = ["Open311KeyCommand", "setup"]
