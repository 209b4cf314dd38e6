"""The command line as an admin meets it: one-line errors, Russian output for staff, no tracebacks.

Real processes throughout: a real `callcenter serve` against a port really taken, a pipe whose
reader is really gone, a process with no terminal at all.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.app import Services
from tests.integration.test_cli import CLI, _free_port, _wait_for_health, make_ticket, run_cli


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(CALLCENTER_DATA_DIR=str(tmp_path / "data"), CALLCENTER_AUDIOSOCKET_PORT="0", **extra)
    return env


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _serve_fails(tmp_path: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + ["serve", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_taken_fastagi_port_stops_serve_with_one_line(tmp_path: Path, taken_port: int) -> None:
    result = _serve_fails(tmp_path, ["--port", str(_free_port())], _env(tmp_path, CALLCENTER_AGI_PORT=str(taken_port)))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"callcenter: CALLCENTER_AGI_PORT: 127.0.0.1:{taken_port} is already in use"), last


def test_a_taken_web_port_stops_serve_with_one_line(tmp_path: Path, taken_port: int) -> None:
    result = _serve_fails(tmp_path, ["--port", str(taken_port)], _env(tmp_path, CALLCENTER_AGI_PORT=str(_free_port())))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"callcenter: CALLCENTER_PORT: 127.0.0.1:{taken_port} is already in use"), last


def test_serve_port_sets_the_public_url_and_the_log_stays_quiet(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        CLI + ["serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path, CALLCENTER_AGI_PORT=str(_free_port())),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/healthz", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/open311/v2/discovery.json", timeout=10) as resp:
            discovery = json.loads(resp.read())
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert discovery["endpoints"][0]["url"] == f"http://127.0.0.1:{port}/open311/v2"
    assert "callcenter.store.migrate: migrating database" in output  # our own lines stay
    assert "FastAGI listening" in output
    for noise in ("INFO alembic", "INFO pymorphy"):
        assert noise not in output, output


async def test_departments_list_gives_codes_and_russian_names(services: Services, tmp_path: Path) -> None:
    url = services.settings.database_url
    text = run_cli(["departments", "list"], url, tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == len(services.reference.departments)
    vodokanal = next(line for line in lines if line.startswith("vodokanal "))
    assert "ГУПС «Водоканал»" in vodokanal and "Ресурсоснабжающая организация" in vodokanal
    rows = json.loads(run_cli(["departments", "list", "--json"], url, tmp_path).stdout)
    assert {r["code"] for r in rows} == {d.code for d in services.reference.departments}
    assert all(r["kind_label"] and r["kind_label"] != r["kind"] for r in rows)


async def test_user_add_refusal_says_where_the_codes_are(services: Services, tmp_path: Path) -> None:
    url = services.settings.database_url
    typo = run_cli(
        ["user", "add", "vasya", "--role", "executor", "--department", "vodokanl", "--password-stdin"],
        url,
        tmp_path,
        stdin="long enough password\n",
    )
    assert typo.returncode == 1
    assert typo.stderr.count("\n") == 1
    assert "может быть, vodokanal?" in typo.stderr and "callcenter departments list" in typo.stderr
    missing = run_cli(
        ["user", "add", "vasya", "--role", "executor", "--password-stdin"],
        url,
        tmp_path,
        stdin="long enough password\n",
    )
    assert missing.returncode == 1 and "callcenter departments list" in missing.stderr


async def test_user_add_without_a_terminal_says_to_use_password_stdin(services: Services, tmp_path: Path) -> None:
    env = _env(tmp_path, CALLCENTER_DATABASE_URL=services.settings.database_url)
    # A new session has no controlling terminal: what cron, systemd or an ssh command without -t give.
    result = subprocess.run(
        CLI + ["user", "add", "anna", "--role", "operator"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--password-stdin" in result.stderr, result.stderr
    assert await services.users.by_login("anna") is None


async def test_a_closed_pipe_ends_tickets_list_quietly(services: Services, tmp_path: Path) -> None:
    await make_ticket(services)
    env = _env(tmp_path, CALLCENTER_DATABASE_URL=services.settings.database_url)
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has already exited: every write meets a broken pipe
    try:
        result = subprocess.run(
            CLI + ["tickets", "list"],
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode != 0


async def test_tickets_show_speaks_russian_in_local_time(services: Services, tmp_path: Path) -> None:
    number = await make_ticket(services)
    url = services.settings.database_url
    assert (
        run_cli(["tickets", "move", number, "--to", "dispatched"], url, tmp_path).stdout.strip()
        == f"{number}: Направлена исполнителю"
    )
    shown = run_cli(["tickets", "show", number], url, tmp_path).stdout
    detail = await services.tickets.detail(number)
    created = detail.ticket.created_at.astimezone(services.settings.zone)
    assert "[Направлена исполнителю]" in shown and "канал: Телефон" in shown
    assert f"{created:%d.%m.%Y %H:%M}" in shown
    assert "Новая → Направлена исполнителю" in shown
    for raw in ("dispatched", "->", "Z ", "phone"):
        assert raw not in shown, shown
    listed = run_cli(["tickets", "list"], url, tmp_path).stdout
    assert "Направлена исполнителю" in listed and "dispatched" not in listed
