"""The AMI link against a misbehaving Asterisk: drops, restarts, garbage, silence, slow readers."""

from __future__ import annotations

import asyncio

import pytest
from panoramisk import Manager

from callcenter.domain.calls import (
    BoardResynced,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallPhase,
    OperatorState,
    OriginateOutcome,
)
from callcenter.telephony.ami_link import (
    AmiLink,
    AmiSettings,
    ChannelsSnapshot,
    LinkState,
    LinkStatus,
    QueueSnapshot,
    StreamGap,
)
from callcenter.telephony.ami_protocol import AmiNotConnected
from callcenter.telephony.originate import InvalidOriginate, callback, click_to_call
from callcenter.telephony.tracker import CallTracker
from callcenter.telephony.tracker_feed import TrackerFeed
from tests.protocol.fake_ami import FakeAmi, NoteSink, encode_frame, load_trace, next_item

QUEUE_CALL = "1795979524.2"


@pytest.fixture
async def fake():
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


def settings_for(fake: FakeAmi, **overrides) -> AmiSettings:
    values = dict(
        host="127.0.0.1",
        port=fake.port,
        username="callcenter",
        secret="labsecret",
        backoff_initial=0.05,
        backoff_max=0.2,
        ping_interval=30.0,
    )
    values.update(overrides)
    return AmiSettings(**values)


class Wired:
    """Link + tracker + feed + notification sink, started and closed together."""

    def __init__(self, fake: FakeAmi, **overrides) -> None:
        self.link = AmiLink(settings_for(fake, **overrides))
        self.tracker = CallTracker()
        self.sink = NoteSink()
        self.feed = TrackerFeed(self.link, self.tracker, self.sink)

    async def __aenter__(self) -> Wired:
        await self.feed.start()
        await self.link.start()
        assert await self.link.wait_connected(5)
        await self.resynced(1)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.feed.close()
        await self.link.close()

    async def resynced(self, logins: int) -> None:
        """Wait until the tracker applied the resyncs of ``logins`` logins.

        Each login lists channels then queues: two BoardResynced notifications.
        """
        await self.sink.wait_for(lambda n: len(self.sink.of_type(BoardResynced)) >= 2 * logins)


def _index_of(events, name: str) -> int:
    return next(i for i, f in enumerate(events) if dict(f)["Event"] == name)


async def test_disabled_link_sends_nothing_and_says_so():
    link = AmiLink(AmiSettings(host=None))
    await link.start()
    assert link.state is LinkState.DISABLED
    with pytest.raises(AmiNotConnected):
        await link.send_action({"Action": "Ping"})
    request = callback(
        "cb-1", citizen_number="+79780001122", dial_template="PJSIP/{number}@city-trunk", ticket_id="1", callback_id="1"
    )
    assert (await link.originate(request)).outcome is OriginateOutcome.NOT_SENT
    await link.close()


async def test_refused_login_keeps_the_link_down_and_retries(fake):
    link = AmiLink(settings_for(fake, secret="wrong"))
    await link.start()
    try:
        await fake.wait_for(lambda: fake.count("Login") >= 2)
        assert fake.logins == 0
        assert link.state is LinkState.DISCONNECTED
    finally:
        await link.close()


async def test_link_drop_mid_call_then_resync_restores_the_live_call(fake):
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    join = _index_of(events, "QueueCallerJoin")
    async with Wired(fake) as w:
        await fake.replay(trace, stop=join)
        await w.sink.wait_for(lambda n: getattr(n, "call", None) and n.call.ivr_route == "operator")
        fake.drop()
        # While the link is down the caller joins the queue: Asterisk keeps the call,
        # we see none of those events.
        await fake.replay(trace, start=join, stop=join + 1)
        await w.resynced(2)
        call = w.tracker.call(QUEUE_CALL)
        assert call is not None and call.phase is CallPhase.QUEUED and call.queue == "hotline"
        assert call.caller == "+79780003330"
        board = w.tracker.snapshot()
        assert [c.linkedid for c in board.queued] == [QUEUE_CALL]
        assert board.queued[0].queue_wait_seconds is not None
        await fake.replay(trace, start=join + 1)
        ended = (await w.sink.wait_for(lambda n: isinstance(n, CallEnded))).call
        assert ended.answered_by == "Local/op1@operators/n" and not ended.abandoned
        assert fake.logins == 2


