"""152-ФЗ in the running program: the retention job and ``callcenter privacy ...`` for admins.

* With ``CALLCENTER_RETENTION_DAYS`` above 0, the app erases closed tickets' personal data once
  an hour (:class:`callcenter.tickets.retention.PersonalDataEraser`); each run that erased
  something is an audit event of the system.
* ``callcenter privacy erase --phone NUMBER``: a citizen's request to delete their data.
* ``callcenter privacy expire``: run the retention job once now (cron, or after changing the period).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web

from callcenter.accounts.audit import AuditActor, AuditLog
from callcenter.config import Settings
from callcenter.domain.errors import DomainError
from callcenter.services import SERVICES
from callcenter.store.db import create_engine, session_factory
from callcenter.tasks import cancel_and_wait, start_task
from callcenter.tickets.retention import PersonalDataEraser

logger = logging.getLogger(__name__)

RUN_EVERY = 3600.0  # seconds between retention runs


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hourly retention job (only when a retention period is configured)."""
    services = app[SERVICES]
    days = services.settings.retention_days
    if days <= 0:
        yield
        return
    eraser = PersonalDataEraser(services.sessions, services.settings.data_dir, AuditLog(services.sessions))
    task = start_task(_every_hour(eraser, timedelta(days=days)), name="retention", logger=logger)
    try:
        yield
    finally:
        await cancel_and_wait(task)


async def _every_hour(eraser: PersonalDataEraser, retention: timedelta) -> None:
    while True:
        try:
            await eraser.erase_expired(retention)
        except Exception:  # a database outage: try again next hour, never stop the job
            logger.exception("retention run failed; next try in %d s", RUN_EVERY)
        await asyncio.sleep(RUN_EVERY)


class PrivacyCommand:
    """``callcenter privacy erase --phone P`` and ``callcenter privacy expire``."""

    name = "privacy"

    def register(self, sub: Any) -> None:
        parser = sub.add_parser(self.name, help="personal data (152-FZ): erase on request, retention run")
        actions = parser.add_subparsers(dest="privacy_command", required=True)
        erase = actions.add_parser("erase", help="erase a citizen's personal data on their request")
        erase.add_argument("--phone", required=True, help="the citizen's number, e.g. 8 978 123-45-67")
        erase.add_argument("--by", default="", help="who handles the request (audit log); default: the OS user")
        expire = actions.add_parser("expire", help="erase closed tickets' personal data past the retention period now")
        expire.add_argument(
            "--days", type=int, default=None, help="retention days (default: CALLCENTER_RETENTION_DAYS)"
        )
        for action in (erase, expire):
            action.add_argument("--json", action="store_true", help="print the report as JSON")

    async def run(self, args: argparse.Namespace, settings: Settings) -> int:
        engine = create_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            eraser = PersonalDataEraser(sessions, settings.data_dir, AuditLog(sessions))
            if args.privacy_command == "erase":
                actor = AuditActor(None, (args.by or _os_user())[:64], "admin", "command line")
                try:
                    report = await eraser.erase_phone(args.phone, actor)
                except DomainError as err:
                    print(err.message)
                    return 2
            else:
                days = settings.retention_days if args.days is None else args.days
                if days <= 0:
                    print("Срок хранения не задан: укажите --days или CALLCENTER_RETENTION_DAYS")
                    return 2
                report = await eraser.erase_expired(timedelta(days=days))
        finally:
            await engine.dispose()
        if args.json:
            print(json.dumps({**report.as_details(), "numbers": report.tickets}, ensure_ascii=False))
        else:
            print(
                f"Персональные данные удалены: заявок {len(report.tickets)}, файлов {report.files}, "
                f"звонков {report.calls}, заявителей {report.citizens}, расшифровок разговоров {report.conversations}"
            )
        return 0


def _os_user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "admin"
