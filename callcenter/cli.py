"""The `callcenter` command for admins: serve, db, users, tickets, demo data and more.

Every command reads the same settings (defaults < --config FILE < CALLCENTER_* < flags) and
goes through the same services as the web, so `tickets move` refuses what the web refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from callcenter import __version__
from callcenter.config import ConfigError, Settings, load_settings, settings_table
from callcenter.domain.errors import DomainError
from callcenter.domain.tickets import Actor, Role, Status, format_duration

logger = logging.getLogger(__name__)

EPILOG = """\
First steps:
  callcenter serve                       run the web app (creates ./callcenter.db on first start)
  callcenter user add anna --role operator --password-stdin
  callcenter seed-demo --tickets 500     fill the store with realistic demo tickets
Settings come from defaults, then --config FILE (TOML), then CALLCENTER_* environment
variables, then flags. See README.md.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter", description="1563 city hotline backend: tickets, IVR, AMI, callbacks, web.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--database-url", help="overrides CALLCENTER_DATABASE_URL")
    parser.add_argument("--version", action="version", version=f"callcenter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web app and, when configured, AMI, FastAGI and callbacks")
    serve.add_argument("--host", help="web listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="web port (default 8080, or CALLCENTER_PORT)")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations and load reference data")

    ref = sub.add_parser("reference", help="reference data").add_subparsers(dest="ref_command", required=True)
    ref.add_parser("load", help="load departments and categories from the reference files (idempotent)")

    user = sub.add_parser("user", help="staff accounts").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="add a staff user")
    add.add_argument("login")
    add.add_argument("--role", required=True, choices=[r.value for r in (Role.OPERATOR, Role.EXECUTOR,
                     Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)])
    add.add_argument("--department", help="department code (required for executors)")
    add.add_argument("--name", default="", help="full name shown to colleagues")
    add.add_argument("--device", help="the operator's phone for screen pops, e.g. PJSIP/op1")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user.add_parser("list", help="list staff users")

    _ticket_commands(sub)

    seed = sub.add_parser("seed-demo", help="fill the store with realistic demo tickets (with a progress bar)")
    seed.add_argument("--tickets", type=int, default=200)
    seed.add_argument("--seed", type=int, default=1563)

    transcribe = sub.add_parser("transcribe", help="print the transcript and draft of recordings (Vosk)")
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE")
    transcribe.add_argument("--model", type=Path, help="Vosk model folder (default CALLCENTER_STT_MODEL)")
    transcribe.add_argument("--json", action="store_true", help="one JSON object per file")

    ivr = sub.add_parser("ivr", help="IVR menu and prompts").add_subparsers(dest="ivr_command", required=True)
    prompts = ivr.add_parser("prompts", help="generate placeholder Russian prompts (espeak-ng + sox, 8 kHz wav)")
    prompts.add_argument("--out", type=Path, help="Asterisk sounds folder, e.g. /var/lib/asterisk/sounds/ru/1563 "
                         "(default CALLCENTER_IVR_PROMPTS_DIR)")
    prompts.add_argument("--overwrite", action="store_true", help="replace existing files (a speaker's recordings too)")
    check = ivr.add_parser("check", help="validate the menu file, list its prompts, check the recordings "
                           "folder and the prompts where Asterisk reads them")
    check.add_argument("--prompts", type=Path, help="the prompts folder to check (default CALLCENTER_IVR_PROMPTS_DIR)")

    config = sub.add_parser("config", help="settings").add_subparsers(dest="config_command", required=True)
    config.add_parser("show", help="print the effective settings (secrets masked)")

    for extra in extra_commands():
        extra.register(sub)
    return parser


def _ticket_commands(sub: Any) -> None:
    tickets = sub.add_parser("tickets", help="find, show and move tickets").add_subparsers(
        dest="tickets_command", required=True)
    lst = tickets.add_parser("list", help="newest tickets first")
    lst.add_argument("--phone")
    lst.add_argument("--status", choices=[s.value for s in Status])
    lst.add_argument("--search", help="Russian full-text search")
    lst.add_argument("--limit", type=int, default=20)
    lst.add_argument("--json", action="store_true")
    show = tickets.add_parser("show", help="one ticket with its timeline and timers")
    show.add_argument("number")
    show.add_argument("--json", action="store_true")
    move = tickets.add_parser("move", help="change the status through the lifecycle rules")
    move.add_argument("number")
    move.add_argument("--to", required=True, choices=[s.value for s in Status])
    move.add_argument("--note")
    move.add_argument("--department", help="executor's code when dispatching")
    move.add_argument("--duplicate-of", help="the original ticket's number when rejecting a duplicate")
    move.add_argument("--as", dest="as_login", help="act as this staff user (default: an admin)")


