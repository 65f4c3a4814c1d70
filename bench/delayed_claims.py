"""The claim's cost with many back-off-delayed jobs ahead of the first available one (issue #21 §4).

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...' .venv/bin/python bench/delayed_claims.py --delayed 100000 --calls 50

In a throwaway database: one song, then ``--calls`` available jobs at priority 0 claimed and
completed one by one (``claim_next_job`` filtered by model, as a GPU worker calls it) three ways:
with no delayed job; with ``--delayed`` jobs waiting out a back-off at priority 5 (ahead of every
available job in claim order), marked as worker.FailJob marks them (``Delayed = 1``, 0024: out of the
claim indexes); and with the same jobs left in the claim indexes (``Delayed = 0``, as every queued
job was before 0024-0027: what the claim read before the fix). Prints the median and p99 of
claim + complete for each, and writes them with the claim's plans (Babelfish:
``SET BABELFISH_STATISTICS PROFILE ON``) for the two delayed cases to
bench/results/delayed-claims-<date>.json. Asserts nothing: figures to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.long_lived import plans
from bench.scale import RESULTS, claim_of, execute, fresh_statistics, stats
from bench.sections import throwaway_database
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.testdb import detect_server_engine

DIGITS = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"


def add_delayed(settings: Settings, engine: str, song: uuid.UUID, model: str, count: int, marked: bool) -> None:
    """``count`` queued jobs at priority 5 available tomorrow, in set-based batches of up to 10,000."""
    for start in range(0, count, 10_000):
        n = min(10_000, count - start)
        execute(
            settings,
            "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Priority, AvailableAt, Delayed) "
            "SELECT TOP (?) ?, ?, 'separation', 5, DATEADD(DAY, 1, SYSUTCDATETIME()), ? "
            f"FROM {DIGITS} AS a (n) CROSS JOIN {DIGITS} AS b (n) CROSS JOIN {DIGITS} AS c (n) CROSS JOIN {DIGITS} AS d (n);",
            n, str(song), model, 1 if marked else 0,
        )
    fresh_statistics(settings, engine)  # as a DBA would have after a load (Babelfish: autovacuum's)


def claims(db: SongsDatabase, song: uuid.UUID, model: str, calls: int) -> dict[str, float]:
    db.enqueue_jobs(song, [(model, "separation", 0)] * calls)
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        job = db.claim_next_job("bench-delayed", model_names=[model])
        db.complete_job(*claim_of(job))
        timings.append((time.perf_counter() - started) * 1000)
    return stats(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--delayed", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if not dsn:
        parser.error("set SONGSDB_TEST_DSN to an ODBC connection string for a login that may create databases")
    server = Settings(connection_string=dsn).with_database("master")
    engine = detect_server_engine(server)
    out: dict[str, Any] = {
        "bench": "delayed_claims",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "driver": dsn.split(";", 1)[0],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "delayed": args.delayed,
        "calls": args.calls,
        "plans": {},
    }
    with throwaway_database(server, "delayed") as settings, SongsDatabase(settings, pool_size=1) as db:
        song = db.create_song(f"d-{uuid.uuid4()}", "a.mp3")
        cases = (("no delayed job", None), ("delayed, marked (the fix)", True), ("delayed, in the claim index (before)", False))
        for label, marked in cases:
            model = f"d-{uuid.uuid4().hex[:8]}"
            if marked is not None:
                add_delayed(settings, engine, song, model, args.delayed, marked)
            out[label] = claims(db, song, model, args.calls)
            if marked is not None and engine == "babelfish":
                db.enqueue_jobs(song, [(model, "separation", 0)])
                out["plans"][label] = plans(
                    db, "worker.ClaimNextJob", WorkerId="bench-plans", ModelNames=json.dumps([model]), LeaseSeconds=300
                )
            figures = out[label]
            print(f"  {label:<40} median {figures['median_ms']:8.2f} ms  p99 {figures['p99_ms']:8.2f} ms", flush=True)
    base = out["no delayed job"]["median_ms"]
    for label in ("delayed, marked (the fix)", "delayed, in the claim index (before)"):
        out[f"{label} / none"] = out[label]["median_ms"] / base
        print(f"  {label}: {out[f'{label} / none']:.2f}x the claim with no delayed job")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"delayed-claims-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