async def test_a_fresh_tracker_learns_a_talking_call_from_resync(fake):
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    await fake.replay(trace, stop=_index_of(events, "BridgeEnter") + 2)  # nobody listening
    async with Wired(fake) as w:
        call = w.tracker.call(QUEUE_CALL)
        assert call is not None and call.phase is CallPhase.TALKING
        operators = {o.interface: o for o in w.tracker.snapshot().operators}
        assert operators["Local/op1@operators/n"].state is OperatorState.TALKING
        assert call.answered_by == "Local/op1@operators/n"


async def test_asterisk_restart_ends_calls_that_died_with_it(fake):
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    async with Wired(fake) as w:
        await fake.replay(trace, stop=_index_of(events, "AgentCalled") + 1)
        await w.sink.wait_for(lambda n: type(n).__name__ == "OperatorRinging")
        await fake.restart()
        await fake.wait_for_logins(2)
        ended = (await w.sink.wait_for(lambda n: isinstance(n, CallEnded))).call
        assert ended.linkedid == QUEUE_CALL and ended.hangup_cause is None
        assert ended.hangup_cause_text == "ended while the AMI link was down"
        abandoned = (await w.sink.wait_for(lambda n: isinstance(n, CallAbandoned))).call
        assert abandoned.needs_callback and abandoned.caller == "+79780003330"
        assert w.tracker.live_calls() == ()
        assert w.link.state is LinkState.CONNECTED


async def test_garbage_and_half_frames_are_skipped_without_losing_the_link(fake):
    link = AmiLink(settings_for(fake))
    sub = link.subscribe()
    await link.start()
    try:
        assert await link.wait_connected(5)
        await next_item(sub, lambda i: isinstance(i, QueueSnapshot))
        await fake.send_raw(b"\x00\xff\xfe garbage without a colon\r\n\r\n")
        await fake.send_raw(b"Foo: bar\r\nBaz: qux\r\n\r\n")  # no Event, no Response
        hangup = [
            ("Event", "Hangup"),
            ("Channel", "PJSIP/city-trunk-00000001"),
            ("CallerIDName", "Иван Петров"),
            ("Uniqueid", "1.1"),
            ("Linkedid", "1.1"),
            ("Cause", "16"),
            ("Cause-txt", "Normal Clearing"),
        ]
        wire = encode_frame(hangup)
        cut = wire.index("Петров".encode()) + 1  # inside a two-byte Cyrillic letter
        await fake.send_raw(wire[:cut])
        await fake.send_raw(wire[cut:])
        event = await next_item(sub, lambda i: isinstance(i, dict) and i.get("Event") == "Hangup")
        assert event == dict(hangup)
        assert link.stats.malformed == 2
        assert link.state is LinkState.CONNECTED and fake.logins == 1
        pong = await link.send_action({"Action": "Ping"})
        assert pong.response["Ping"] == "Pong"
    finally:
        await link.close()


async def test_unanswered_ping_drops_the_half_open_link_and_reconnects(fake):
    link = AmiLink(settings_for(fake, ping_interval=0.1, ping_timeout=0.2))
    sub = link.subscribe()
    await link.start()
    try:
        assert await link.wait_connected(5)
        await fake.wait_for(lambda: fake.count("Ping") >= 1)
        fake.answer_pings = False
        await next_item(sub, lambda i: i == LinkStatus(LinkState.DISCONNECTED))
        assert link.stats.pings_missed >= 1
        fake.answer_pings = True
        await fake.wait_for_logins(2)
        assert await link.wait_connected(5)
    finally:
        await link.close()


async def test_slow_consumer_loses_only_its_own_items(fake):
    trace = load_trace("ami-queue-operator.txt")
    link = AmiLink(settings_for(fake))
    slow = link.subscribe(maxsize=5, name="slow")
    fast = link.subscribe(name="fast")
    await link.start()
    try:
        assert await link.wait_connected(5)
        await next_item(fast, lambda i: isinstance(i, QueueSnapshot))
        await fake.replay(trace)
        for frame in trace.events():
            item = await next_item(fast, lambda i: isinstance(i, dict) and i.get("Event") != "FullyBooted")
            assert item == dict(frame)
        assert slow.dropped > 0 and len(slow) == 5
        # the reader kept going: actions are still answered on time
        assert (await link.send_action({"Action": "Ping"})).ok
        items = [await slow.get() for _ in range(5)]
        assert all(not isinstance(i, StreamGap) for i in items)
        gap = await next_item(slow)  # reported as soon as the backlog is consumed
        assert isinstance(gap, StreamGap) and gap.dropped == slow.dropped
    finally:
        await link.close()


