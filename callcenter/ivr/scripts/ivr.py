"""The ``ivr`` script (agi://host:4573/ivr): the 1563 hotline menu."""

from __future__ import annotations

from callcenter.ivr.agi import AgiChannel
from callcenter.ivr.engine import IvrEngine


async def ivr(channel: AgiChannel, *, engine: IvrEngine) -> None:
    """Handler of the ``ivr`` script: greeting, open ticket, menus, report, status, operator."""
    await engine.run_hotline(channel)
