"""Placeholder prompts: speak each text of ivr/prompts.yaml with espeak-ng (Russian voice)
and convert it with sox to what Asterisk plays: 8 kHz, mono, 16-bit (``.wav`` or raw ``.sln``).

The lead's CLI exposes it as ``callcenter ivr prompts --out DIR``::

    asyncio.run(generate_prompts(load_prompts(), Path(out_dir)))

Files that already exist are kept (they may be a speaker's real recordings) unless
``overwrite=True``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from tqdm import tqdm

FORMATS = MappingProxyType({"wav": ("wav", "wav"), "sln": ("raw", "sln")})  # format -> (sox type, extension)


class PromptGenerationError(RuntimeError):
    """A prompt could not be made (tool missing, tool failed or took too long)."""


@dataclass
class PromptReport:
    """What generate_prompts did."""

    generated: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class VoiceSettings:
    """espeak-ng voice and speed (words per minute), and the limit per tool run."""

    voice: str = "ru"
    words_per_minute: int = 140
    tool_timeout: float = 60.0


def check_tools() -> None:
    """Raise PromptGenerationError naming the missing program (espeak-ng or sox)."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise PromptGenerationError(f"not installed: {', '.join(missing)} (apt-get install espeak-ng sox)")


async def generate_prompts(
    prompts: Mapping[str, str],
    out_dir: Path,
    *,
    fmt: str = "wav",
    voice: VoiceSettings = VoiceSettings(),
    overwrite: bool = False,
    progress: bool = True,
) -> PromptReport:
    """Make one placeholder sound file per prompt in ``out_dir``, showing progress."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    check_tools()
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    report = PromptReport()
    with tqdm(total=len(prompts), desc="prompts", unit="prompt", disable=not progress) as bar:
        for name, text in prompts.items():
            target = out_dir / f"{name}.{FORMATS[fmt][1]}"
            bar.set_postfix_str(name)
            if not overwrite and await asyncio.to_thread(target.exists):
                report.skipped.append(target)
            else:
                await _generate_one(text, target, fmt, voice)
                report.generated.append(target)
            bar.update(1)
    return report


async def _generate_one(text: str, target: Path, fmt: str, voice: VoiceSettings) -> None:
    spoken = target.with_name(f".{target.name}.espeak.wav")
    partial = target.with_name(f".{target.name}.part")
    try:
        await _run(
            ["espeak-ng", "-v", voice.voice, "-s", str(voice.words_per_minute), "-w", str(spoken), text],
            voice.tool_timeout,
        )
        # -G guards against clipping when resampling; 8 kHz mono 16-bit signed is what Asterisk plays.
        await _run(
            [
                "sox",
                "-G",
                str(spoken),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                "-t",
                FORMATS[fmt][0],
                str(partial),
            ],
            voice.tool_timeout,
        )
        await asyncio.to_thread(os.replace, partial, target)
    finally:
        for leftover in (spoken, partial):
            await asyncio.to_thread(leftover.unlink, missing_ok=True)


async def _run(argv: list[str], timeout: float) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await process.communicate()
    except TimeoutError as err:
        process.kill()
        await process.wait()
        raise PromptGenerationError(f"{argv[0]} took longer than {timeout:g} s") from err
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()
        raise PromptGenerationError(f"{argv[0]} failed ({process.returncode}): {message}")
