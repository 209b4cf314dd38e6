"""The IVR feature: the FastAGI server (built by the composition root) started with the app,
and the ``callcenter ivr prompts|check`` commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.config import ListenError, Settings
from callcenter.features import HEALTH_CHECKS, Command, Feature, SubParsers
from callcenter.ivr.health import ivr_health, missing_prompts, recordings_problem
from callcenter.ivr.menu import load_menu, load_prompts
from callcenter.ivr.prompts import PromptGenerationError, generate_prompts
from callcenter.services import Services

logger = logging.getLogger(__name__)


async def prepare_media(settings: Settings, prompts: dict[str, str]) -> None:
    """At start: say if recordings cannot be written; make the missing prompts where Asterisk
    reads them (CALLCENTER_IVR_PROMPTS_DIR), keeping any file already there."""
    problem = await asyncio.to_thread(recordings_problem, settings.recordings_dir)
    if problem is not None:
        logger.error("IVR recordings folder unusable (%s): voice reports will go to the operators", problem)
    folder = settings.ivr_prompts_dir
    if folder is None:
        return
    if await asyncio.to_thread(missing_prompts, prompts, folder):
        try:
            report = await generate_prompts(prompts, folder, progress=False)
            logger.info("IVR prompts: %d placeholders made in %s", len(report.generated), folder)
        except (PromptGenerationError, OSError) as err:
            logger.error("IVR prompts could not be made in %s: %s", folder, err)
    missing = await asyncio.to_thread(missing_prompts, prompts, folder)
    if missing:
        logger.error("IVR prompts missing in %s (callers hear silence): %s", folder, ", ".join(missing))


def setup(app: web.Application, services: Services) -> None:
    """Listen for FastAGI with the app (when AGI is enabled the root built ``services.agi``);
    report the recordings folder and the prompts in /healthz."""
    server = services.agi
    if server is None:
        return
    settings = services.settings
    prompts = load_prompts()

    async def health() -> dict[str, Any]:
        return await asyncio.to_thread(ivr_health, settings.recordings_dir, settings.ivr_prompts_dir, prompts)

    app[HEALTH_CHECKS]["ivr"] = health

    async def agi_ctx(_app: web.Application) -> AsyncIterator[None]:
        await prepare_media(settings, prompts)
        try:
            await server.start()
        except OSError as err:
            raise ListenError("agi_port", settings.agi_host, settings.agi_port, err) from err
        try:
            yield
        finally:
            await server.close()

    app.cleanup_ctx.append(agi_ctx)


def _register(sub: SubParsers) -> None:
    ivr = sub.add_parser("ivr", help="IVR menu and prompts").add_subparsers(dest="ivr_command", required=True)
    prompts = ivr.add_parser("prompts", help="generate placeholder Russian prompts (espeak-ng + sox, 8 kHz wav)")
    prompts.add_argument(
        "--out",
        type=Path,
        help="Asterisk sounds folder, e.g. /var/lib/asterisk/sounds/ru/1563 (default CALLCENTER_IVR_PROMPTS_DIR)",
    )
    prompts.add_argument("--overwrite", action="store_true", help="replace existing files (a speaker's recordings too)")
    check = ivr.add_parser(
        "check",
        help="validate the menu file, list its prompts, check the recordings "
        "folder and the prompts where Asterisk reads them",
    )
    check.add_argument("--prompts", type=Path, help="the prompts folder to check (default CALLCENTER_IVR_PROMPTS_DIR)")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.reference import load_reference

    menu = load_menu(settings.ivr_menu_file, known_categories={c.code for c in load_reference().categories})
    if args.ivr_command == "check":
        print(f"menu is valid: {len(menu.menus)} menus, {len(menu.prompts)} prompts, start at «{menu.start}»")
        for name, text in sorted(menu.prompts.items()):
            print(f"  {menu.sound(name)}: {text}")
        return _media_check(settings, menu.prompts, args.prompts or settings.ivr_prompts_dir)
    out = args.out or settings.ivr_prompts_dir
    if out is None:
        print("callcenter: ivr prompts: give --out DIR or set CALLCENTER_IVR_PROMPTS_DIR", file=sys.stderr)
        return 2
    report = await generate_prompts(load_prompts(), out, overwrite=args.overwrite)
    print(f"{len(report.generated)} prompts written to {out}, {len(report.skipped)} kept as they were")
    return 0


def _media_check(settings: Settings, prompts: Mapping[str, str], prompts_dir: Path | None) -> int:
    """The recordings folder and the prompts: one line each; 1 when either is unusable."""
    failed = False
    problem = recordings_problem(settings.recordings_dir)
    if problem is None:
        print(f"recordings folder: {settings.recordings_dir} (writable)")
    else:
        failed = True
        print(f"recordings folder UNUSABLE: {problem}")
    if prompts_dir is None:
        print("prompts: not checked (give --prompts DIR or set CALLCENTER_IVR_PROMPTS_DIR)")
    else:
        missing = missing_prompts(prompts, Path(prompts_dir))
        if missing:
            failed = True
            print(
                f"prompts MISSING in {prompts_dir} ({len(missing)}): {', '.join(missing)}; make them with "
                f"`callcenter ivr prompts --out {prompts_dir}`"
            )
        else:
            print(f"prompts: all {len(set(prompts))} in {prompts_dir}")
    return 1 if failed else 0


FEATURE = Feature("ivr", setup, commands=(Command("ivr", _register, _run),))
