"""The real-Asterisk journeys: a private Asterisk 22 per test session, the app per test.

Without CALLCENTER_TEST_ASTERISK (a user's machine) every test here is deselected and one line
says how to run them. With it set, a broken Asterisk fails them: nothing here skips.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.asterisk.pbx import (
    Driver,
    Layout,
    Pbx,
    PrivateAsterisk,
    free_port,
    make_sound,
    missing_sounds,
    write_config,
)
from tests.telephony_fixtures import RunningApp, clean_database, running_app

ENV = "CALLCENTER_TEST_ASTERISK"
PG_ENV = "CALLCENTER_TEST_DATABASE_URL"
HERE = Path(__file__).resolve().parent
HOW = (
    f"tests/asterisk: real-Asterisk journeys deselected; run them with {ENV}=<asterisk binary>, "
    "e.g. `bash ../shared/asterisk/build.sh /opt/asterisk-22` then "
    f"`{ENV}=/opt/asterisk-22/sbin/asterisk bash scripts/test.sh tests/asterisk` (bash .ci/run does both)"
)

COMPLAINT = (
    "Здравствуйте. На улице Ленина, дом пять, из-под асфальта бьёт вода, "
    "затопило весь двор, проехать невозможно. Пожалуйста, пришлите аварийную бригаду."
)
COMMENT = "Вода всё ещё течёт, ничего не починили."


def _ours(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "missing_prompts(*names): the sounds this test makes Asterisk miss on purpose")
    config.addinivalue_line("markers", "app_settings(**values): settings of the app under test for this journey")
    config.addinivalue_line("markers", "needs_postgresql: several app instances, so PostgreSQL (deselected without it)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(ENV):
        if not os.environ.get(PG_ENV):  # several instances need PostgreSQL (bash .ci/run sets both)
            several = [item for item in items if _ours(item) and item.get_closest_marker("needs_postgresql")]
            if several:
                items[:] = [item for item in items if item not in several]
                config.hook.pytest_deselected(items=several)
                config.stash[_NO_PG] = len(several)
        return
    ours = [item for item in items if _ours(item)]
    if ours:
        items[:] = [item for item in items if not _ours(item)]
        config.hook.pytest_deselected(items=ours)
        config.stash[_DESELECTED] = len(ours)


_DESELECTED = pytest.StashKey[int]()
_NO_PG = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.stash.get(_DESELECTED, 0):
        terminalreporter.write_line(f"{config.stash[_DESELECTED]} {HOW}")
    if config.stash.get(_NO_PG, 0):
        terminalreporter.write_line(
            f"{config.stash[_NO_PG]} tests/asterisk: several-instance journeys deselected; they need "
            f"PostgreSQL too ({PG_ENV}, as bash .ci/run sets)"
        )


# ----------------------------------------------------------------- the private Asterisk


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    binary = Path(os.environ[ENV])
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"{ENV}={binary}: not an executable Asterisk binary")
    prefix = binary.resolve().parents[1]
    layout = Layout(base=tmp_path_factory.mktemp("asterisk"), prefix=prefix, ami_port=free_port(), agi_port=free_port())
    write_config(layout)
    # The IVR's prompts, installed the documented way (docs/asterisk.md): `callcenter ivr prompts`.
    subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "ivr", "prompts", "--out", str(layout.prompts)],
        check=True,
        timeout=300,
        capture_output=True,
        env=_clean_env(),
    )
    complaint = make_sound(COMPLAINT, layout.citizen_sounds / "complaint.wav")
    comment = make_sound(COMMENT, layout.citizen_sounds / "comment.wav")
    asterisk = PrivateAsterisk(binary, layout)
    asterisk.start()
    try:
        yield Pbx(asterisk, layout, complaint, comment)
    finally:
        asterisk.stop()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}


@pytest.fixture
async def driver(pbx: Pbx) -> AsyncIterator[Driver]:
    """The tests' AMI session; at the end no call is left up (so the next test starts clean)."""
    if pbx.asterisk.process is None or pbx.asterisk.process.poll() is not None:
        pbx.asterisk.process = None
        pbx.asterisk.start()  # an earlier test stopped it
    drv = Driver(pbx.layout.ami_port, pbx.layout.driver_secret)
    await drv.connect()
    await drv.command("agi set debug on")
    try:
        yield drv
    finally:
        await drv.hangup_all()
        await drv.close()


@pytest.fixture
def log_mark(pbx: Pbx) -> int:
    """Offset in Asterisk's log where this test starts."""
    return len(pbx.asterisk.log_text())


@pytest.fixture
async def hotline(
    pbx: Pbx, driver: Driver, database_url: str, tmp_path: Path, log_mark: int, request: pytest.FixtureRequest
) -> AsyncIterator[RunningApp]:
    """The whole app (init_app, every feature) linked to the private Asterisk.

    No silent IVR: a prompt Asterisk could not play ("File ... does not exist in any format")
    fails the test that played it. Calls left up are hung up before the app stops."""
    extra = request.node.get_closest_marker("app_settings")
    settings = pbx.settings(database_url, tmp_path, **(extra.kwargs if extra else {}))
    async with running_app(settings, empty_first=True) as app:
        await clean_database(app.services, emptied=True)
        ami = app.services.ami
        assert ami is not None and await ami.wait_connected(10), "the app's AMI link did not come up"
        yield app
        await driver.hangup_all()
        if app.services.agi is not None:
            await app.services.agi.wait_idle(10)
        # The app stops next; a shutdown that hangs (seen twice under load, not reproduced since)
        # prints every task still alive, so the timeout's report names what held it.
        watchdog = asyncio.get_running_loop().create_task(_report_stuck_shutdown(60.0))
    watchdog.cancel()
    marker = request.node.get_closest_marker("missing_prompts")
    missing = missing_sounds(pbx.asterisk.log_text(), log_mark)
    assert missing == list(marker.args if marker else []), f"silent IVR: Asterisk could not play {missing}"


async def _report_stuck_shutdown(after: float) -> None:
    await asyncio.sleep(after)
    print(f"\nthe app has not stopped {after:.0f} s after the test; tasks still alive:", file=sys.stderr)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            print(f"--- {task!r}", file=sys.stderr)
            task.print_stack(limit=12, file=sys.stderr)
