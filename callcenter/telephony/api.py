"""The telephony feature's public module: the AMI link and originate requests, for the composition
root (which builds the link) and the callbacks feature (which dials over it); the wording of IVR
paths for the staff ticket page."""

from callcenter.telephony.ami_link import AmiLink, AmiSettings, LinkState
from callcenter.telephony.ami_protocol import AmiError
from callcenter.telephony.board_messages import ivr_steps
from callcenter.telephony.calls_store import CallStore, OperatorDirectory
from callcenter.telephony.originate import (
    InvalidOriginate,
    OriginateRequest,
    callback,
    channel_id_for,
    click_to_call,
    escalation,
)
from callcenter.telephony.relay import AmiActions
from callcenter.telephony.wiring import ami_settings

__all__ = [
    "AmiActions",
    "AmiError",
    "AmiLink",
    "AmiSettings",
    "CallStore",
    "InvalidOriginate",
    "LinkState",
    "OperatorDirectory",
    "OriginateRequest",
    "ami_settings",
    "callback",
    "channel_id_for",
    "click_to_call",
    "escalation",
    "ivr_steps",
]
