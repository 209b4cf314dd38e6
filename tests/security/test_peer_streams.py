"""Hostile or broken peers on the telephony links: AMI frames and the FastAGI environment."""

from __future__ import annotations

from callcenter.telephony.ami import AmiFrameParser
from callcenter.telephony.tracker import CallTracker
from tests.protocol.fake_ami import load_trace
from tests.protocol.test_ami_tracker import feed_all, upto


def test_a_varset_with_a_repeated_variable_header_is_applied_not_lost() -> None:
    events = [dict(f) for f in load_trace("ami-ivr-report.txt").events()]
    tracker = CallTracker()
    feed_all(tracker, upto(events, "VarSet"))
    choice = next(e for e in events if e.get("Variable") == "IVR_CHOICE")
    raw = "".join(f"{k}: {v}\r\n" for k, v in choice.items() if k != "Variable")
    raw += "Variable: SOMETHING_ELSE\r\nVariable: IVR_CHOICE\r\n\r\n"
    [frame] = AmiFrameParser().feed(raw.encode())
    assert frame["Variable"] == ["SOMETHING_ELSE", "IVR_CHOICE"]   # what the parser hands on
    tracker.feed(frame)                                             # raised TypeError before
    assert [c.ivr_choices for c in tracker.snapshot().in_ivr] == [(choice["Value"],)]
