"""FastAGI server against a fake Asterisk on a real socket: every recorded trace replayed,
the four panoramisk traps (each followed by a good session on the same server), stalls,
garbage and peers that are not allowed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter.ivr.agi import (
    AgiChannel,
    AgiCommandError,
    AgiHangup,
    AgiLimits,
    AgiProtocolError,
    AgiReply,
    AgiServer,
    AgiTimeout,
    AgiTimeouts,
)
from tests.protocol.agi_peer import (
    DEAD,
    HANGUP,
    INVALID,
    STREAM_FILE_USAGE,
    FakeAsterisk,
    TraceSession,
    environment_lines,
    load_trace,
    step,
    trace_files,
    trace_sessions,
)

HOST = "127.0.0.1"
FAST = AgiTimeouts(header=0.3, command=0.3, media=0.3, session=10, shutdown_grace=0.5)

pytestmark = pytest.mark.timeout(60)  # signal-based: fires even if a bug froze the event loop


@dataclass
class Seen:
    """What the handlers saw, per test."""

    outcomes: list[Any] = field(default_factory=list)
    channels: list[AgiChannel] = field(default_factory=list)


async def ping(channel: AgiChannel) -> None:
    """A minimal script used to prove the server still serves after a bad session."""
    await channel.answer()
    await channel.set_variable("IVR_ROUTE", "done")


PING_SCRIPT = [step("ANSWER", "200 result=0"), step('SET VARIABLE IVR_ROUTE "done"', "200 result=1")]


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[AgiServer] = []

    async def start(routes: dict[str, Any], **kwargs: Any) -> AgiServer:
        server = AgiServer(HOST, 0, {"ping": ping, **routes}, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def assert_serves_next_session(server: AgiServer) -> None:
    """A correct session right after a bad one: served completely and on time."""
    before = server.stats.completed
    result = await FakeAsterisk(HOST, server.port, env=environment_lines("ping"), script=PING_SCRIPT, exact=True).run()
    assert result.mismatches == []
    assert result.commands == ["ANSWER", 'SET VARIABLE IVR_ROUTE "done"']
    assert result.server_closed
    await server.wait_idle(5)
    assert server.stats.completed == before + 1


# --- replaying the recorded traces -----------------------------------------------------


def _expected_kind(reply_lines: tuple[str, ...]) -> str:
    final = reply_lines[-1]
    if final.startswith("511"):
        return "hangup"
    if final.startswith(("510", "520")):
        return f"error {final[:3]}"
    return "reply"


def test_traces_are_present() -> None:
    files = trace_files()
    assert {f.name for f in files} >= {
        "agi-callback.log",
        "agi-hangup-early.log",
        "agi-ivr-report.log",
        "agi-operator.log",
    }
    assert all(load_trace(f) for f in files)


@pytest.mark.parametrize("session", trace_sessions(), ids=lambda s: s.source)
async def test_replay_trace(make_server: Callable[..., Any], session: TraceSession) -> None:
    seen = Seen()

    async def replay(channel: AgiChannel) -> None:
        seen.channels.append(channel)
        for exchange in session.steps:
            try:
                seen.outcomes.append(("reply", await channel.command(exchange.expect), channel.hung_up))
            except AgiHangup:
                seen.outcomes.append(("hangup", None, channel.hung_up))
            except AgiCommandError as err:
                seen.outcomes.append((f"error {err.reply.code}", err.reply, channel.hung_up))

    script = session.env[1].split(": ", 1)[1]
    server = await make_server({script: replay})
    result = await FakeAsterisk(HOST, server.port, env=session.env, script=session.steps, exact=True).run()

    assert result.mismatches == []
    assert result.commands == [s.expect for s in session.steps]
    assert result.server_closed
    env = seen.channels[0].env
    assert env.values == {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in session.env if line}
    hung_up = False
    for exchange, (kind, reply, hung_up_after) in zip(session.steps, seen.outcomes, strict=True):
        assert kind == _expected_kind(exchange.reply), exchange
        hung_up = hung_up or HANGUP in exchange.reply or kind == "hangup"
        assert hung_up_after == hung_up, exchange
        if kind != "hangup":
            assert reply.lines == tuple(line for line in exchange.reply if line != HANGUP)
    await assert_serves_next_session(server)


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "endpos"),
    [
        ("200 result=0", 200, "0", None, None),
        ("200 result=1 (1042)", 200, "1", "1042", None),
        ("200 result=1 (+79780001122)", 200, "1", "+79780001122", None),
        ("200 result=0 endpos=44640", 200, "0", None, 44640),
        ("200 result=-1 endpos=39520", 200, "-1", None, 39520),
        ("200 result=-1", 200, "-1", None, None),
        ("200 result= (timeout)", 200, "", "timeout", None),
        ("200 result=12 (timeout)", 200, "12", "timeout", None),
        ("200 result=35 (dtmf) endpos=10501", 200, "35", "dtmf", 10501),
        ("200 result=-1 (hangup) endpos=8000", 200, "-1", "hangup", 8000),
        ("200 result=0 (timeout) endpos=24000", 200, "0", "timeout", 24000),
        ("200 result=1 (a (nested) value endpos=3)", 200, "1", "a (nested) value endpos=3", None),
        ("200 result=6", 200, "6", None, None),
        (
            "511 Command Not Permitted on a dead channel or intercept routine",
            511,
            None,
            "Command Not Permitted on a dead channel or intercept routine",
            None,
        ),
        ("510 Invalid or unknown command", 510, None, "Invalid or unknown command", None),
    ],
)
def test_reply_parsing(line: str, code: int, result: str | None, data: str | None, endpos: int | None) -> None:
    reply = AgiReply.parse([line])
    assert (reply.code, reply.result, reply.data, reply.endpos) == (code, result, data, endpos)


@pytest.mark.parametrize("line", ["hello", "", "20 result=1", "200 nothing", "HANGUPX", "2000 result=1"])
def test_reply_parsing_refuses_garbage(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        AgiReply.parse([line])


def _trace(name: str) -> TraceSession:
    [session] = [s for s in trace_sessions() if s.source == name]
    return session


async def test_typed_commands_are_exact_to_the_report_trace(make_server: Callable[..., Any]) -> None:
    session = _trace("agi-ivr-report.log")
    got: dict[str, Any] = {}

    async def typed(channel: AgiChannel) -> None:
        await channel.answer()
        got["callerid"] = await channel.get_variable("CALLERID(num)")
        got["intro"] = await channel.stream_file("vm-intro", "")
        got["data"] = await channel.get_data("beep", 5000, 1)
        await channel.set_variable("IVR_CHOICE", "1")
        got["record"] = await channel.record_file("/tmp/astlab/rec-1795979628342", "wav", "#", 20000, 0, True, 3)
        got["digits"] = await channel.say_digits("1234")
        got["number"] = await channel.say_number(42)
        with pytest.raises(AgiCommandError) as unknown:
            await channel.command("NOSUCHCOMMAND foo")
        got["510"] = unknown.value.reply
        with pytest.raises(AgiCommandError) as usage:
            await channel.command("STREAM FILE")
        got["520"] = usage.value.reply
        got["wait"] = await channel.wait_for_digit(100)
        got["status"] = await channel.channel_status()
        await channel.command("DATABASE PUT ivr last 1")
        got["exec"] = await channel.exec("Playback", "beep")
        await channel.set_variable("IVR_ROUTE", "done")

    server = await make_server({"ivr": typed})
    result = await FakeAsterisk(HOST, server.port, env=session.env, script=session.steps, exact=True).run()

    assert result.mismatches == [] and result.script_left == 0
    assert got["callerid"] == "+79780001122"
    assert (got["intro"].digit, got["intro"].endpos, got["intro"].failed) == (None, 44640, False)
    assert (got["data"].digits, got["data"].timed_out, got["data"].failed) == ("", True, False)
    assert (got["record"].reason, got["record"].digit, got["record"].endpos) == ("dtmf", "#", 10501)
    assert not got["record"].failed and not got["record"].ended_by_hangup
    assert got["digits"].digit is None and got["number"].digit is None
    assert got["510"].code == 510
    assert got["520"].code == 520 and got["520"].lines == STREAM_FILE_USAGE
    assert got["520"].usage.startswith("Send the given file")
    assert (got["wait"].digits, got["wait"].timed_out) == ("", True)
    assert got["status"] == 6
    assert got["exec"].result == "0"
    assert server.stats.completed == 1


async def test_typed_commands_on_the_hangup_trace(make_server: Callable[..., Any]) -> None:
    session = _trace("agi-hangup-early.log")
    got: dict[str, Any] = {}

    async def typed(channel: AgiChannel) -> None:
        await channel.answer()
        await channel.get_variable("CALLERID(num)")
        got["intro"] = await channel.stream_file("vm-intro", "")
        with pytest.raises(AgiHangup):
            await channel.get_data("beep", 5000, 1)
        got["hung_up"] = channel.hung_up
        got["set"] = await channel.set_variable("IVR_CHOICE", "1")  # still allowed on a dead channel
        with pytest.raises(AgiHangup):
            await channel.record_file("/tmp/astlab/rec-1795979601578", "wav", "#", 20000, 0, True, 3)
        with pytest.raises(AgiHangup):
            await channel.say_digits("1234")

    server = await make_server({"ivr": typed})
    result = await FakeAsterisk(HOST, server.port, env=session.env, script=session.steps[:7], exact=True).run()

    assert result.mismatches == []
    assert got["intro"].failed and got["intro"].endpos == 39520
    assert got["hung_up"] is True
    assert got["set"].result == "1"


async def test_typed_commands_on_the_callback_trace(make_server: Callable[..., Any]) -> None:
    session = _trace("agi-callback.log")
    got: dict[str, Any] = {}

    async def typed(channel: AgiChannel) -> None:
        got["ticket"] = await channel.get_variable("TICKET_ID")
        await channel.stream_file("vm-intro", "")
        got["data"] = await channel.get_data("beep", 8000, 1)
        got["set"] = await channel.set_variable("CALLBACK_RESULT", "satisfied")
        got["hung_up"] = channel.hung_up

    server = await make_server({"callback": typed})
    result = await FakeAsterisk(HOST, server.port, env=session.env, script=session.steps, exact=True).run()

    assert result.mismatches == []
    assert got["ticket"] == "1042"
    assert got["data"].failed and got["data"].digits == ""
    assert got["set"].lines == ("200 result=1",)  # the reply after the inline HANGUP, not the HANGUP
    assert got["hung_up"] is True


# --- the four panoramisk traps ---------------------------------------------------------


async def test_peer_closing_mid_header_costs_one_session(make_server: Callable[..., Any]) -> None:
    server = await make_server({})
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write("".join(line + "\n" for line in environment_lines("ping")[:5]).encode())
    await writer.drain()
    writer.close()  # gone before the blank line that ends the header
    await writer.wait_closed()
    await server.wait_idle(5)
    assert server.stats.bad_header == 1
    await assert_serves_next_session(server)


async def test_peer_closing_mid_line_in_header(make_server: Callable[..., Any]) -> None:
    server = await make_server({})
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(b"agi_network: yes\nagi_network_scr")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await server.wait_idle(5)
    assert server.stats.bad_header == 1
    await assert_serves_next_session(server)


async def test_multiline_520_is_read_to_its_end(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def usage_then_more(channel: AgiChannel) -> None:
        with pytest.raises(AgiCommandError) as err:
            await channel.command("STREAM FILE")
        seen.outcomes.append(err.value.reply)
        seen.outcomes.append(await channel.wait_for_digit(100))
        seen.outcomes.append(await channel.channel_status())

    server = await make_server({"usage": usage_then_more})
    script = [
        step("STREAM FILE", *STREAM_FILE_USAGE),
        step("WAIT FOR DIGIT 100", "200 result=49"),
        step("CHANNEL STATUS", "200 result=6"),
    ]
    result = await FakeAsterisk(HOST, server.port, env=environment_lines("usage"), script=script, exact=True).run()

    assert result.mismatches == [] and result.script_left == 0
    usage, wait, status = seen.outcomes
    assert usage.code == 520 and len(usage.lines) == len(STREAM_FILE_USAGE)
    assert wait.digits == "1"  # its own reply, not a stale usage line
    assert status == 6
    await assert_serves_next_session(server)


async def test_inline_hangup_before_the_reply(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def hangup_midway(channel: AgiChannel) -> None:
        seen.outcomes.append(await channel.stream_file("1563/greeting"))
        seen.outcomes.append(channel.hung_up)
        seen.outcomes.append(await channel.get_variable("TICKET_ID"))
        with pytest.raises(AgiHangup):
            await channel.wait_for_digit(5000)

    server = await make_server({"inline": hangup_midway})
    script = [
        step('STREAM FILE 1563/greeting "0123456789*#"', HANGUP, "200 result=-1 endpos=1200"),
        step("GET VARIABLE TICKET_ID", "200 result=1 (2611042)"),
        step("WAIT FOR DIGIT 5000", DEAD),
    ]
    result = await FakeAsterisk(HOST, server.port, env=environment_lines("inline"), script=script, exact=True).run()

    assert result.mismatches == [] and result.script_left == 0
    playback, hung_up, ticket = seen.outcomes
    assert playback.failed and playback.endpos == 1200
    assert hung_up is True
    assert ticket == "2611042"  # the reply to GET VARIABLE, not one left over from STREAM FILE
    await assert_serves_next_session(server)


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
        b"agi_network yes\n",
        b"\xff\xfe\xfd",
        b"agi_x: " + b"a" * 20000 + b"\n",
        b"".join(b"agi_arg_%d: x\n" % i for i in range(500)),
    ],
    ids=["http", "tls", "no-colon", "binary-then-close", "overlong-line", "endless-header"],
)
async def test_garbage_header_is_refused(make_server: Callable[..., Any], garbage: bytes) -> None:
    server = await make_server({}, timeouts=FAST)
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(garbage)
    await writer.drain()
    if garbage == b"\xff\xfe\xfd":
        writer.close()
    async with asyncio.timeout(5):
        while await reader.read(1024):
            pass  # the server closes the connection; nothing is ever sent back
    writer.close()
    await server.wait_idle(5)
    assert server.stats.bad_header == 1 and server.stats.accepted == 1
    await assert_serves_next_session(server)


async def test_garbage_reply_ends_the_session(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def asks(channel: AgiChannel) -> None:
        try:
            await channel.answer()
        except AgiProtocolError as err:
            seen.outcomes.append(err)
            seen.outcomes.append(channel.usable)
            raise

    server = await make_server({"asks": asks})
    result = await FakeAsterisk(
        HOST, server.port, env=environment_lines("asks"), script=[step("ANSWER", "I am not Asterisk")]
    ).run()
    assert result.server_closed
    assert isinstance(seen.outcomes[0], AgiProtocolError) and seen.outcomes[1] is False
    assert result.commands == ["ANSWER"]  # an unusable channel sends nothing more
    await server.wait_idle(5)
    assert server.stats.failed == 1
    await assert_serves_next_session(server)


async def test_overlong_reply_line_ends_the_session(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def asks(channel: AgiChannel) -> None:
        with pytest.raises(AgiProtocolError):
            await channel.get_variable("X")
        seen.outcomes.append(channel.usable)

    server = await make_server({"asks": asks}, limits=AgiLimits(max_line_bytes=1024))
    result = await FakeAsterisk(
        HOST,
        server.port,
        env=environment_lines("asks"),
        script=[step("GET VARIABLE X", "200 result=1 (" + "x" * 5000 + ")")],
    ).run()
    assert result.server_closed and seen.outcomes == [False]
    await assert_serves_next_session(server)


# --- stalls, refusals, unknown scripts, faults -----------------------------------------


async def test_stalled_peer_in_header_times_out(make_server: Callable[..., Any]) -> None:
    server = await make_server({}, timeouts=FAST)
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(b"agi_network: yes\n")  # ...and then nothing
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the server's header deadline
    writer.close()
    await server.wait_idle(5)
    assert server.stats.bad_header == 1
    await assert_serves_next_session(server)


async def test_stalled_peer_mid_command_times_out(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def waits(channel: AgiChannel) -> None:
        try:
            await channel.answer()
        except AgiTimeout as err:
            seen.outcomes.append(err)
            raise

    server = await make_server({"waits": waits}, timeouts=FAST)
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write("".join(line + "\n" for line in environment_lines("waits")).encode())
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.readline() == b"ANSWER\n"
        # no reply: the command deadline closes the session (the failsafe SET VARIABLE is not sent)
        assert await reader.read() == b""
    writer.close()
    await server.wait_idle(5)
    assert isinstance(seen.outcomes[0], AgiTimeout)
    await assert_serves_next_session(server)


async def test_peer_not_allowed_is_refused(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def never(channel: AgiChannel) -> None:
        seen.channels.append(channel)

    server = await make_server({"never": never}, allowed_peers=["192.0.2.10", "10.0.0.0/8"])
    result = await FakeAsterisk(HOST, server.port, env=environment_lines("never")).run()
    assert result.server_closed and result.commands == []
    await server.wait_idle(5)
    assert server.stats.refused == 1 and server.stats.accepted == 0
    assert seen.channels == []


async def test_unknown_script_sends_caller_to_operator(
    make_server: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server({})
    with caplog.at_level(logging.ERROR, logger="callcenter.ivr.agi"):
        result = await FakeAsterisk(HOST, server.port, env=environment_lines("nosuch"), auto_variables=True).run()
    assert result.variables == {"IVR_ROUTE": "operator"}
    assert "no script 'nosuch'" in caplog.text
    await server.wait_idle(5)
    assert server.stats.unknown_script == 1


async def test_failing_handler_sends_caller_to_operator(make_server: Callable[..., Any]) -> None:
    async def broken(channel: AgiChannel) -> None:
        await channel.answer()
        raise RuntimeError("bug in a handler")

    server = await make_server({"broken": broken})
    result = await FakeAsterisk(
        HOST, server.port, env=environment_lines("broken"), script=[step("ANSWER", "200 result=0")], auto_variables=True
    ).run()
    assert result.mismatches == []
    assert result.commands == ["ANSWER", 'SET VARIABLE IVR_ROUTE "operator"']
    await server.wait_idle(5)
    assert server.stats.failed == 1


async def test_unknown_command_after_hangup_still_answered_510(make_server: Callable[..., Any]) -> None:
    seen = Seen()

    async def probes(channel: AgiChannel) -> None:
        with pytest.raises(AgiCommandError) as err:
            await channel.command("NOSUCHCOMMAND foo")
        seen.outcomes.append(err.value.reply.code)

    server = await make_server({"probes": probes})
    result = await FakeAsterisk(
        HOST,
        server.port,
        env=environment_lines("probes"),
        script=[step("NOSUCHCOMMAND foo", HANGUP, INVALID)],
        exact=True,
    ).run()
    assert result.mismatches == [] and seen.outcomes == [510]


async def test_many_sessions_at_once(make_server: Callable[..., Any]) -> None:
    server = await make_server({})
    peers = [
        FakeAsterisk(
            HOST, server.port, env=environment_lines("ping", uniqueid=f"1.{i}"), script=PING_SCRIPT, exact=True
        )
        for i in range(100)
    ]
    results = await asyncio.gather(*(peer.run() for peer in peers))
    assert all(r.mismatches == [] and r.server_closed for r in results)
    await server.wait_idle(5)
    assert server.stats.completed == 100


async def test_close_ends_sessions_in_progress(make_server: Callable[..., Any]) -> None:
    started = asyncio.Event()

    async def long_call(channel: AgiChannel) -> None:
        started.set()
        await channel.wait_for_digit(60000)

    server = await make_server({"long": long_call}, timeouts=AgiTimeouts(command=60, shutdown_grace=0.2))
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write("".join(line + "\n" for line in environment_lines("long")).encode())
    await writer.drain()
    async with asyncio.timeout(5):
        await started.wait()
        assert await reader.readline() == b"WAIT FOR DIGIT 60000\n"
        await server.close()
        assert await reader.read() == b""
    writer.close()
    assert server.stats.active == 0


async def test_runs_as_an_aiohttp_cleanup_ctx_resource() -> None:
    from aiohttp import web

    server = AgiServer(HOST, 0, {"ping": ping})
    app = web.Application()
    app.cleanup_ctx.append(server.cleanup_ctx)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the part before yield: the server listens
    try:
        await assert_serves_next_session(server)
    finally:
        await runner.cleanup()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
