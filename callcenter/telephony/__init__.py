"""Telephony: the AMI link, the call tracker, originate, and their wiring into the product.

``setup(app, services)`` is the feature for ``callcenter.app.default_features()``:
with ``CALLCENTER_AMI_HOST`` set it runs the AMI link, writes call rows, sends screen
pops and the supervisors' live board; always it serves ``/staff/calls`` and
click-to-call, and bridges the event hub between instances on PostgreSQL.
"""

from __future__ import annotations

from typing import Any


def setup(app: Any, services: Any) -> None:
    """Wire the telephony slice into ``app`` (see callcenter.telephony.service)."""
    # Imported here: the AMI modules stay importable without the web stack.
    from callcenter.telephony.service import setup_telephony

    setup_telephony(app, services)