async def test_a_slow_notifier_gets_a_resync_after_its_gap(fake):
    release = asyncio.Event()
    sink = NoteSink()

    async def stuck_publish(notes):
        await release.wait()
        await sink(notes)

    link = AmiLink(settings_for(fake))
    tracker = CallTracker()
    feed = TrackerFeed(link, tracker, stuck_publish, maxsize=4)
    await feed.start()
    await link.start()
    try:
        assert await link.wait_connected(5)
        trace = load_trace("ami-queue-operator.txt")
        events = trace.events()
        await fake.replay(trace, stop=_index_of(events, "AgentConnect") + 1)
        # a Ping's answer comes after every replayed frame: the reader has seen them all
        assert (await link.send_action({"Action": "Ping"})).ok
        assert feed.subscription.dropped > 0
        resyncs_before = fake.count("CoreShowChannels")
        release.set()
        await fake.wait_for(lambda: fake.count("CoreShowChannels") > resyncs_before)
        await sink.wait_for(
            lambda n: (
                isinstance(n, BoardResynced)
                and tracker.call(QUEUE_CALL)
                and len(tracker.call(QUEUE_CALL).channels) == 4
            )
        )
        call = tracker.call(QUEUE_CALL)
        assert call.caller == "+79780003330" and call.queue == "hotline"
    finally:
        await feed.close()
        await link.close()


async def test_originate_whose_response_is_lost_times_out_and_is_never_redialled(fake):
    fake.lose_originate_responses = True
    async with Wired(fake) as w:
        request = click_to_call(
            "c2c-1", operator_interface="PJSIP/op1", citizen_number="+79780001122", dial_context="dial-citizen"
        )
        result = await w.link.originate(request, timeout=0.5)
        assert result.outcome is OriginateOutcome.TIMED_OUT and result.outcome.may_have_dialled
        again = await w.link.originate(request, timeout=0.2)
        # the first attempt's channel cc-c2c-1 is live: report it, do not dial
        assert again.outcome is OriginateOutcome.IN_PROGRESS and again.repeated
        assert again.uniqueid == "cc-c2c-1"
        assert fake.count("Originate", "c2c-1") == 1
        call = w.tracker.call("cc-c2c-1")
        assert call is not None and call.request_id == "c2c-1"


async def test_reconnect_never_sends_an_originate_twice(fake):
    fake.drop_after_originate = True
    async with Wired(fake) as w:
        request = callback(
            "cb-77",
            citizen_number="+79780001122",
            dial_template="PJSIP/{number}@city-trunk",
            ticket_id="77",
            callback_id="5",
        )
        first = await w.link.originate(request, timeout=1.0)
        assert first.outcome is OriginateOutcome.TIMED_OUT
        await fake.wait_for_logins(2)
        assert await w.link.wait_connected(5)
        fake.drop_after_originate = False
        second = await w.link.originate(request, timeout=1.0)
        assert second.repeated and second.outcome is OriginateOutcome.TIMED_OUT
        assert fake.count("Originate", "cb-77") == 1


async def test_not_sent_originate_goes_out_once_the_link_is_back(fake):
    link = AmiLink(settings_for(fake))
    request = callback(
        "cb-78",
        citizen_number="+79780001122",
        dial_template="PJSIP/{number}@city-trunk",
        ticket_id="78",
        callback_id="6",
    )
    assert (await link.originate(request)).outcome is OriginateOutcome.NOT_SENT
    await link.start()
    try:
        assert await link.wait_connected(5)
        answered = await link.originate(request, timeout=2)
        assert answered.outcome is OriginateOutcome.ANSWERED and answered.uniqueid == "cc-cb-78"
        repeat = await link.originate(request, timeout=2)
        assert repeat.repeated and repeat.outcome is OriginateOutcome.ANSWERED
        assert fake.count("Originate", "cb-78") == 1
        sent = [a for a in fake.actions if a.get("Action") == "Originate"][0]
        assert sent["Channel"] == "PJSIP/+79780001122@city-trunk"
        assert sent["Variable"] == ["TICKET_ID=78", "CALLBACK_ID=6", "CITIZEN_NUMBER=+79780001122"]
        assert (sent["Context"], sent["Exten"], sent["Async"], sent["ChannelId"]) == (
            "callback",
            "s",
            "true",
            "cc-cb-78",
        )
    finally:
        await link.close()


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [("8", OriginateOutcome.CONGESTION), ("1", OriginateOutcome.HUNG_UP), ("2", OriginateOutcome.FAILED)],
)
async def test_other_originate_reasons(fake, reason, outcome):
    fake.originate_reason = reason
    async with Wired(fake) as w:
        request = callback(
            f"cb-r{reason}",
            citizen_number="+79780001122",
            dial_template="PJSIP/{number}@city-trunk",
            ticket_id="1",
            callback_id="1",
        )
        result = await w.link.originate(request, timeout=2)
        assert result.outcome is outcome and result.uniqueid is None


