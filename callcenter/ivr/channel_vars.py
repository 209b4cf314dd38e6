"""Every AGI script name and channel-variable name shared with the dialplan.

asterisk-config/extensions.conf uses these exact names; tests/unit/test_channel_vars.py
checks that the dialplan names nothing that is missing here.
"""

from __future__ import annotations

# --- AGI script names: the path of agi://host:4573/NAME, the module name under
# callcenter/ivr/scripts/ and the name of its handler factory are the same word.
SCRIPT_IVR = "ivr"
SCRIPT_CALLBACK = "callback"
SCRIPT_ESCALATION = "escalation"  # a late ticket read to a department's duty phone (wallboard feature)
SCRIPTS = (SCRIPT_IVR, SCRIPT_CALLBACK, SCRIPT_ESCALATION)

# --- Variables the AGI scripts set (the AMI side sees them as VarSet events).
IVR_ROUTE = "IVR_ROUTE"  # where the dialplan goes after AGI(): see ROUTE_* below
IVR_CHOICE = "IVR_CHOICE"  # the last key the caller pressed in a menu
IVR_PATH = "IVR_PATH"  # compact trail of the caller's choices, e.g. "1>water_leak>record"
IVR_TICKET = "IVR_TICKET"  # ticket number the call is about (found or created by the IVR)
IVR_INCIDENT = "IVR_INCIDENT"  # id of the outage incident announced to the caller (ivr/outage.py)
CALLBACK_RESULT = "CALLBACK_RESULT"  # outcome of the satisfaction call: see OUTCOME_* below

# --- Variables the dialplan (or the AMI Originate) gives to the AGI scripts.
TICKET_ID = "TICKET_ID"  # ticket number a callback is about (Originate Variable)
CALLBACK_ID = "CALLBACK_ID"  # id of the callback row (Originate Variable)
CITIZEN_NUMBER = "CITIZEN_NUMBER"  # the citizen's number on an outbound call (Originate Variable)
ESCALATION_ID = "ESCALATION_ID"  # id of the escalation row an escalation call is about (Originate Variable)
ESCALATION_KIND = "ESCALATION_KIND"  # "accept" (not accepted in time) or "done" (not done in time)
ESCALATION_RESULT = "ESCALATION_RESULT"  # set by the escalation script: see ESCALATION_* values below
SPY_TARGET = "SPY_TARGET"  # Uniqueid of the leg a live-conversation spy listens to (Originate Variable)

OUR_VARIABLES = (
    IVR_ROUTE,
    IVR_CHOICE,
    IVR_PATH,
    IVR_TICKET,
    IVR_INCIDENT,
    CALLBACK_RESULT,
    TICKET_ID,
    CALLBACK_ID,
    CITIZEN_NUMBER,
    ESCALATION_ID,
    ESCALATION_KIND,
    ESCALATION_RESULT,
    SPY_TARGET,
)

# --- Asterisk's own variables and dialplan functions the dialplan and scripts read.
CALLERID_NUM = "CALLERID(num)"
ASTERISK_BUILTINS = (
    "CALLERID",  # function: CALLERID(num), CALLERID(name)
    "CHANNEL",  # function: CHANNEL(language)
    "AGISTATUS",  # SUCCESS, FAILURE, NOTFOUND or HANGUP after AGI()
    "EXTEN",
    "QUEUESTATUS",
)

# --- Globals of extensions.conf ([globals]): set by the admin, read only by the dialplan.
CALLCENTER_AGI = "CALLCENTER_AGI"  # host:port of the FastAGI server (CALLCENTER_AGI_HOST/_PORT)
DIALPLAN_GLOBALS = (CALLCENTER_AGI,)

ALL_VARIABLE_NAMES = frozenset(OUR_VARIABLES + ASTERISK_BUILTINS + DIALPLAN_GLOBALS)

# --- Values of IVR_ROUTE.
ROUTE_OPERATOR = "operator"  # the dialplan runs Queue(hotline)
ROUTE_DONE = "done"  # the IVR finished the call; the dialplan hangs up
ROUTE_HANGUP = "hangup"  # the caller chose to end the call

# --- Values of CALLBACK_RESULT (and the outcome given to the backend).
OUTCOME_SATISFIED = "satisfied"
OUTCOME_NOT_SATISFIED = "not_satisfied"
OUTCOME_OPERATOR = "operator"
OUTCOME_NO_INPUT = "no_input"
OUTCOME_HANGUP = "hangup"
CALLBACK_OUTCOMES = (
    OUTCOME_SATISFIED,
    OUTCOME_NOT_SATISFIED,
    OUTCOME_OPERATOR,
    OUTCOME_NO_INPUT,
    OUTCOME_HANGUP,
)

# --- Dialplan contexts, extensions and the queue the scripts and the AMI originate rely on.
CONTEXT_HOTLINE = "hotline"
HOTLINE_EXTEN = "1563"
CONTEXT_CALLBACK = "callback"
CONTEXT_ESCALATION = "escalation"
ESCALATION_EXTEN = "s"

# --- Values of ESCALATION_RESULT.
ESCALATION_ACCEPTED = "accepted"  # the duty dispatcher pressed 1
ESCALATION_NOT_ACCEPTED = "not_accepted"  # no key, another key, or the ticket had moved on
ESCALATION_HANGUP = "hangup"
CALLBACK_EXTEN = "s"
QUEUE_HOTLINE = "hotline"
