"""The hostile review's resource attacks against a real server process, with /healthz timed alongside.

    .venv/bin/python -m bench.security_bench                      # this checkout
    .venv/bin/python -m bench.security_bench --code /tmp/old-src  # another source tree (e.g. `git archive`)
    .venv/bin/python -m bench.security_bench --review --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/cc_review
                                                  # the whole hostile review (bench/hostile_review.py)

For each attack the script sends the attack and, at the same time, /healthz requests one after
another; it prints the attack's answer, how long it took, the slowest /healthz while it ran
(what staff pages, WebSockets and the AMI/AGI readers would have waited), and the server's
resident memory (VmRSS, and the peak VmHWM) before and after. Figures, not assertions: the
tests in tests/security/ assert the structural facts.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import struct
import sys
import time
import zlib
from pathlib import Path

import aiohttp

from bench.server import ServerProcess

WORKDIR = Path("/tmp/callcenter-security-bench")
BOUNDARY = "hostile0boundary"


def many_parts(count: int) -> bytes:
    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n'.encode()
    return part * count + f"--{BOUNDARY}--\r\n".encode()


def review_png(side: int = 6320) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\x80\x40\x20\xff" * side
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def memory(pid: int) -> str:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return f"RSS {fields['VmRSS']} MB (peak {fields['VmHWM']} MB)"


async def with_health_probe(http: aiohttp.ClientSession, base: str, attack: asyncio.Future) -> float:
    """The slowest /healthz answer while ``attack`` runs (one request after another)."""
    slowest = 0.0
    while not attack.done():
        started = time.perf_counter()
        async with http.get(base + "/healthz") as resp:
            await resp.read()
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


async def run_attack(http: aiohttp.ClientSession, server: ServerProcess, title: str, send) -> None:
    assert server.process is not None
    before = memory(server.process.pid)
    started = time.perf_counter()
    attack = asyncio.ensure_future(send())
    await asyncio.sleep(0)  # let the attack start first
    slowest = await with_health_probe(http, server.base, attack)
    statuses = await attack
    took = time.perf_counter() - started
    print(
        f"{title}\n  answer {statuses} in {took:.2f} s; slowest /healthz meanwhile {slowest * 1000:.0f} ms; "
        f"memory before {before}, after {memory(server.process.pid)}"
    )


async def main(code: Path | None) -> None:
    env = {
        "CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{WORKDIR}/bench.db",
        "CALLCENTER_DATA_DIR": str(WORKDIR / "data"),
        "CALLCENTER_AGI_PORT": "0",
        "CALLCENTER_SECRET_KEY": "bench",
        "CALLCENTER_LOG_LEVEL": "WARNING",
    }
    if code is not None:
        env["PYTHONPATH"] = str(code)
    if (WORKDIR / "bench.db").exists():
        (WORKDIR / "bench.db").unlink()
    print(f"code: {code or Path.cwd()}")
    workdir = WORKDIR if code is None else WORKDIR / "other"
    if code is not None:
        os.chdir(code)
    async with ServerProcess(["-m", "callcenter.cli", "serve"], env, workdir) as server:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as http:

            async def post_parts(count: int) -> int:
                async with http.post(
                    server.base + "/",
                    data=io.BytesIO(many_parts(count)),
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                ) as resp:
                    await resp.read()
                    return resp.status

            png = review_png()

            async def post_pngs(count: int) -> list[int]:
                async def one() -> int:
                    form = aiohttp.FormData()
                    form.add_field("photo", io.BytesIO(png), filename="screen.png", content_type="image/png")
                    async with http.post(server.base + "/portal/photos", data=form) as resp:
                        await resp.read()
                        return resp.status

                return list(await asyncio.gather(*(one() for _ in range(count))))

            await run_attack(http, server, "POST / with 100,000 empty parts (5.6 MB)", lambda: post_parts(100_000))
            await run_attack(http, server, "POST / with 300,000 empty parts (16.8 MB)", lambda: post_parts(300_000))
            await run_attack(
                http,
                server,
                f"3 x {len(png) // 1024} KB 6320x6320 RGBA PNG at once to /portal/photos",
                lambda: post_pngs(3),
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, help="run the server from this source tree instead")
    parser.add_argument("--review", action="store_true", help="rerun the whole hostile review instead (see below)")
    parser.add_argument(
        "--database-url",
        default=f"sqlite+aiosqlite:///{WORKDIR}/review.db",
        help="--review: the database (PostgreSQL gets connection faults during the load)",
    )
    parser.add_argument("--load-seconds", type=float, default=30.0, help="--review: length of the mixed load")
    parser.add_argument("--fault-every", type=float, default=5.0, help="--review: seconds between PostgreSQL faults")
    parser.add_argument("--agi-waves", type=int, default=8, help="--review: waves of 54 hostile FastAGI connections")
    args = parser.parse_args()
    if args.review:
        from bench import hostile_review

        print(hostile_review.__doc__)
        sys.exit(
            hostile_review.run(
                args.database_url, WORKDIR / "review", args.load_seconds, args.fault_every, args.agi_waves
            )
        )
    sys.exit(asyncio.run(main(args.code.resolve() if args.code else None)))
