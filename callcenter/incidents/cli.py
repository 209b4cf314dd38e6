"""``callcenter incidents ...``: import planned outages, list, restore, cancel, and utilities' keys.

    callcenter incidents import FILE [--department CODE] [--category CODE] [--dry-run]
    callcenter incidents list [--all]
    callcenter incidents restore ID --note TEXT
    callcenter incidents cancel ID [--note TEXT]
    callcenter incidents key add DEPARTMENT | key list | key revoke ID

Restoring from the command line moves the linked tickets to done; the running server's
callbacks reconcile pass plans the confirmation calls (within a minute or so).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from callcenter.config import Settings
from callcenter.domain.errors import DomainError
from callcenter.domain.incidents import IncidentStatus
from callcenter.domain.tickets import Actor, Role
from callcenter.incidents.importer import ImportError_, parse_outage_file
from callcenter.incidents.wiring import build_incidents
from callcenter.reference import Gazetteer, load_reference
from callcenter.store.db import create_engine, session_factory
from callcenter.store.reference_sync import sync_reference
from callcenter.tickets.service import TicketService

CLI_ACTOR = Actor(role=Role.SUPERVISOR, name="командная строка")


class IncidentsCommand:
    name = "incidents"

    def register(self, sub: Any) -> None:
        parser = sub.add_parser(self.name, help="outage incidents: import, list, restore, cancel, utilities' keys")
        actions = parser.add_subparsers(dest="incidents_command", required=True)
        imp = actions.add_parser("import", help="import a planned-outage list (CSV or JSON, see docs/incidents.md)")
        imp.add_argument("file", metavar="FILE", type=Path)
        imp.add_argument("--department", help="executor code of the utility (default: the category's)")
        imp.add_argument("--category", default="no_water", help="category of rows without one (default no_water)")
        imp.add_argument("--dry-run", action="store_true", help="check the file and print what would be made")
        lst = actions.add_parser("list", help="active incidents (--all: every one)")
        lst.add_argument("--all", action="store_true")
        restore = actions.add_parser("restore", help="mark restored: linked tickets done, citizens called back")
        restore.add_argument("incident_id", type=int, metavar="ID")
        restore.add_argument("--note", required=True, help="what was done (goes into every linked ticket)")
        cancel = actions.add_parser("cancel", help="cancel an incident entered by mistake")
        cancel.add_argument("incident_id", type=int, metavar="ID")
        cancel.add_argument("--note", default="")
        key = actions.add_parser("key", help="API keys of the utilities' systems (one per department)")
        key_actions = key.add_subparsers(dest="key_command", required=True)
        add = key_actions.add_parser("add", help="issue a key for a department and print it (shown once)")
        add.add_argument("department", metavar="DEPARTMENT")
        key_actions.add_parser("list")
        revoke = key_actions.add_parser("revoke")
        revoke.add_argument("key_id", type=int, metavar="ID")

    async def run(self, args: argparse.Namespace, settings: Settings) -> int:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        reference = load_reference()
        try:
            await sync_reference(sessions, reference)
            feature = build_incidents(
                settings,
                sessions=sessions,
                tickets=TicketService(sessions, None, zone=settings.zone),
                reference=reference,
                gazetteer=Gazetteer(reference.streets),
                hub=None,
            )
            return await self._run(args, feature, settings)
        except DomainError as err:
            print(f"error: {err.message}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()

    async def _run(self, args: argparse.Namespace, feature: Any, settings: Settings) -> int:
        service = feature.service
        command = args.incidents_command
        if command == "import":
            return await _import(args, service, settings)
        if command == "list":
            for i in await service.listing(status=None if args.all else IncidentStatus.ACTIVE):
                until = f"{i.expected_at.astimezone(service.zone):%d.%m %H:%M}" if i.expected_at else "—"
                print(f"{i.id:5} {i.status.value:9} {i.category:15} до {until:12} {i.title} | {i.area_text}")
            return 0
        if command == "restore":
            result = await service.restore(args.incident_id, CLI_ACTOR, args.note)
            print(
                f"incident {args.incident_id} restored: {len(result.done)} tickets done, {result.citizens} citizens to call back"
            )
            for number, why in result.skipped:
                print(f"  not moved: {number}: {why}", file=sys.stderr)
            return 0
        if command == "cancel":
            await service.cancel(args.incident_id, CLI_ACTOR, args.note)
            print(f"incident {args.incident_id} cancelled")
            return 0
        keys = feature.keys
        if args.key_command == "add":
            view, key = await keys.add(args.department)
            print(key)
            print(f"key {view.id} for «{view.owner}» issued; store it now: it cannot be shown again", file=sys.stderr)
        elif args.key_command == "list":
            for k in await keys.all():
                state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                print(f"{k.id:4} {k.owner:30} {k.key_prefix}…  {state}")
        else:
            view = await keys.revoke(args.key_id)
            print(f"key {view.id} revoked")
        return 0


async def _import(args: argparse.Namespace, service: Any, settings: Settings) -> int:
    reference = load_reference()
    try:
        data = args.file.read_bytes()
    except OSError as err:
        print(f"error: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return 1
    try:
        inputs = parse_outage_file(
            data,
            name=args.file.name,
            zone=settings.zone,
            default_category=args.category,
            known_categories={c.code for c in reference.categories},
        )
    except ImportError_ as err:
        print(f"error: {args.file}: nothing imported", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    actor = Actor(role=Role.SUPERVISOR, name=f"импорт {args.file.name}"[:200])
    made = 0
    for item in inputs:
        if args.department:
            item = type(item)(**{**item.__dict__, "department": args.department})
        if args.dry_run:
            service.normalise_area(item.area)
            print(f"would create: {item.category} «{item.title}» {item.area.describe()}")
            continue
        if item.external_ref and await service.find_external(item.department, item.external_ref) is not None:
            print(f"skipped (already imported): ref {item.external_ref}")
            continue
        view = await service.create(item, actor)
        made += 1
        print(f"created incident {view.id}: {view.title} | {view.area_text} | master ticket {view.master_number}")
    print(f"{made} incidents created from {args.file}")
    return 0
