"""The `callcenter` command as an admin runs it: a real process, a real database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from callcenter.domain.errors import IllegalTransition
from callcenter.domain.tickets import Actor, Channel, Role, Status
from callcenter.services import Services
from callcenter.tickets.schemas import NewTicket

CLI = [sys.executable, "-m", "callcenter.cli"]


def run_cli(
    args: list[str],
    database_url: str,
    tmp_path: Path,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(CALLCENTER_DATABASE_URL=database_url, CALLCENTER_DATA_DIR=str(tmp_path / "data"), **(extra_env or {}))
    return subprocess.run(CLI + args, input=stdin, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)


async def make_ticket(services: Services) -> str:
    view = await services.tickets.create(
        NewTicket(
            channel=Channel.PHONE,
            phone="+79781234567",
            category="no_electricity",
            title="Нет света",
            description="Отключили свет во всём доме",
            address="ул. Пожарова, д. 20",
        ),
        Actor(role=Role.OPERATOR, name="Оператор"),
    )
    return view.number


async def test_move_refuses_an_illegal_move_with_the_domain_message(services: Services, tmp_path: Path) -> None:
    number = await make_ticket(services)
    result = run_cli(
        ["tickets", "move", number, "--to", "closed", "--note", "ok"], services.settings.database_url, tmp_path
    )
    assert result.returncode == 1
    with pytest.raises(IllegalTransition) as expected:
        await services.tickets.move(number, Status.CLOSED, Actor(role=Role.ADMIN, name="web"), note="ok")
    assert result.stderr.strip() == f"callcenter: {expected.value.message}"
    assert (await services.tickets.get(number)).status is Status.NEW


async def test_move_list_and_show(services: Services, tmp_path: Path) -> None:
    number = await make_ticket(services)
    url = services.settings.database_url
    moved = run_cli(["tickets", "move", number, "--to", "dispatched"], url, tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == f"{number}: Направлена исполнителю"
    listed = run_cli(["tickets", "list", "--phone", "8 978 123-45-67", "--json"], url, tmp_path)
    rows = json.loads(listed.stdout)
    assert [(r["number"], r["status"]) for r in rows] == [(number, "dispatched")]
    shown = json.loads(run_cli(["tickets", "show", number, "--json"], url, tmp_path).stdout)
    assert [e["to_status"] for e in shown["events"]] == ["new", "dispatched"]
    text = run_cli(["tickets", "show", number], url, tmp_path).stdout
    assert f"Заявка № {number}" in text and "до направления" in text


async def test_user_add_reads_the_password_from_stdin(services: Services, tmp_path: Path) -> None:
    url = services.settings.database_url
    ok = run_cli(
        ["user", "add", "anna", "--role", "operator", "--device", "PJSIP/op1", "--password-stdin"],
        url,
        tmp_path,
        stdin="correct horse battery\n",
    )
    assert ok.returncode == 0, ok.stderr
    assert await services.users.authenticate("anna", "correct horse battery") is not None
    assert await services.users.authenticate("anna", "wrong password!") is None
    no_dept = run_cli(
        ["user", "add", "vk", "--role", "executor", "--password-stdin"], url, tmp_path, stdin="long enough password\n"
    )
    assert no_dept.returncode == 1 and "подразделение" in no_dept.stderr


def test_a_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    result = run_cli(
        ["tickets", "list"],
        f"sqlite+aiosqlite:///{tmp_path}/x.db",
        tmp_path,
        extra_env={"CALLCENTER_CALLBACK_HOURS": "25:00-26:00"},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("callcenter: CALLCENTER_CALLBACK_HOURS:")


def test_help_explains_the_first_steps() -> None:
    result = subprocess.run(CLI + ["--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("serve", "db", "user", "tickets", "seed-demo"):
        assert command in result.stdout
    assert "First steps" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_first_serve_creates_the_sqlite_database_and_answers_healthz(tmp_path: Path) -> None:
    """What a new user does: `callcenter serve` in an empty folder, nothing else started."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    proc = subprocess.Popen(
        CLI + ["serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = _wait_for_health(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert body["db"] == "ok" and body["status"] == "ok", output
    assert (tmp_path / "callcenter.db").exists()


def _wait_for_health(url: str, proc: subprocess.Popen[str]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.2)  # polling a process that is starting; not a timing assertion
    raise AssertionError("serve did not answer /healthz within 60 s")


async def test_seed_demo_makes_tickets_along_the_lifecycle(services: Services, tmp_path: Path) -> None:
    result = run_cli(["seed-demo", "--tickets", "30"], services.settings.database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "30 demo tickets created" in result.stdout
    from callcenter.tickets.schemas import TicketFilter

    statuses = {v.status for v in (await services.tickets.list(TicketFilter(), limit=50)).rows}
    assert len(statuses) >= 3


def test_transcribe_prints_transcript_and_draft(tmp_path: Path) -> None:
    from tests.stt_fixtures import korean_model_dir, speak, telephone

    audio = telephone(speak("안녕하세요", tmp_path / "s.wav"), tmp_path / "call.wav")
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    ok = run_cli(["transcribe", "--model", str(korean_model_dir()), str(audio)], url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert f"== {audio}" in ok.stdout and "text: " in ok.stdout and "category: " in ok.stdout
    no_model = run_cli(["transcribe", str(audio)], url, tmp_path)
    assert no_model.returncode == 2 and "speech-to-text unavailable" in no_model.stderr


async def test_open311_key_add_prints_a_key_that_the_api_accepts(services: Services, tmp_path: Path) -> None:
    from callcenter.open311.api_keys import open311_keys

    url = services.settings.database_url
    added = run_cli(["open311-key", "add", "Городской помощник"], url, tmp_path)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert len(key) >= 20 and "cannot be shown again" in added.stderr
    listed = run_cli(["open311-key", "list"], url, tmp_path)
    assert "Городской помощник" in listed.stdout and key not in listed.stdout
    assert await open311_keys(services.sessions).check(key) is not None
    wrong = key[:-1] + ("x" if key[-1] != "x" else "y")
    assert await open311_keys(services.sessions).check(wrong) is None
