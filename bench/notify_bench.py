"""Notifications benchmark: what the outbox adds to a ticket write, and how fast workers drain it.

1. Creates N tickets with the citizen's e-mail consent through the real TicketService, first
   without the outbox hook, then with it: prints the latency of ``create`` both ways (the
   outbox row is one more INSERT and one opt-out lookup in the same transaction).
2. Drains the queued messages with W workers (each with its own engine, as separate app
   instances would have) into a real SMTP server (aiosmtpd on a loopback port): prints
   messages per second and how many messages arrived twice (must be 0).

    .venv/bin/python bench/notify_bench.py
    .venv/bin/python bench/notify_bench.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/cc_notify \
        --tickets 1000 --workers 3

On SQLite the database is a fresh file under /tmp; on PostgreSQL the tables it touches must
belong to a throwaway database (it adds tickets and notifications, and removes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcenter.config import load_settings  # noqa: E402
from callcenter.domain.tickets import Actor, Channel, Role  # noqa: E402
from callcenter.notifications.api import build_notifications  # noqa: E402
from callcenter.notifications.models import Notification  # noqa: E402
from callcenter.store.db import create_engine, session_factory  # noqa: E402
from callcenter.store.migrate import upgrade_async  # noqa: E402
from callcenter.store.reference_sync import sync_reference  # noqa: E402
from callcenter.tickets.schemas import NewTicket  # noqa: E402
from tests.notify_support import consented, start_mail_server  # noqa: E402

OPERATOR = Actor(role=Role.OPERATOR, name="bench")


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[int(len(values) * 0.95) - 1] if len(values) >= 20 else values[-1]
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


async def _create(services, count: int, offset: int) -> list[float]:  # type: ignore[no-untyped-def]
    took = []
    for i in range(count):
        ticket = NewTicket(
            channel=Channel.WEB,
            phone=f"+7978{offset + i:07d}",
            category="water_leak",
            title="bench",
            address="улица Ленина, 5",
            extra=consented(f"b{offset + i}@example.ru"),
        )
        started = time.perf_counter()
        await services.tickets.create(ticket, OPERATOR)
        took.append(time.perf_counter() - started)
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    url = args.database_url
    if not url:
        folder = Path("/tmp/callcenter-bench/notify")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
    await upgrade_async(url)
    server, mail = await start_mail_server()
    settings = load_settings(
        environ={},
        overrides={
            "database_url": url,
            "data_dir": "/tmp/callcenter-bench/notify-data",
            "secret_key": "bench-secret",
            "smtp_host": "127.0.0.1",
            "smtp_port": mail.port,
            "smtp_starttls": False,
            "notify_batch": args.batch,
        },
    )
    from callcenter.app import build_services

    services = build_services(settings)
    await sync_reference(services.sessions, services.reference)
    async with services.sessions() as session:
        first_id = (await session.execute(select(func.coalesce(func.max(Notification.id), 0)))).scalar_one()
    print(f"{services.engine.dialect.name}: {args.tickets} tickets, {args.workers} workers, batch {args.batch}")

    plain = await _create(services, args.tickets, 0)
    feature = build_notifications(settings, sessions=services.sessions, tickets=services.tickets)
    services.tickets.add_in_transaction_hook(feature.writer, feature.writer.kinds)
    hooked = await _create(services, args.tickets, args.tickets)
    print(f"ticket create without the outbox hook: {_ms(plain)}")
    print(f"ticket create with the outbox row:     {_ms(hooked)}")

    engines = [create_engine(url) for _ in range(args.workers)]
    workers = [
        build_notifications(
            dataclasses.replace(settings), sessions=session_factory(e), tickets=services.tickets, owner=f"w{i}"
        ).worker
        for i, e in enumerate(engines)
    ]

    async def drain(worker) -> int:  # type: ignore[no-untyped-def]
        total = 0
        while n := await worker.tick():
            total += n
        return total

    started = time.perf_counter()
    per_worker = await asyncio.gather(*(drain(w) for w in workers))
    elapsed = time.perf_counter() - started
    received = Counter(str(r.message["Message-ID"]) for r in mail.handler.received)
    doubled = sum(1 for n in received.values() if n > 1)
    async with services.sessions() as session:
        queued = (
            await session.execute(select(func.count()).select_from(Notification).where(Notification.id > first_id))
        ).scalar_one()
    print(
        f"sent {sum(per_worker)} of {queued} queued in {elapsed:.2f} s: {sum(per_worker) / elapsed:.0f} messages/s "
        f"(per worker {list(per_worker)}); arrived {len(mail.handler.received)}, twice: {doubled}"
    )
    for e in engines:
        await e.dispose()
    await services.engine.dispose()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
