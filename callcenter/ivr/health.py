"""Is the IVR able to work: can recordings be written, are the prompts where Asterisk reads them?

Used at start (the FastAGI feature logs what is wrong), by ``/healthz`` and by
``callcenter ivr check``. Plain functions over the file system; call them off the event loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# What Asterisk can play a prompt from (a placeholder from `callcenter ivr prompts` is .wav).
SOUND_EXTENSIONS = ("wav", "sln", "gsm", "ulaw", "alaw", "g722", "sln16", "wav16")


def recordings_problem(folder: Path) -> str | None:
    """None when we can create (if missing), write and delete a file in ``folder``; else why not."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot create {folder}: {err.strerror or err}"
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"cannot write in {folder}: {err.strerror or err}"
    return None


def missing_prompts(names: Iterable[str], folder: Path) -> list[str]:
    """The prompt names with no non-empty sound file in ``folder``."""

    def present(name: str) -> bool:
        for ext in SOUND_EXTENSIONS:
            try:
                if (folder / f"{name}.{ext}").stat().st_size > 0:
                    return True
            except OSError:
                continue
        return False

    return sorted(name for name in set(names) if not present(name))


def ivr_health(recordings_dir: Path, prompts_dir: Path | None, prompt_names: Iterable[str]) -> dict[str, Any]:
    """The fields /healthz adds: ``recordings`` and ``prompts`` ("ok" or what is wrong)."""
    problem = recordings_problem(recordings_dir)
    body: dict[str, Any] = {
        "recordings": "ok" if problem is None else f"unusable: {problem}",
        "recordings_dir": str(recordings_dir),
    }
    if prompts_dir is None:
        body["prompts"] = "unchecked: CALLCENTER_IVR_PROMPTS_DIR is not set"
    else:
        missing = missing_prompts(prompt_names, prompts_dir)
        body["prompts"] = "ok" if not missing else f"missing {len(missing)} in {prompts_dir}: {', '.join(missing)}"
        body["prompts_dir"] = str(prompts_dir)
    return body
