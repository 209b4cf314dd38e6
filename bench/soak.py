"""Soak: three `callcenter serve` instances on one PostgreSQL, the AMI leader SIGKILLed mid-run.

    .venv/bin/python bench/soak.py [--seconds 90] [--kill-at 30] [--restart-after 5]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/cc_speed_soak]

Bounded: it runs ``--seconds`` of traffic, then drains and stops every process it started.
The outside world is this process: the fake Asterisk of tests/protocol/fake_ami.py (every
instance is configured with it; only the holder of the advisory lock connects,
deploy/several-instances.md), operators signed in through the login form with their
WebSockets spread over the three instances (a socket whose instance dies reconnects to
another, as the page does through nginx), a steady stream of queue calls that ring one
operator each (the recorded trace, cloned), and citizens' portal submissions sent round
robin to the live instances. At ``--kill-at`` s the instance holding the AMI link is killed
with SIGKILL and started again ``--restart-after`` s later.

Printed: rings sent and pops delivered to the ringing operator (whichever instance holds
their socket; rings sent while no instance held AMI are counted apart: Asterisk had nobody
to tell), portal submissions acknowledged vs stored (none lost, none doubled), requests
failed and when, the recovery time (kill -> the next pop delivered; kill -> a new AMI
login), and callbacks: a supervisor walks the citizens' tickets to "done" through the staff
form on any instance, each "done" plans a callback due a second later, the leader dials it
(the fake answers "busy", so a callback dialled once is not dialled again within the run):
planned vs dialled, doubled, never dialled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench.server import ServerProcess  # noqa: E402
from tests.protocol.fake_ami import FakeAmi, frame_get  # noqa: E402
from tests.telephony_fixtures import (  # noqa: E402
    PASSWORD,
    clone_call,
    index_of,
    queue_events,
    stamp,
    varset_after,
)

INSTANCES = 3
MARK = "soak-19"


@dataclass
class Ring:
    linkedid: str
    operator: str
    sent: float
    leader_up: bool
    delivered: float | None = None


@dataclass
class World:
    rings: dict[str, Ring] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)  # portal submissions answered 303
    failures: list[tuple[float, str]] = field(default_factory=list)
    killed_at: float | None = None
    login_after_kill: float | None = None
    pops_by_instance: dict[int, int] = field(default_factory=dict)
    moves_ok: int = 0
    done: set[str] = field(default_factory=set)  # ticket numbers moved to "done" (acknowledged)


def settings_env(database_url: str, fake: FakeAmi, work: Path, k: int) -> dict[str, str]:
    return {
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_DATA_DIR": str(work / "data"),
        "CALLCENTER_SECRET_KEY": "soak-secret",
        "CALLCENTER_AGI_ENABLED": "false",
        "CALLCENTER_AMI_HOST": "127.0.0.1",
        "CALLCENTER_AMI_PORT": str(fake.port),
        "CALLCENTER_AMI_USERNAME": fake.username,
        "CALLCENTER_AMI_SECRET": fake.secret,
        "CALLCENTER_AMI_PING_INTERVAL": "2",
        "CALLCENTER_TRUSTED_PROXIES": "127.0.0.1",
        "CALLCENTER_LOG_LEVEL": "WARNING",
        "CALLCENTER_ARCHIVE_AFTER_DAYS": "36500",
        # Callbacks due a second after the move to "done", dialled round the clock, claimed
        # with a short lease so that a claim lost with a killed instance is taken again in the run.
        "CALLCENTER_CALLBACK_DELAY_SECONDS": "1",
        "CALLCENTER_CALLBACK_HOURS": "00:00-23:59",
        "CALLCENTER_CALLBACK_TICK_SECONDS": "0.5",
        "CALLCENTER_CALLBACK_LEASE_SECONDS": "10",
        "CALLCENTER_CALLBACK_MAX_CONCURRENT": "50",
    }


class Cluster:
    def __init__(self, database_url: str, fake: FakeAmi, work: Path) -> None:
        self.database_url, self.fake, self.work = database_url, fake, work
        self.servers: list[ServerProcess | None] = [None] * INSTANCES

    async def start(self, k: int) -> None:
        server = ServerProcess(
            ["-m", "callcenter.cli", "serve"],
            settings_env(self.database_url, self.fake, self.work, k),
            self.work / f"instance-{k}",
        )
        self.servers[k] = await server.__aenter__()

    def kill(self, k: int) -> None:
        server = self.servers[k]
        assert server is not None and server.process is not None
        server.process.send_signal(signal.SIGKILL)
        self.servers[k] = None

    def live(self) -> list[tuple[int, str]]:
        return [(k, s.base) for k, s in enumerate(self.servers) if s is not None]

    async def leader(self, http: aiohttp.ClientSession) -> int | None:
        for k, base in self.live():
            try:
                async with http.get(base + "/healthz") as resp:
                    if (await resp.json()).get("ami") == "connected":
                        return k
            except aiohttp.ClientError:
                continue
        return None

    async def stop(self) -> None:
        for server in self.servers:
            if server is not None:
                await server.__aexit__(None, None, None)


async def prepare(database_url: str, work: Path, operators: int) -> None:
    import asyncpg

    from callcenter.app import build_services
    from callcenter.config import load_settings
    from callcenter.domain.tickets import Role
    from callcenter.store.migrate import upgrade_async
    from callcenter.store.pg_hub_bridge import asyncpg_dsn
    from callcenter.store.reference_sync import sync_reference
    from tests.telephony_fixtures import clean_database

    dsn = asyncpg_dsn(database_url)
    if dsn is None:
        raise SystemExit("the soak needs PostgreSQL (--database-url postgresql+asyncpg://...)")
    name = dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await upgrade_async(database_url)
    services = build_services(load_settings(environ={}, overrides={"database_url": database_url, "data_dir": work}))
    await sync_reference(services.sessions, services.reference)
    await clean_database(services)
    for k in range(operators):
        await services.users.create(f"soak{k}", PASSWORD, Role.OPERATOR, device=f"Local/soak{k}@operators/n")
    await services.users.create("soakboss", PASSWORD, Role.SUPERVISOR)
    await services.engine.dispose()


async def sign_in(http: aiohttp.ClientSession, base: str, login: str) -> None:
    page = await (await http.get(base + "/login")).text()
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = await http.post(
        base + "/login", data={"login": login, "password": PASSWORD, "csrf_token": csrf}, allow_redirects=False
    )
    if resp.status != 303:
        raise SystemExit(f"login of {login} failed: {resp.status}")


async def operator(k: int, cluster: Cluster, world: World, stop: asyncio.Event, ready: asyncio.Event) -> None:
    """One operator's page: a socket on instance k % 3, reconnecting to a live one when it drops."""
    login = f"soak{k}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        signed = False
        attempt = k
        while not stop.is_set():
            live = cluster.live()
            if not live:
                await asyncio.sleep(0.2)
                continue
            index, base = live[attempt % len(live)]
            attempt += 1
            try:
                if not signed:
                    await sign_in(http, base, login)  # the session lives in PostgreSQL: any instance knows it
                    signed = True
                async with http.ws_connect(base.replace("http", "ws", 1) + "/ws", heartbeat=5) as ws:
                    async for msg in ws:
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            break
                        data = json.loads(msg.data)
                        if data.get("type") == "hello":
                            ready.set()
                        elif data.get("type") == "pop" and data.get("state") == "ringing":
                            ring = world.rings.get(data.get("linkedid", ""))
                            if ring is not None and ring.operator == login and ring.delivered is None:
                                ring.delivered = time.monotonic()
                                world.pops_by_instance[index] = world.pops_by_instance.get(index, 0) + 1
                        if stop.is_set():
                            break
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.2)  # the page's reconnect back-off


