"""The shipped example config is valid, and no secret sits in deploy/ or asterisk-config/."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from callcenter.config import Settings, _flatten_toml, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_with_every_key_known(tmp_path: Path) -> None:
    data = tomllib.loads((ROOT / "deploy" / "callcenter.example.toml").read_text())
    flat = _flatten_toml(data)
    assert set(flat) <= set(Settings.__dataclass_fields__), set(flat) - set(Settings.__dataclass_fields__)
    model = tmp_path / "model"
    model.mkdir()
    text = (
        (ROOT / "deploy" / "callcenter.example.toml")
        .read_text()
        .replace("/opt/vosk/vosk-model-small-ru-0.22", str(model))
    )
    config = tmp_path / "cc.toml"
    config.write_text(text)
    settings = load_settings(config, environ={"CALLCENTER_AMI_SECRET": "from-the-environment"})
    assert settings.ami_host == "127.0.0.1" and settings.callback_retry_minutes == [15, 120, 1440]


def test_no_secrets_in_shipped_config() -> None:
    for path in list((ROOT / "deploy").iterdir()) + list((ROOT / "asterisk-config").glob("*")):
        text = path.read_text(errors="replace")
        for match in re.finditer(
            r"(?im)^[ \t]*(secret|password|CALLCENTER_AMI_SECRET|CALLCENTER_SECRET_KEY)[ \t]*[=:][ \t]*(\S*)", text
        ):
            assert match.group(2) in ("", "CHANGE-ME"), f"{path.name}: {match.group(0)}"


def _read_write_paths(unit: str) -> list[Path]:
    paths: list[Path] = []
    for line in unit.splitlines():
        if line.startswith("ReadWritePaths="):
            paths += [Path(p.lstrip("-")) for p in line.split("=", 1)[1].split()]
    return paths


def test_the_unit_lets_the_service_write_every_folder_the_example_config_names(tmp_path: Path) -> None:
    """ProtectSystem=strict makes everything else read-only: data_dir (recordings, photos) and the IVR
    prompts folder (serve makes missing prompts; an escalation call writes its spoken message there)."""
    unit = (ROOT / "deploy" / "callcenter.service").read_text()
    assert "ProtectSystem=strict" in unit
    writable = _read_write_paths(unit)
    config = tomllib.loads((ROOT / "deploy" / "callcenter.example.toml").read_text())
    written = [Path(config["data_dir"]), Path(config["ivr"]["prompts_dir"])]
    for folder in written:
        assert any(folder == w or w in folder.parents for w in writable), (folder, writable)
