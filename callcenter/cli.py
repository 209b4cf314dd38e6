"""The `callcenter` command for admins: serve, db, users, tickets, demo data and more.

Every command reads the same settings (defaults < --config FILE < CALLCENTER_* < flags) and
goes through the same services as the web, so `tickets move` refuses what the web refuses.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from callcenter import __version__
from callcenter.config import ConfigError, ListenError, Settings, load_settings, settings_table
from callcenter.domain.errors import DomainError
from callcenter.domain.phones import format_phone
from callcenter.domain.tickets import CHANNEL_LABELS, ROLE_LABELS, STATUS_LABELS, Actor, Role, Status, format_duration
from callcenter.features import Command

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
        prog="callcenter",
        description="1563 city hotline backend: tickets, IVR, AMI, callbacks, web.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    add.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in (Role.OPERATOR, Role.EXECUTOR, Role.SUPERVISOR, Role.ANALYST, Role.ADMIN)],
    )
    add.add_argument("--department", help="department code (required for executors)")
    add.add_argument("--name", default="", help="full name shown to colleagues")
    add.add_argument("--device", help="the operator's phone for screen pops, e.g. PJSIP/op1")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user.add_parser("list", help="list staff users")

    _ticket_commands(sub)

    seed = sub.add_parser("seed-demo", help="fill the store with realistic demo tickets (with a progress bar)")
    seed.add_argument("--tickets", type=int, default=200)
    seed.add_argument("--seed", type=int, default=1563)

    for command in feature_commands():
        command.register(sub)

    config = sub.add_parser("config", help="settings").add_subparsers(dest="config_command", required=True)
    config.add_parser("show", help="print the effective settings (secrets masked)")
    return parser


def _ticket_commands(sub: Any) -> None:
    tickets = sub.add_parser("tickets", help="find, show and move tickets").add_subparsers(
        dest="tickets_command", required=True
    )
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


def feature_commands() -> list[Command]:
    """Every feature's commands, in the composition root's feature order."""
    from callcenter.app import FEATURES

    return [command for feature in FEATURES for command in feature.commands]


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
    # Libraries that narrate their start at INFO (APScheduler every tick, alembic its plugins and
    # migrations, pymorphy its dictionaries): keep their warnings and errors only.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        code = dispatch(args, settings)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at exit
        return code
    except ConfigError as err:  # a listener's port taken (ListenError), found while starting
        print(f"callcenter: {err}", file=sys.stderr)
        return 1
    except DomainError as err:
        print(f"callcenter: {err.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `callcenter tickets list | head`: the reader is gone; say nothing more, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130


QUIET_LOGGERS = ("apscheduler", "alembic", "pymorphy3", "pymorphy2")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.store.migrate import upgrade

    if args.command == "serve":
        return serve(settings)
    if args.command == "config":
        for name, value in settings_table(settings):
            print(f"{name}={value}")
        return 0
    for command in feature_commands():
        if args.command == command.name:
            if command.needs_database:
                upgrade(settings.database_url)
            return asyncio.run(command.run(args, settings))
    upgrade(settings.database_url)
    handlers: dict[str, Callable[[argparse.Namespace, Any], Awaitable[int]]] = {
        "db": _db,
        "reference": _db,
        "user": _user,
        "tickets": _tickets,
        "seed-demo": _seed,
    }
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

    from callcenter.app import freeze_startup_objects, init_app
    from callcenter.store.migrate import upgrade

    upgrade(settings.database_url)
    app = init_app(settings)
    app.on_startup.append(freeze_startup_objects)  # last: after every feature's start
    print(
        f"1563 callcenter {__version__}: {settings.public_url}/ (listening on {settings.host}:{settings.port}, "
        f"database {settings.database_url})",
        flush=True,
    )
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    except ListenError:
        raise
    except OSError as err:
        # The FastAGI listener reports its own clash (ListenError); what is left is the web port.
        if err.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise ListenError("port", settings.host, settings.port, err) from err
    return 0


async def _db(args: argparse.Namespace, services: Any) -> int:
    print(
        f"database is up to date; {len(services.reference.departments)} departments and "
        f"{len(services.reference.categories)} categories loaded"
    )
    return 0


async def _user(args: argparse.Namespace, services: Any) -> int:
    if args.user_command == "list":
        for u in await services.users.all():
            print(
                f"{u.login:20} {u.role.value:11} {ROLE_LABELS[u.role]:19} {u.department or '-':24} "
                f"{u.device or '-'}{'' if u.active else '  (отключён)'}"
            )
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        if not _has_terminal():
            print("callcenter: no terminal to ask for the password: pipe it in with --password-stdin", file=sys.stderr)
            return 2
        password = getpass.getpass("Пароль: ")
        if getpass.getpass("Ещё раз: ") != password:
            print("callcenter: пароли не совпадают", file=sys.stderr)
            return 1
    try:
        user = await services.users.create(
            args.login, password, args.role, department=args.department, full_name=args.name, device=args.device
        )
    except DomainError as err:
        if getattr(err, "field", None) != "department":
            raise
        raise DomainError(f"{err.message}; {_department_hint(services, args.department)}") from err
    print(f"user {user.login} ({user.role.value}) created")
    return 0


def _has_terminal() -> bool:
    """Whether getpass can ask without echo: a controlling terminal (it reads /dev/tty first)."""
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return sys.stdin.isatty()


def _department_hint(services: Any, typed: str | None) -> str:
    """Close codes for a typo, and always the command that lists them all."""
    from difflib import get_close_matches

    from callcenter.accounts.departments_cli import HOW_TO_LIST

    close = get_close_matches(typed or "", [d.code for d in services.reference.departments], n=3, cutoff=0.6)
    return (f"может быть, {', '.join(close)}? " if close else "") + HOW_TO_LIST


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
        filters = TicketFilter(
            statuses=(Status(args.status),) if args.status else (), phone=args.phone, query=args.search
        )
        page = await services.tickets.list(filters, limit=args.limit)
        if args.json:
            print(json.dumps([_jsonable(asdict(t)) for t in page.rows], ensure_ascii=False, indent=2))
        else:
            zone = services.settings.zone
            for t in page.rows:
                print(
                    f"{t.number}  {t.created_at.astimezone(zone):%d.%m.%Y %H:%M}  {STATUS_LABELS[t.status]:23} "
                    f"{CHANNEL_LABELS[t.channel]:19} {format_phone(t.phone) if t.phone else '-':16} {t.title[:50]}"
                )
        return 0
    if args.tickets_command == "show":
        return await _show(args, services)
    view = await services.tickets.move(
        args.number,
        args.to,
        await _actor(services, args.as_login),
        note=args.note,
        department=args.department,
        duplicate_of=args.duplicate_of,
    )
    print(f"{view.number}: {STATUS_LABELS[view.status]}")
    return 0


async def _show(args: argparse.Namespace, services: Any) -> int:
    detail = await services.tickets.detail(args.number)
    if args.json:
        print(json.dumps(_jsonable(asdict(detail)), ensure_ascii=False, indent=2))
        return 0
    t = detail.ticket
    zone = services.settings.zone
    print(
        f"Заявка № {t.number}  [{STATUS_LABELS[t.status]}]  канал: {CHANNEL_LABELS[t.channel]}"
        f"{'  ЧЕРНОВИК' if t.is_draft else ''}"
    )
    print(f"  поступила {t.created_at.astimezone(zone):%d.%m.%Y %H:%M:%S} ({zone.key})")
    print(f"  категория: {t.category_name or '-'}; исполнитель: {t.department_name or '-'}")
    print(f"  заявитель: {t.citizen_name or '-'} {format_phone(t.phone) if t.phone else ''}; адрес: {t.address or '-'}")
    print(f"  {t.title}\n  {t.description}")
    timers = detail.timers
    print(
        f"  до направления {format_duration(timers.to_dispatch)}, до принятия {format_duration(timers.to_accept)}, "
        f"до выполнения {format_duration(timers.to_done)}, до закрытия {format_duration(timers.to_close)}"
    )
    for e in detail.events:
        print(f"  {e.at.astimezone(zone):%d.%m.%Y %H:%M:%S}  {e.actor_name:24} {_event_line(e):40} {e.note or ''}")
    return 0


EVENT_KIND_LABELS = {
    "created": "заявка создана",
    "edit": "изменение полей",
    "note": "заметка",
    "attachment": "вложение",
    "call": "звонок",
    "callback": "обратный звонок",
    "transcript": "расшифровка",
}


def _event_line(event: Any) -> str:
    if event.kind == "status" and event.to_status:
        before = STATUS_LABELS[Status(event.from_status)] if event.from_status else ""
        return f"{before} → {STATUS_LABELS[Status(event.to_status)]}".strip(" →")
    if event.kind == "created":
        return EVENT_KIND_LABELS["created"]
    return EVENT_KIND_LABELS.get(event.kind, event.kind)


async def _seed(args: argparse.Namespace, services: Any) -> int:
    from callcenter.demo import seed_demo

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
