"""Originate requests: click-to-call and callbacks, as AMI ``Originate`` actions. Pure.

Every request carries an idempotency key, ``request_id``. It becomes the action's
``ActionID`` (so the OriginateResponse event names it) and, prefixed with ``cc-``, the
``ChannelId`` of the first channel: the call's Uniqueid and Linkedid are then derived
from the key. That gives three guards against dialling one request twice:

* ``AmiLink`` never re-sends an action (panoramisk does after a reconnect) and remembers
  every key it sent, returning the first result to a repeated request;
* after a lost response the link looks for the live channel ``cc-<key>`` before answering;
* Asterisk itself refuses a second channel whose Uniqueid is still in use.

Field values are checked for CR/LF: one stray newline in a number or a variable would
let a caller smuggle extra AMI headers or a whole action into the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcenter.ivr.api import channel_vars as cv

CHANNEL_ID_PREFIX = "cc-"
CITIZEN_VARIABLE = "CITIZEN_NUMBER"  # lets the tracker name the citizen of an outbound call
TICKET_VARIABLE = cv.TICKET_ID
CALLBACK_VARIABLE = cv.CALLBACK_ID

_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class InvalidOriginate(ValueError):
    """An originate request that must not reach Asterisk as it is."""


def check_request_id(request_id: str) -> str:
    """Return the key unchanged or raise InvalidOriginate (1-64 of ``A-Za-z0-9._:-``)."""
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidOriginate(f"originate request id {request_id!r} must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    return request_id


def channel_id_for(request_id: str) -> str:
    """The Uniqueid our originate gives its first channel (and so the call's Linkedid)."""
    return CHANNEL_ID_PREFIX + check_request_id(request_id)


def request_id_from_uniqueid(uniqueid: str | None) -> str | None:
    """The request id behind a Uniqueid/Linkedid we assigned, else None."""
    if uniqueid and uniqueid.startswith(CHANNEL_ID_PREFIX):
        return uniqueid[len(CHANNEL_ID_PREFIX) :]
    return None


def check_header_value(name: str, value: str) -> str:
    """Refuse values that would break AMI framing (CR, LF) with a clear error."""
    if "\r" in value or "\n" in value:
        raise InvalidOriginate(f"{name} must not contain line breaks: {value!r}")
    return value


def _check_e164(number: str) -> str:
    if not isinstance(number, str) or not _E164.fullmatch(number):
        raise InvalidOriginate(f"citizen number {number!r} must be E.164 like +79781234567")
    return number


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """One asynchronous Originate; build it with ``click_to_call`` or ``callback``."""

    request_id: str
    channel: str
    context: str
    exten: str
    priority: str = "1"
    caller_id: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    ring_timeout: float = 30.0  # seconds Asterisk lets the first channel ring

    def __post_init__(self) -> None:
        check_request_id(self.request_id)
        for name in ("channel", "context", "exten", "priority"):
            value = getattr(self, name)
            if not value:
                raise InvalidOriginate(f"originate {name} must not be empty")
            check_header_value(name, value)
        if self.caller_id is not None:
            check_header_value("caller_id", self.caller_id)
        for var, value in self.variables:
            if not _VARIABLE_NAME.fullmatch(var):
                raise InvalidOriginate(f"bad channel variable name {var!r}")
            check_header_value(var, value)
        if not 1 <= self.ring_timeout <= 600:
            raise InvalidOriginate(f"ring_timeout {self.ring_timeout} s is outside 1..600")

    def action_fields(self) -> dict[str, str | list[str]]:
        """The Originate action's headers, ActionID and ChannelId derived from the key."""
        fields: dict[str, str | list[str]] = {
            "Action": "Originate",
            "ActionID": self.request_id,
            "ChannelId": channel_id_for(self.request_id),
            "Channel": self.channel,
            "Context": self.context,
            "Exten": self.exten,
            "Priority": self.priority,
            "Timeout": str(int(self.ring_timeout * 1000)),
            "Async": "true",
        }
        if self.caller_id:
            fields["CallerID"] = self.caller_id
        if self.variables:
            fields["Variable"] = [f"{name}={value}" for name, value in self.variables]
        return fields


def click_to_call(
    request_id: str,
    *,
    operator_interface: str,
    citizen_number: str,
    dial_context: str,
    ticket_id: str | None = None,
    ring_timeout: float = 30.0,
) -> OriginateRequest:
    """Ring the operator's phone first; once answered, the dial context calls the citizen.

    ``Exten`` is the citizen's E.164 number without the plus (``79781234567``), so a
    dial context matches it with ``_X.``; the operator's phone shows the citizen's number.
    """
    number = _check_e164(citizen_number)
    variables = [(CITIZEN_VARIABLE, number)]
    if ticket_id is not None:
        variables.append((TICKET_VARIABLE, str(ticket_id)))
    return OriginateRequest(
        request_id=request_id,
        channel=operator_interface,
        context=dial_context,
        exten=number[1:],
        caller_id=f'"{number}" <{number}>',
        variables=tuple(variables),
        ring_timeout=ring_timeout,
    )


def callback(
    request_id: str,
    *,
    citizen_number: str,
    dial_template: str,
    ticket_id: str,
    callback_id: str,
    context: str = "callback",
    exten: str = "s",
    caller_id: str = '"1563" <1563>',
    ring_timeout: float = 30.0,
) -> OriginateRequest:
    """Call the citizen through the trunk; on answer Asterisk runs ``context``/``exten``.

    ``dial_template`` may use ``{number}`` (+79781234567), ``{digits}`` (79781234567) and
    ``{national}`` (89781234567), e.g. ``PJSIP/{number}@city-trunk``.
    """
    number = _check_e164(citizen_number)
    channel = render_dial_template(dial_template, number)
    return OriginateRequest(
        request_id=request_id,
        channel=channel,
        context=context,
        exten=exten,
        caller_id=caller_id,
        variables=(
            (TICKET_VARIABLE, str(ticket_id)),
            (CALLBACK_VARIABLE, str(callback_id)),
            (CITIZEN_VARIABLE, number),
        ),
        ring_timeout=ring_timeout,
    )


def escalation(
    request_id: str,
    *,
    phone: str,
    dial_template: str,
    ticket_number: str,
    escalation_id: str,
    kind: str,
    context: str = cv.CONTEXT_ESCALATION,
    exten: str = cv.ESCALATION_EXTEN,
    caller_id: str = '"1563" <1563>',
    ring_timeout: float = 40.0,
) -> OriginateRequest:
    """Call a department's duty phone (or its head) about a late ticket; on answer Asterisk runs
    the ``escalation`` script (asterisk-config/extensions.conf [escalation])."""
    number = _check_e164(phone)
    return OriginateRequest(
        request_id=request_id,
        channel=render_dial_template(dial_template, number),
        context=context,
        exten=exten,
        caller_id=caller_id,
        variables=(
            (TICKET_VARIABLE, str(ticket_number)),
            (cv.ESCALATION_ID, str(escalation_id)),
            (cv.ESCALATION_KIND, kind),
        ),
        ring_timeout=ring_timeout,
    )


def render_dial_template(template: str, e164: str) -> str:
    """Fill a dial template such as ``PJSIP/{number}@city-trunk``; clear error if it is bad."""
    digits = e164[1:]
    national = "8" + digits[1:] if digits.startswith("7") else digits
    try:
        channel = template.format(number=e164, digits=digits, national=national)
    except (KeyError, IndexError, ValueError) as err:
        raise InvalidOriginate(
            f"dial template {template!r} is not usable ({err!s}); use {{number}}, {{digits}} or {{national}}"
        ) from err
    if channel == template:
        raise InvalidOriginate(f"dial template {template!r} never uses the number")
    return check_header_value("dial template", channel)