async def calls(fake: FakeAmi, world: World, stop: asyncio.Event, operators: int, interval: float) -> None:
    template = varset_after(queue_events(), "IVR_PATH", "1>water_leak")
    n = 0
    ending: list[tuple[float, list[Any]]] = []
    while not stop.is_set():
        name = f"soak{n % operators}"
        frames = stamp(
            clone_call(template, 50_000 + n, operator=name, operator_name=name, caller=f"+7978{700_0000 + n:07d}"),
            time.time() - 30,
        )
        ring = index_of(frames, "AgentCalled") + 1
        linkedid = frame_get(frames[0], "Linkedid") or ""
        world.rings[linkedid] = Ring(
            linkedid, name, time.monotonic(), leader_up=any(not w.is_closing() for w in fake._writers)
        )
        await fake.send_frames(frames[:ring])
        ending.append((time.monotonic() + 2.0, frames[ring:]))  # they talk for a while, then hang up
        while ending and ending[0][0] <= time.monotonic():
            await fake.send_frames(ending.pop(0)[1])
        n += 1
        await asyncio.sleep(interval)
    for _, tail in ending:
        await fake.send_frames(tail)


async def citizens(cluster: Cluster, world: World, stop: asyncio.Event, interval: float, started: float) -> None:
    n = 0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            live = cluster.live()
            key = f"{MARK}-{os.getpid()}-{n}"
            if live:
                # Round robin over the instances as they were a moment ago: a request to the one
                # just killed fails, like a connection nginx had already opened to it.
                _, base = live[n % len(live)]
                form = aiohttp.FormData()
                for name, value in {
                    "category": "water_leak",
                    "address": f"ул. Ленина, д. {n % 150 + 1}",
                    "description": f"Течёт вода из-под асфальта ({key})",
                    "name": "Житель",
                    "phone": f"+7978{800_0000 + n:07d}",
                    "consent": "on",
                }.items():
                    form.add_field(name, value)
                headers = {"X-Forwarded-For": f"10.19.{(n >> 8) & 255}.{n & 255}"}
                try:
                    async with http.post(base + "/", data=form, headers=headers, allow_redirects=False) as resp:
                        await resp.read()
                        if resp.status == 303:
                            world.acknowledged.add(key)
                        else:
                            world.failures.append((time.monotonic() - started, f"portal HTTP {resp.status}"))
                except (aiohttp.ClientError, OSError) as err:
                    world.failures.append((time.monotonic() - started, f"portal {type(err).__name__}"))
            n += 1
            await asyncio.sleep(interval)