class ExtraCommand(Protocol):
    """A command a feature slice adds (transcribe, open311-key, ivr prompts...)."""

    name: str

    def register(self, sub: Any) -> None: ...

    async def run(self, args: argparse.Namespace, settings: Settings) -> int: ...


def extra_commands() -> list[ExtraCommand]:
    """Commands feature slices add (each implements ExtraCommand)."""
    from callcenter.open311.cli import Open311KeyCommand

    return [Open311KeyCommand()]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, Any] = {"database_url": args.database_url}
    if args.command == "serve":
        overrides.update(host=args.host, port=args.port)
    try:
        settings = load_settings(args.config, overrides=overrides)
    except ConfigError as err:
        print(f"callcenter: {err}", file=sys.stderr)
        return 2
    # Admin commands print their own results; only serve logs at the configured level.
    logging.getLogger().setLevel(settings.log_level.upper() if args.command == "serve" else logging.WARNING)
    # APScheduler logs every tick of every job at INFO: keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return dispatch(args, settings)
    except DomainError as err:
        print(f"callcenter: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store.migrate import upgrade

    if args.command == "serve":
        return serve(settings)
    if args.command == "transcribe":
        from callcenter.stt.cli import run_transcribe_command

        return run_transcribe_command(list(args.files), args.model or settings.stt_model, settings.stt_workers,
                                      json_output=args.json)
    if args.command == "ivr":
        return _ivr(args, settings)
    if args.command == "config":
        for name, value in settings_table(settings):
            print(f"{name}={value}")
        return 0
    upgrade(settings.database_url)
    handlers: dict[str, Callable[[argparse.Namespace, Any], Awaitable[int]]] = {
        "db": _db, "reference": _db, "user": _user, "tickets": _tickets, "seed-demo": _seed,
    }
    for extra in extra_commands():
        if args.command == extra.name:
            return asyncio.run(extra.run(args, settings))
    return asyncio.run(_with_services(settings, handlers[args.command], args))


async def _with_services(settings: Settings, handler: Any, args: argparse.Namespace) -> int:
    from callcenter.app import build_services
    from callcenter.store.reference_sync import sync_reference

    services = build_services(settings)
    try:
        await sync_reference(services.sessions, services.reference)
        return await handler(args, services)
    finally:
        await services.engine.dispose()


def serve(settings: Settings) -> int:
    from aiohttp import web

    from callcenter.app import init_app
    from callcenter.store.migrate import upgrade

    upgrade(settings.database_url)
    app = init_app(settings)
    print(f"1563 callcenter {__version__}: http://{settings.host}:{settings.port}/ (database {settings.database_url})")
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


def _ivr(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.ivr.menu import load_menu, load_prompts
    from callcenter.ivr.prompts import generate_prompts
    from callcenter.reference import load_reference

    menu = load_menu(settings.ivr_menu_file, known_categories={c.code for c in load_reference().categories})
    if args.ivr_command == "check":
        print(f"menu is valid: {len(menu.menus)} menus, {len(menu.prompts)} prompts, start at «{menu.start}»")
        for name, text in sorted(menu.prompts.items()):
            print(f"  {menu.sound(name)}: {text}")
        return _ivr_media_check(settings, menu.prompts, args.prompts or settings.ivr_prompts_dir)
    out = args.out or settings.ivr_prompts_dir
    if out is None:
        print("callcenter: ivr prompts: give --out DIR or set CALLCENTER_IVR_PROMPTS_DIR", file=sys.stderr)
        return 2
    report = asyncio.run(generate_prompts(load_prompts(), out, overwrite=args.overwrite))
    print(f"{len(report.generated)} prompts written to {out}, {len(report.skipped)} kept as they were")
    return 0


def _ivr_media_check(settings: Settings, prompts: Any, prompts_dir: Path | None) -> int:
    """The recordings folder and the prompts: one line each; 1 when either is unusable."""
    from callcenter.ivr.health import missing_prompts, recordings_problem

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
            print(f"prompts MISSING in {prompts_dir} ({len(missing)}): {', '.join(missing)}; make them with "
                  f"`callcenter ivr prompts --out {prompts_dir}`")
        else:
            print(f"prompts: all {len(set(prompts))} in {prompts_dir}")
    return 1 if failed else 0


async def _db(args: argparse.Namespace, services: Any) -> int:
    print(f"database is up to date; {len(services.reference.departments)} departments and "
          f"{len(services.reference.categories)} categories loaded")
    return 0


async def _user(args: argparse.Namespace, services: Any) -> int:
    if args.user_command == "list":
        for u in await services.users.all():
            print(f"{u.login:20} {u.role.value:11} {u.department or '-':24} {u.device or '-'}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Пароль: ")
        if getpass.getpass("Ещё раз: ") != password:
            print("callcenter: пароли не совпадают", file=sys.stderr)
            return 1
    user = await services.users.create(args.login, password, args.role, department=args.department,
                                       full_name=args.name, device=args.device)
    print(f"user {user.login} ({user.role.value}) created")
    return 0


async def _actor(services: Any, login: str | None) -> Actor:
    if not login:
        return Actor(role=Role.ADMIN, name=f"cli:{getpass.getuser()}")
    user = await services.users.by_login(login)
    if user is None:
        raise DomainError(f"Пользователь «{login}» не найден")
    return user.actor()


async def _tickets(args: argparse.Namespace, services: Any) -> int:
    from callcenter.tickets.schemas import TicketFilter

    if args.tickets_command == "list":
        filters = TicketFilter(statuses=(Status(args.status),) if args.status else (), phone=args.phone,
                               query=args.search)
        page = await services.tickets.list(filters, limit=args.limit)
        if args.json:
            print(json.dumps([_jsonable(asdict(t)) for t in page.rows], ensure_ascii=False, indent=2))
        else:
            for t in page.rows:
                print(f"{t.number}  {t.status.value:11} {t.channel.value:7} {t.category or '-':16} "
                      f"{t.phone or '-':13} {t.title[:50]}")
        return 0
    if args.tickets_command == "show":
        return await _show(args, services)
    view = await services.tickets.move(
        args.number, args.to, await _actor(services, args.as_login), note=args.note,
        department=args.department, duplicate_of=args.duplicate_of,
    )
    print(f"{view.number}: {view.status.value}")
    return 0


async def _show(args: argparse.Namespace, services: Any) -> int:
    detail = await services.tickets.detail(args.number)
    if args.json:
        print(json.dumps(_jsonable(asdict(detail)), ensure_ascii=False, indent=2))
        return 0
    t = detail.ticket
    print(f"Заявка № {t.number}  [{t.status.value}]  канал: {t.channel.value}{'  ЧЕРНОВИК' if t.is_draft else ''}")
    print(f"  категория: {t.category_name or '-'}; исполнитель: {t.department_name or '-'}")
    print(f"  заявитель: {t.citizen_name or '-'} {t.phone or ''}; адрес: {t.address or '-'}")
    print(f"  {t.title}\n  {t.description}")
    timers = detail.timers
    print(f"  до направления {format_duration(timers.to_dispatch)}, до принятия {format_duration(timers.to_accept)}, "
          f"до выполнения {format_duration(timers.to_done)}, до закрытия {format_duration(timers.to_close)}")
    for e in detail.events:
        move = f"{e.from_status or ''}->{e.to_status}" if e.to_status else e.kind
        print(f"  {e.at:%Y-%m-%d %H:%M:%S}Z  {e.actor_name:20} {move:24} {e.note or ''}")
    return 0


async def _seed(args: argparse.Namespace, services: Any) -> int:
    from callcenter.tickets.demo import seed_demo

    created = await seed_demo(services, count=args.tickets, seed=args.seed, progress=True)
    print(f"{created} demo tickets created")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
