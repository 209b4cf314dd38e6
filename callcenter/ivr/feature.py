"""The IVR feature: the FastAGI server (built by the composition root) started with the app,
and the ``callcenter ivr prompts|check`` commands."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from callcenter.config import ListenError, Settings
from callcenter.features import Command, Feature, SubParsers
from callcenter.ivr.menu import load_menu
from callcenter.services import Services


def setup(app: web.Application, services: Services) -> None:
    """Listen for FastAGI with the app (when AGI is enabled the root built ``services.agi``)."""
    server = services.agi
    if server is None:
        return

    async def agi_ctx(_app: web.Application) -> AsyncIterator[None]:
        try:
            await server.start()
        except OSError as err:
            raise ListenError("agi_port", services.settings.agi_host, services.settings.agi_port, err) from err
        try:
            yield
        finally:
            await server.close()

    app.cleanup_ctx.append(agi_ctx)


def _register(sub: SubParsers) -> None:
    ivr = sub.add_parser("ivr", help="IVR menu and prompts").add_subparsers(dest="ivr_command", required=True)
    prompts = ivr.add_parser("prompts", help="generate placeholder Russian prompts (espeak-ng + sox, 8 kHz wav)")
    prompts.add_argument("--out", type=Path, required=True, help="Asterisk sounds folder, e.g. /var/lib/asterisk/sounds/ru/1563")
    prompts.add_argument("--overwrite", action="store_true", help="replace existing files (a speaker's recordings too)")
    ivr.add_parser("check", help="validate the menu file and list its prompts")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.ivr.menu import load_prompts
    from callcenter.ivr.prompts import generate_prompts
    from callcenter.reference import load_reference

    menu = load_menu(settings.ivr_menu_file, known_categories={c.code for c in load_reference().categories})
    if args.ivr_command == "check":
        print(f"menu is valid: {len(menu.menus)} menus, {len(menu.prompts)} prompts, start at «{menu.start}»")
        for name, text in sorted(menu.prompts.items()):
            print(f"  {menu.sound(name)}: {text}")
        return 0
    report = await generate_prompts(load_prompts(), args.out, overwrite=args.overwrite)
    print(f"{len(report.generated)} prompts written to {args.out}, {len(report.skipped)} kept as they were")
    return 0


FEATURE = Feature("ivr", setup, commands=(Command("ivr", _register, _run),))
