"""tests/asterisk on a machine without Asterisk, and with a broken one: deselected with one
line, or failing — never a skip. Runs pytest itself (collection is quick; nothing is dialled)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "CALLCENTER_TEST_ASTERISK"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_without_the_variable_the_journeys_are_deselected_with_one_line() -> None:
    result = _pytest("tests/asterisk")
    assert result.returncode == 5, result.stdout + result.stderr  # pytest: no tests ran
    lines = [line for line in result.stdout.splitlines() if "CALLCENTER_TEST_ASTERISK" in line]
    assert len(lines) == 1 and "deselected" in lines[0] and "build.sh" in lines[0], result.stdout
    assert "skipped" not in result.stdout


def test_with_a_broken_asterisk_they_fail_not_skip(tmp_path: Path) -> None:
    """A build prefix whose binary dies at start (as a broken build would)."""
    fake = tmp_path / "sbin" / "asterisk"
    for folder in (fake.parent, tmp_path / "lib" / "asterisk" / "modules", tmp_path / "var" / "lib" / "asterisk"):
        folder.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'Asterisk is broken' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = _pytest("tests/asterisk", "-k", "prompt_that_does_not_play", CALLCENTER_TEST_ASTERISK=str(fake))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Asterisk exited with 1 at start" in result.stdout and "Asterisk is broken" in result.stdout
    assert " error" in result.stdout and "skipped" not in result.stdout, result.stdout
