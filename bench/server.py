"""The app under benchmark in its own process, as in production: start, wait for /healthz, stop."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp


class ServerProcess:
    """``python COMMAND...`` with CALLCENTER_* settings and a free port; ``base`` is its URL."""

    def __init__(self, command: Sequence[str], settings: Mapping[str, str], workdir: Path) -> None:
        self.command = list(command)
        self.settings = dict(settings)
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None
        self.base = ""

    async def __aenter__(self) -> ServerProcess:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, **self.settings, "CALLCENTER_PORT": str(port)}
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "server.log", "ab") as log:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.command, stdout=log, stderr=log, env=env
            )
        self.base = f"http://127.0.0.1:{port}"
        await self._wait_healthy()
        return self

    async def _wait_healthy(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.process is not None and self.process.returncode is not None:
                    break
                await asyncio.sleep(0.1)  # a starting process, polled; not a measurement
        raise RuntimeError(f"the server did not start; see {self.workdir / 'server.log'}")

    async def __aexit__(self, *exc: object) -> None:
        if self.process and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), timeout=30)
