"""The IVR feature's public module: what the composition root and other features may import.

``channel_vars`` names every channel variable shared with the dialplan (telephony reads them
from AMI events); ``build_agi_server`` is called by the composition root with the callbacks
feature's outcome recorder, which the satisfaction script reports to.
"""

from callcenter.ivr import channel_vars
from callcenter.ivr.agi import AgiServer
from callcenter.ivr.outage import OutageNotice, OutagePort
from callcenter.ivr.ports import TicketBrief
from callcenter.ivr.store_backend import CallbackOutcomeRecorder
from callcenter.ivr.wiring import build_agi_server

__all__ = [
    "AgiServer",
    "CallbackOutcomeRecorder",
    "OutageNotice",
    "OutagePort",
    "TicketBrief",
    "build_agi_server",
    "channel_vars",
]