async def test_refused_originate_is_rejected_not_timed_out(fake):
    fake.reject_originates = "Permission denied"
    async with Wired(fake) as w:
        request = click_to_call(
            "c2c-2", operator_interface="PJSIP/op1", citizen_number="+79780001122", dial_context="dial-citizen"
        )
        result = await w.link.originate(request, timeout=2)
        assert result.outcome is OriginateOutcome.REJECTED and not result.outcome.may_have_dialled
        assert result.detail == "Permission denied"


async def test_injection_in_an_originate_is_refused_before_sending(fake):
    async with Wired(fake) as w:
        with pytest.raises(InvalidOriginate):
            click_to_call(
                "c2c-3",
                operator_interface="PJSIP/op1\r\nAction: Hangup",
                citizen_number="+79780001122",
                dial_context="dial-citizen",
            )
        with pytest.raises(InvalidOriginate):
            callback(
                "bad id",
                citizen_number="+79780001122",
                dial_template="PJSIP/{number}@t",
                ticket_id="1",
                callback_id="1",
            )
        with pytest.raises(InvalidOriginate):
            callback(
                "cb-9", citizen_number="89780001122", dial_template="PJSIP/{number}@t", ticket_id="1", callback_id="1"
            )
        with pytest.raises(InvalidOriginate):
            callback(
                "cb-9", citizen_number="+79780001122", dial_template="PJSIP/{nomber}@t", ticket_id="1", callback_id="1"
            )
        with pytest.raises(ValueError):
            await w.link.send_action({"Action": "Command", "Command": "core show uptime\r\n\r\nAction: X"})
        assert fake.count("Originate") == 0 and fake.count("Command") == 0
        assert fake.count("X") == 0


async def test_channels_and_queue_lists_arrive_in_the_stream(fake):
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    await fake.replay(trace, stop=_index_of(events, "QueueCallerJoin") + 1)
    link = AmiLink(settings_for(fake))
    sub = link.subscribe()
    await link.start()
    try:
        channels = await next_item(sub, lambda i: isinstance(i, ChannelsSnapshot))
        assert {c["Linkedid"] for c in channels.channels} == {QUEUE_CALL}
        queues = await next_item(sub, lambda i: isinstance(i, QueueSnapshot))
        assert [e["CallerIDNum"] for e in queues.entries] == ["+79780003330"]
        assert [m["Name"] for m in queues.members] == ["Operator One"]
        report = await link.resync()
        assert (report.channels, report.queue_members, report.queue_entries) == (2, 1, 1)
    finally:
        await link.close()


async def test_answer_after_the_drop_is_still_tracked(fake):
    """Events after a reconnect continue a call the tracker already knew."""
    trace = load_trace("ami-queue-operator.txt")
    events = trace.events()
    called = _index_of(events, "AgentCalled")
    async with Wired(fake) as w:
        await fake.replay(trace, stop=called + 1)
        await w.sink.wait_for(lambda n: type(n).__name__ == "OperatorRinging")
        fake.drop()
        await fake.wait_for_logins(2)
        await w.resynced(2)
        await fake.replay(trace, start=called + 1)
        answered = await w.sink.wait_for(lambda n: isinstance(n, CallAnswered))
        assert answered.interface == "Local/op1@operators/n"
        assert len(w.sink.of_type(CallEnded)) == 1


async def test_panoramisk_manager_would_dial_twice_after_a_reconnect(fake):
    """Why AmiLink replaces panoramisk's Manager: the same drop makes it re-send the Originate."""
    fake.drop_after_originate = True
    manager = Manager(
        host="127.0.0.1",
        port=fake.port,
        username="callcenter",
        secret="labsecret",
        ping_delay=1000,
        ping_interval=1000,
        reconnect_timeout=0.05,
        loop=asyncio.get_running_loop(),
    )
    await manager.connect()
    try:
        await fake.wait_for_logins(1)
        manager.send_action(
            {
                "Action": "Originate",
                "ActionID": "cb-1",
                "Channel": "PJSIP/x",
                "Context": "callback",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
            }
        )
        await fake.wait_for(lambda: fake.count("Originate", "cb-1") == 1)
        fake.drop_after_originate = False
        await fake.wait_for(lambda: fake.count("Originate", "cb-1") == 2)
    finally:
        manager.close()