MOVES = ("dispatched", "in_progress", "done")


async def mover(
    cluster: Cluster, world: World, stop: asyncio.Event, database_url: str, interval: float, started: float
) -> None:
    """A supervisor walks the citizens' tickets to "done" through the staff form, on any instance;
    each "done" plans a callback (the callbacks feature listens to moves)."""
    import asyncpg

    from callcenter.store.pg_hub_bridge import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    n = 0
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            csrf = ""
            while not stop.is_set():
                await asyncio.sleep(interval)
                live = cluster.live()
                if not live:
                    continue
                _, base = live[n % len(live)]
                n += 1
                row = await conn.fetchrow(
                    "SELECT number, status FROM tickets WHERE description LIKE $1 AND status IN"
                    " ('new', 'dispatched', 'in_progress') ORDER BY id LIMIT 1",
                    f"%({MARK}-%",
                )
                if row is None:
                    continue
                target = MOVES[("new", "dispatched", "in_progress").index(row["status"])]
                try:
                    if not csrf:
                        await sign_in(http, base, "soakboss")
                        page = await (await http.get(base + "/staff/")).text()
                        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                    note = "Заменён участок трубы, течь устранена" if target == "done" else ""
                    form = {"to": target, "note": note, "public": "1", "back": "", "csrf_token": csrf}
                    if target == "dispatched":
                        form["department"] = "vodokanal"
                    async with http.post(
                        f"{base}/staff/tickets/{row['number']}/move", data=form, allow_redirects=False
                    ) as resp:
                        await resp.read()
                        if resp.status == 303:
                            world.moves_ok += 1
                            if target == "done":
                                world.done.add(row["number"])
                        else:
                            world.failures.append((time.monotonic() - started, f"move HTTP {resp.status}"))
                except (aiohttp.ClientError, OSError) as err:
                    world.failures.append((time.monotonic() - started, f"move {type(err).__name__}"))
    finally:
        await conn.close()


def dialled(fake: FakeAmi) -> dict[str, int]:
    """Originates that reached the fake Asterisk, by the callback they dial."""
    counts: dict[str, int] = {}
    for action in fake.actions:
        if action.get("Action") != "Originate":
            continue
        raw = action.get("Variable", [])
        variables = dict(str(v).split("=", 1) for v in ([raw] if isinstance(raw, str) else raw))
        if "CALLBACK_ID" in variables:
            counts[variables["CALLBACK_ID"]] = counts.get(variables["CALLBACK_ID"], 0) + 1
    return counts


async def callbacks_planned(database_url: str) -> list[tuple[str, str, Any]]:
    import asyncpg

    from callcenter.store.pg_hub_bridge import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT id, state, due_at FROM callbacks ORDER BY id")
    finally:
        await conn.close()
    return [(str(r["id"]), r["state"], r["due_at"]) for r in rows]


