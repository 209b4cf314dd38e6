"""Recordings and prompts as a real Asterisk needs them: absolute paths, a writable recordings
folder, the prompts where Asterisk reads them; /healthz and `callcenter ivr check` say what is wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from callcenter.config import ConfigError, Settings, load_settings
from callcenter.ivr.engine import RecordingSettings
from callcenter.ivr.health import missing_prompts, recordings_problem
from callcenter.ivr.menu import load_prompts
from tests.telephony_fixtures import running_app

CLI = [sys.executable, "-m", "callcenter.cli"]


def test_a_relative_data_folder_becomes_absolute_so_record_file_gets_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"CALLCENTER_DATA_DIR": "data"})
    assert settings.data_dir == tmp_path / "data" and settings.recordings_dir.is_absolute()
    assert Settings().data_dir == tmp_path / "data"  # the default, `data`, too
    asterisk_path, local = RecordingSettings(local_dir=settings.recordings_dir).locate("ivr-1")
    assert asterisk_path == f"{tmp_path}/data/recordings/ivr-1" and local.is_absolute()


def test_the_recordings_folder_as_asterisk_sees_it_must_be_absolute() -> None:
    with pytest.raises(ConfigError, match="CALLCENTER_AGI_RECORDINGS_DIR: must be an absolute path"):
        load_settings(environ={"CALLCENTER_AGI_RECORDINGS_DIR": "data/recordings"})
    assert load_settings(environ={"CALLCENTER_AGI_RECORDINGS_DIR": "/srv/rec"}).agi_recordings_dir == "/srv/rec"


def test_recordings_problem_names_what_is_wrong(tmp_path: Path) -> None:
    assert recordings_problem(tmp_path / "new" / "recordings") is None  # made when missing
    assert (tmp_path / "new" / "recordings").is_dir()
    (tmp_path / "file").write_text("not a folder")
    assert "not a folder" in recordings_problem(tmp_path / "file")
    assert "cannot create" in recordings_problem(tmp_path / "file" / "recordings")


async def test_serve_makes_the_prompts_where_asterisk_reads_them_and_healthz_reports(
    tmp_path: Path, sqlite_template: Path
) -> None:
    db = tmp_path / "test.db"
    shutil.copy(sqlite_template, db)
    prompts_dir = tmp_path / "asterisk-sounds" / "ru" / "1563"
    settings = load_settings(
        environ={},
        overrides={
            "database_url": f"sqlite+aiosqlite:///{db}",
            "data_dir": tmp_path / "data",
            "secret_key": "s",
            "agi_port": 0,
            "ivr_prompts_dir": prompts_dir,
        },
    )
    names = load_prompts()
    async with running_app(settings) as app, aiohttp.ClientSession() as http:
        assert missing_prompts(names, prompts_dir) == []  # made at start
        body = await (await http.get(app.url + "/healthz")).json()
        assert (body["status"], body["db"], body["ami"]) == ("ok", "ok", "disabled") and body["version"]
        assert body["recordings"] == "ok" and body["prompts"] == "ok"
        assert body["recordings_dir"] == str(tmp_path / "data" / "recordings")

        (prompts_dir / "greeting.wav").unlink()
        shutil.rmtree(tmp_path / "data" / "recordings")
        (tmp_path / "data" / "recordings").write_text("a file where the folder should be")
        resp = await http.get(app.url + "/healthz")
        body = await resp.json()
    assert resp.status == 200 and body["status"] == "ok"  # the database is fine; the IVR fields say the rest
    assert body["prompts"] == f"missing 1 in {prompts_dir}: greeting"
    assert body["recordings"].startswith("unusable: ") and "not a folder" in body["recordings"]


async def test_healthz_without_a_prompts_folder_says_it_did_not_check(live_server) -> None:
    async with aiohttp.ClientSession() as http:
        body = await (await http.get(live_server.url + "/healthz")).json()
    assert body["prompts"] == "unchecked: CALLCENTER_IVR_PROMPTS_DIR is not set" and body["recordings"] == "ok"


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    return subprocess.run(CLI + args, cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120)


def test_ivr_check_reports_missing_prompts_and_an_unusable_recordings_folder(tmp_path: Path) -> None:
    prompts_dir = tmp_path / "prompts"
    prompts_dir.mkdir()
    (prompts_dir / "greeting.wav").write_bytes(b"RIFF" + b"\0" * 100)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "recordings").write_text("a file")
    result = _cli(["ivr", "check", "--prompts", str(prompts_dir)], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"recordings folder UNUSABLE: {tmp_path / 'data' / 'recordings'} is not a folder" in result.stdout
    missing = len(load_prompts()) - 1
    assert f"prompts MISSING in {prompts_dir} ({missing}): " in result.stdout and "greeting," not in result.stdout
    assert f"callcenter ivr prompts --out {prompts_dir}" in result.stdout


def test_ivr_prompts_then_ivr_check_passes(tmp_path: Path) -> None:
    """The documented set-up: `callcenter ivr prompts` into CALLCENTER_IVR_PROMPTS_DIR, then check."""
    prompts_dir = tmp_path / "sounds" / "ru" / "1563"
    made = _cli(["ivr", "prompts"], tmp_path, CALLCENTER_IVR_PROMPTS_DIR=str(prompts_dir))
    assert made.returncode == 0, made.stderr
    result = _cli(["ivr", "check"], tmp_path, CALLCENTER_IVR_PROMPTS_DIR=str(prompts_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"prompts: all {len(load_prompts())} in {prompts_dir}" in result.stdout
    assert f"recordings folder: {tmp_path / 'data' / 'recordings'} (writable)" in result.stdout
    no_folder = _cli(["ivr", "prompts"], tmp_path)
    assert no_folder.returncode == 2 and "CALLCENTER_IVR_PROMPTS_DIR" in no_folder.stderr
