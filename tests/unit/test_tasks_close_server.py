"""callcenter.tasks.close_server: the one shutdown of the FastAGI and AudioSocket servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import callcenter.audiosocket.server as audiosocket_server
import callcenter.ivr.agi as agi
from callcenter.audiosocket.server import AudioSocketServer
from callcenter.ivr.agi import AgiServer
from callcenter.tasks import close_server


async def _handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def test_sessions_that_end_within_the_grace_finish_and_the_rest_are_cancelled() -> None:
    server = await asyncio.start_server(_handler, "127.0.0.1", 0)
    release = asyncio.Event()

    async def quick() -> str:
        await release.wait()
        return "finished"

    async def stuck() -> None:
        await asyncio.Event().wait()

    finishing, hanging = asyncio.create_task(quick()), asyncio.create_task(stuck())
    asyncio.get_running_loop().call_soon(release.set)
    await close_server(server, {finishing, hanging}, grace=0.5)
    assert finishing.result() == "finished"
    assert hanging.cancelled()
    assert not server.is_serving()


async def test_no_server_and_no_sessions_is_a_no_op() -> None:
    await close_server(None, (), grace=0.1)


def _agi(_tmp: Path) -> Any:
    return AgiServer("127.0.0.1", 0)


def _audiosocket(tmp: Path) -> Any:
    return AudioSocketServer("127.0.0.1", 0, recordings_dir=tmp)


@pytest.mark.parametrize(("module", "build"), [(agi, _agi), (audiosocket_server, _audiosocket)])
async def test_both_socket_servers_close_through_it(
    module: Any, build: Callable[[Path], Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    graces: list[float] = []

    async def recording(server: asyncio.Server | None, sessions: object, grace: float) -> None:
        graces.append(grace)
        await close_server(server, (), grace)

    monkeypatch.setattr(module, "close_server", recording)
    server = build(tmp_path)
    await server.start()
    await server.close()
    assert len(graces) == 1 and graces[0] > 0