async def stored(database_url: str) -> dict[str, int]:
    import asyncpg

    from callcenter.store.pg_hub_bridge import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT description FROM tickets WHERE description LIKE $1", f"%({MARK}-%")
    finally:
        await conn.close()
    found: dict[str, int] = {}
    for row in rows:
        key = row["description"].rsplit("(", 1)[1].rstrip(")")
        found[key] = found.get(key, 0) + 1
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/cc_speed_soak")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--kill-at", type=float, default=30.0)
    parser.add_argument("--restart-after", type=float, default=5.0)
    parser.add_argument("--operators", type=int, default=6)
    parser.add_argument("--call-interval", type=float, default=0.5)
    parser.add_argument("--submit-interval", type=float, default=0.25)
    parser.add_argument("--move-interval", type=float, default=0.3, help="between two staff moves")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds after the traffic for the last callbacks")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    await prepare(args.database_url, work / "data", args.operators)
    fake = FakeAmi()
    await fake.start()
    fake.originate_reason = "5"  # busy: a callback dialled once is retried only 15 minutes later
    cluster = Cluster(args.database_url, fake, work)
    world = World()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    try:
        await asyncio.gather(*(cluster.start(k) for k in range(INSTANCES)))
        await fake.wait_for_logins(1, timeout=30)
        readies = [asyncio.Event() for _ in range(args.operators)]
        tasks = [asyncio.create_task(operator(k, cluster, world, stop, readies[k])) for k in range(args.operators)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        started = time.monotonic()
        tasks.append(asyncio.create_task(calls(fake, world, stop, args.operators, args.call_interval)))
        tasks.append(asyncio.create_task(citizens(cluster, world, stop, args.submit_interval, started)))
        tasks.append(asyncio.create_task(mover(cluster, world, stop, args.database_url, args.move_interval, started)))
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(args.kill_at)
            victim = await cluster.leader(http)
            logins = fake.logins
            print(f"t={time.monotonic() - started:5.1f} s: SIGKILL instance {victim} (it holds the AMI link)")
            world.killed_at = time.monotonic()
            cluster.kill(victim if victim is not None else 0)
            while fake.logins == logins and time.monotonic() - world.killed_at < 60:
                await asyncio.sleep(0.05)
            if fake.logins > logins:
                world.login_after_kill = time.monotonic()
            await asyncio.sleep(max(0.0, args.restart_after - (time.monotonic() - world.killed_at)))
            restarted = victim if victim is not None else 0
            await cluster.start(restarted)
            print(f"t={time.monotonic() - started:5.1f} s: instance {restarted} started again")
            await asyncio.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
        stop.set()
        await asyncio.sleep(args.drain)  # the last pops land; callbacks due by now get dialled
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await cluster.stop()
        await fake.close()
    await report(
        args, world, await stored(args.database_url), await callbacks_planned(args.database_url), dialled(fake)
    )


async def report(
    args: argparse.Namespace,
    world: World,
    found: dict[str, int],
    planned: list[tuple[str, str, Any]],
    calls: dict[str, int],
) -> None:
    rings = list(world.rings.values())
    up = [r for r in rings if r.leader_up]
    down = [r for r in rings if not r.leader_up]
    delivered = [r for r in up if r.delivered is not None]
    late = sorted((r.delivered - r.sent) * 1000 for r in delivered if r.delivered is not None)
    print(
        f"\nsoak: {INSTANCES} instances on one PostgreSQL, {args.seconds:.0f} s, {args.operators} operators, "
        f"a call every {args.call_interval:g} s, a portal submission every {args.submit_interval:g} s"
    )
    print(
        f"pops: {len(delivered)} of {len(up)} rings delivered to the ringing operator while an instance held AMI "
        f"({len(up) - len(delivered)} missed); {len(down)} rings sent while none did (Asterisk had no listener)"
    )
    if late:
        print(
            f"  ring -> pop p50 {late[len(late) // 2]:.1f} ms, max {late[-1]:.1f} ms; by the instance holding the socket: "
            + ", ".join(f"#{k}: {n}" for k, n in sorted(world.pops_by_instance.items()))
        )
    lost = [k for k in world.acknowledged if k not in found]
    doubled = [k for k, n in found.items() if n > 1]
    unacked = [k for k in found if k not in world.acknowledged]
    print(
        f"portal: {len(world.acknowledged)} acknowledged, {sum(found.values())} stored; lost {len(lost)}, "
        f"doubled {len(doubled)}, stored without an answer {len(unacked)}"
    )
    kill_t = world.killed_at or 0.0
    print(
        f"requests failed: {len(world.failures)}"
        + (" (" + ", ".join(f"t={t:.1f} s {what}" for t, what in world.failures[:8]) + ")" if world.failures else "")
    )
    if world.killed_at is not None:
        after = [r.delivered for r in up if r.delivered is not None and r.sent >= world.killed_at]
        first_pop = min(after) - kill_t if after else float("nan")
        login = (world.login_after_kill - kill_t) if world.login_after_kill else float("nan")
        print(
            f"recovery: a new AMI login {login:.2f} s after the SIGKILL; the next pop delivered {first_pop:.2f} s after it"
        )
    ids = {cid for cid, _, _ in planned}
    doubled_cb = [cid for cid, n in calls.items() if n > 1]
    never = [cid for cid, state, _ in planned if cid not in calls]
    print(
        f"staff moves: {world.moves_ok} acknowledged; {len(world.done)} tickets moved to done -> "
        f"{len(planned)} callbacks planned, {len(ids & set(calls))} dialled, doubled {len(doubled_cb)}, "
        f"never dialled {len(never)}"
        + (f" (states: {sorted({s for c, s, _ in planned if c in never})})" if never else "")
    )


if __name__ == "__main__":
    random.seed(19)
    asyncio.run(main())
