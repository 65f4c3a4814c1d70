"""What songsdb.aio adds per call: AsyncSongsDatabase against SongsDatabase on the same connection.

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...' .venv/bin/python bench/aio_overhead.py [--calls 300]

In a throwaway database of its own, one SongsDatabase with one pooled connection and its async face
(``AsyncSongsDatabase.wrapping``, the same pool, so both use the same warmed-up session) make the same
calls in alternating pairs, from one event loop, one call at a time: ``get_song`` (a read),
``create_song`` (a write) and a transaction of two ``create_song`` (the async one on a thread of its
own, made for it). For each it prints the median and p99 of both and the median of the pairs'
differences: what the hop to a worker thread and back costs per call. Writes
bench/results/aio-overhead-<UTC>.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import RESULTS
from songsdb.aio import AsyncSongsDatabase
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.migrator import Migrator
from songsdb.testdb import detect_server_engine, drop_database


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
    }


async def pairs(sync: Callable[[int], Any], aio: Callable[[int], Awaitable[Any]], calls: int) -> dict[str, Any]:
    """``calls`` pairs, the order alternating: each side's per-call times and the pairs' differences."""
    sync_ms: list[float] = []
    aio_ms: list[float] = []
    for i in range(calls):
        for side in ((0, 1) if i % 2 else (1, 0)):
            started = time.perf_counter()
            if side == 0:
                sync(i)
            else:
                await aio(i)
            (sync_ms if side == 0 else aio_ms).append((time.perf_counter() - started) * 1000)
    differences_us = [(a - s) * 1000 for s, a in zip(sync_ms, aio_ms)]
    return {
        "sync": summary(sync_ms),
        "async": summary(aio_ms),
        "added_us_median": round(statistics.median(differences_us), 1),
        "ratio_of_medians": round(statistics.median(aio_ms) / statistics.median(sync_ms), 3),
    }


async def measure(settings: Settings, calls: int) -> dict[str, Any]:
    with SongsDatabase(settings, pool_size=1, max_idle=3600, max_lifetime=3600) as db:
        adb = AsyncSongsDatabase.wrapping(db)
        run = uuid.uuid4().hex[:8]
        db.create_song(f"seed-{run}", "seed.mp3")
        for _ in range(3):  # warm the session (Babelfish compiles each procedure once per session) and the thread
            db.get_song(f"seed-{run}")
            await adb.get_song(f"seed-{run}")

        def sync_pair(i: int) -> None:
            with db.transaction() as tx:
                tx.create_song(f"st-{run}-{i}-a", "a.mp3")
                tx.create_song(f"st-{run}-{i}-b", "b.mp3")

        async def async_pair(i: int) -> None:
            async with adb.transaction() as tx:
                await tx.create_song(f"at-{run}-{i}-a", "a.mp3")
                await tx.create_song(f"at-{run}-{i}-b", "b.mp3")

        try:
            return {
                "get_song": await pairs(lambda i: db.get_song(f"seed-{run}"), lambda i: adb.get_song(f"seed-{run}"), calls),
                "create_song": await pairs(
                    lambda i: db.create_song(f"s-{run}-{i}", "a.mp3"), lambda i: adb.create_song(f"a-{run}-{i}", "a.mp3"), calls
                ),
                "transaction_of_two_create_song": await pairs(sync_pair, async_pair, max(calls // 3, 10)),
            }
        finally:
            await adb.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if not dsn:
        parser.error("set SONGSDB_TEST_DSN to an ODBC connection string for a login that may create databases")
    server = Settings(connection_string=dsn).with_database("master")
    engine = detect_server_engine(server)
    settings = server.with_database(f"songsdb_bench_aio_{os.getpid()}_{time.monotonic_ns() % 10**6}")
    Migrator(settings).create_database()
    try:
        Migrator(settings).migrate()
        figures = asyncio.run(measure(settings, args.calls))
    finally:
        drop_database(server, settings.target_database, engine)
    print(f"{'call':34} {'sync median / p99':>22} {'async median / p99':>22} {'added':>10} {'ratio':>7}")
    for name, f in figures.items():
        s, a = f["sync"], f["async"]
        print(
            f"{name:34} {s['median_ms']:9.3f} / {s['p99_ms']:8.3f} ms {a['median_ms']:9.3f} / {a['p99_ms']:8.3f} ms"
            f" {f['added_us_median']:7.1f} µs {f['ratio_of_medians']:7.3f}"
        )
    out = {
        "bench": "aio_overhead",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "driver": dsn.split(";", 1)[0],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "calls": args.calls,
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"aio-overhead-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
