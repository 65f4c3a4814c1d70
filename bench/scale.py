"""Reads, claims and cleanup at 10k and 1M rows on a real engine (issue: flat at millions of rows).

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...' .venv/bin/python bench/scale.py --sizes 10000 1000000

For each size the tables are bulk-loaded with set-based INSERTs (not through the client) to that
many songs, jobs (one per song; 5 % queued, the rest completed) and audit rows, their statistics
are brought up to date (UPDATE STATISTICS on SQL Server; on Babelfish, which lacks it, the bench
waits for autovacuum to analyze them), then each lookup
and the claim are timed (median and p99). Last, the cleanup deletes the old rows while a thread
calls create_song, whose p99 is compared with an idle run; the cleanup runs at the smallest
size too (on its own rows, before the lookups), so its rate in rows/s shows whether it is linear. Prints a table, writes
bench/results/scale-<date>.json. Asserts nothing: these are figures to read, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.migrator import Migrator, drain
from songsdb.models import Job
from songsdb.testdb import drop_database

DIGITS = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"
NUMBERS = " CROSS JOIN ".join(f"{DIGITS} AS d{i} (n)" for i in range(7))  # up to 10,000,000 rows
RESULTS = Path(__file__).parent / "results"


def execute(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import pyodbc

    conn = pyodbc.connect(settings.odbc(), autocommit=True, timeout=30)
    try:
        cursor = conn.cursor()
        cursor.execute(sql, *params)
        return drain(cursor)
    finally:
        conn.close()


def count(settings: Settings, table: str) -> int:
    return int(execute(settings, f"SELECT COUNT(*) FROM dbo.{table};")[0][0])


def load(settings: Settings, target: int, days_old: int = 0) -> None:
    """Top songs, jobs and audit rows up to ``target`` each, in chunks of at most 100,000 rows."""
    while (have := count(settings, "Songs")) < target:
        n = min(100_000, target - have)
        execute(
            settings,
            "INSERT INTO dbo.Songs (FileId, FileName, Title, Artist, Status, UploadedAt, LastModified) "
            "SELECT TOP (?) CONCAT(N'bulk-', CONVERT(nvarchar(36), NEWID())), N'a.mp3', N'Bulk', "
            "CONCAT(N'artist-', ABS(CHECKSUM(NEWID())) % 1000), 'completed', "
            "DATEADD(DAY, -?, SYSUTCDATETIME()), DATEADD(DAY, -?, SYSUTCDATETIME()) "
            f"FROM {NUMBERS};",
            n, days_old, days_old,
        )
        execute(
            settings,
            "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, Progress, CreatedAt, CompletedAt, RequestId) "
            "SELECT s.Id, N'bulk-model', 'separation', "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 20 = 0 THEN 'queued' ELSE 'completed' END, 0, s.UploadedAt, "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 20 = 0 THEN NULL ELSE s.UploadedAt END, "
            "CONCAT(N'bulk-req-', ABS(CHECKSUM(s.Id)) % 100000) "
            "FROM dbo.Songs AS s WHERE NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = s.Id);",
        )
        execute(
            settings,
            "INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, [Timestamp]) "
            "SELECT TOP (?) CONCAT(N'bulk-req-', ABS(CHECKSUM(NEWID())) % 100000), 'song', N'x', 'created', "
            f"DATEADD(DAY, -?, SYSUTCDATETIME()) FROM {NUMBERS};",
            n, days_old + 400 if days_old else 0,
        )


TABLES = ("Songs", "ProcessingJobs", "AuditLog")


def fresh_statistics(settings: Settings, engine: str, timeout: float = 600) -> None:
    """Statistics that describe the loaded rows, as a DBA would have after a bulk load.

    SQL Server: UPDATE STATISTICS. Babelfish does not support it; its tables are analyzed by
    PostgreSQL's autovacuum, so wait until that has seen (nearly) every row it loaded.
    """
    if engine == "sqlserver":
        for table in TABLES:
            execute(settings, f"UPDATE STATISTICS dbo.{table};")
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stale = execute(
            settings,
            "SELECT COUNT(*) FROM pg_catalog.pg_stat_user_tables "
            "WHERE schemaname = CONCAT(LOWER(DB_NAME()), '_dbo') AND relname IN ('songs', 'processingjobs', 'auditlog') "
            "AND n_mod_since_analyze > n_live_tup / 10 + 1000;",
        )[0][0]
        if stale == 0:
            return
        time.sleep(5)
    print(f"warning: autovacuum had not analyzed the tables after {timeout:.0f} s", flush=True)


def stats(samples_ms: list[float]) -> dict[str, float]:
    """Median and p99 of timings in milliseconds, and how many there were."""
    ordered = sorted(samples_ms)
    return {"median_ms": statistics.median(ordered), "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)], "n": len(ordered)}


def claim_of(job: Job | None) -> tuple[uuid.UUID, uuid.UUID]:
    """The id and claim token of a job claim_next_job returned, for complete_job; a clear error for anything else."""
    if job is None:
        raise RuntimeError("claim_next_job returned no job where the bench had queued one")
    if job.claim_token is None:
        raise RuntimeError(f"job {job.id} has no claim_token: only a job claim_next_job returned can be completed")
    return job.id, job.claim_token


def timed(call: Callable[[int], Any], n: int) -> dict[str, float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return stats(samples)


def lookups(db: SongsDatabase, settings: Settings, n: int) -> dict[str, dict[str, float]]:
    song_id, file_id = execute(settings, "SELECT TOP (1) Id, FileId FROM dbo.Songs ORDER BY UploadedAt DESC;")[0]
    job_id = execute(settings, "SELECT TOP (1) JobId FROM dbo.ProcessingJobs WHERE Status = 'completed';")[0][0]
    song_uuid, job_uuid = uuid.UUID(str(song_id)), uuid.UUID(str(job_id))
    model = f"scale-{uuid.uuid4().hex[:8]}"
    db.enqueue_jobs(song_uuid, [(model, "separation")] * 100)  # the claims' own jobs, behind the bulk backlog

    def claim_and_complete(i: int) -> None:
        job = db.claim_next_job("bench", model_names=[model])
        if job is None:
            db.enqueue_jobs(song_uuid, [(model, "separation")] * 100)
            job = db.claim_next_job("bench", model_names=[model])
        db.complete_job(*claim_of(job))

    return {
        "get_song": timed(lambda i: db.get_song(file_id), n),
        "get_song_by_id": timed(lambda i: db.get_song_by_id(song_uuid), n),
        "get_job": timed(lambda i: db.get_job(job_uuid), n),
        "list_jobs(status=queued)": timed(lambda i: db.list_jobs(status="queued", limit=50), n),
        "get_audit_trail(request_id)": timed(lambda i: db.get_audit_trail(request_id=f"bulk-req-{i % 1000}"), n),
        "job_summary()": timed(lambda i: db.job_summary(limit=50), n),
        "claim_next_job + complete_job": timed(claim_and_complete, n),
    }


def age_everything(settings: Settings) -> None:
    """Make every row old enough for the cleanup (jobs finished 60 days ago, audit rows 400)."""
    execute(settings, "UPDATE dbo.ProcessingJobs SET Status = 'completed', CompletedAt = DATEADD(DAY, -60, SYSUTCDATETIME()) "
            "WHERE Status IN ('completed', 'queued');")
    execute(settings, "UPDATE dbo.Songs SET LastModified = DATEADD(DAY, -60, SYSUTCDATETIME());")
    execute(settings, "UPDATE dbo.AuditLog SET [Timestamp] = DATEADD(DAY, -400, SYSUTCDATETIME());")


def cleanup_beside_writes(db: SongsDatabase, settings: Settings, n: int) -> dict[str, Any]:
    """sp_CleanupOldData on every old row while another connection calls create_song."""
    idle = timed(lambda i: db.create_song(f"idle-{uuid.uuid4()}", "a.mp3"), n)
    age_everything(settings)
    busy: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        with SongsDatabase(settings) as other:
            while not stop.is_set():
                started = time.perf_counter()
                other.create_song(f"busy-{uuid.uuid4()}", "a.mp3")
                busy.append((time.perf_counter() - started) * 1000)

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.perf_counter()
    counts = execute(settings, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @AuditDaysToKeep = 90;")
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    busy.sort()
    deleted = {str(t): int(c) for t, c, _ in counts}
    return {
        "rows_deleted": deleted,
        "seconds": elapsed,
        "rows_per_second": sum(deleted.values()) / elapsed,
        "create_song_idle": idle,
        "create_song_during_cleanup": {
            "calls": len(busy),
            "median_ms": statistics.median(busy) if busy else None,
            "p99_ms": busy[max(0, int(len(busy) * 0.99) - 1)] if busy else None,
        },
    }


def run(server: Settings, sizes: list[int], calls: int, cleanup: bool = True, keep: bool = False) -> dict[str, Any]:
    """Load each size in turn into one throwaway database and time everything; returns the figures."""
    name = f"songsdb_scale_{uuid.uuid4().hex[:8]}"
    settings = server.with_database(name)
    engine = Migrator(settings).migrate(create_database=True).engine  # a new, throwaway database
    out: dict[str, Any] = {
        "engine": engine,
        "server": execute(settings, "SELECT @@VERSION;")[0][0].splitlines()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "driver": server.odbc().split(";")[0],
        "sizes": {},
    }
    try:
        with SongsDatabase(settings) as db:
            if cleanup:
                # the cleanup at the smallest size first, on its own rows (it deletes them all), so its
                # rate can be compared with the one at the largest size: linear means the same rows/s
                load(settings, min(sizes))
                fresh_statistics(settings, engine)
                out["cleanup"] = {str(min(sizes)): cleanup_beside_writes(db, settings, calls)}
                print(json.dumps({"cleanup": out["cleanup"]}), flush=True)
            for size in sorted(sizes):
                started = time.perf_counter()
                load(settings, size)
                fresh_statistics(settings, engine)
                print(f"loaded {size:,} songs, jobs and audit rows in {time.perf_counter() - started:.0f} s", flush=True)
                out["sizes"][str(size)] = lookups(db, settings, calls)
                print(json.dumps({str(size): out["sizes"][str(size)]}), flush=True)
            if cleanup and len(sizes) > 1:
                out["cleanup"][str(max(sizes))] = cleanup_beside_writes(db, settings, calls)
    finally:
        if not keep:
            drop_database(server, name, engine)
        else:
            print(f"kept database {name}")
    report(out)
    return out


def report(out: dict[str, Any]) -> None:
    sizes = sorted(out["sizes"], key=int)
    print(f"\n{'operation':<32}" + "".join(f"{s + ' rows':>22}" for s in sizes) + f"{'ratio':>8}")
    for op in out["sizes"][sizes[0]]:
        cells = [out["sizes"][s][op] for s in sizes]
        ratio = cells[-1]["median_ms"] / cells[0]["median_ms"]
        print(f"{op:<32}" + "".join(f"{c['median_ms']:9.2f} / {c['p99_ms']:8.2f} ms" for c in cells) + f"{ratio:7.2f}x")
    for size, c in out.get("cleanup", {}).items():
        busy = c["create_song_during_cleanup"]["p99_ms"]
        print(
            f"\ncleanup at {int(size):,}: {sum(c['rows_deleted'].values()):,} rows in {c['seconds']:.1f} s "
            f"({c['rows_per_second']:,.0f} rows/s); create_song p99 idle {c['create_song_idle']['p99_ms']:.2f} ms, "
            f"during cleanup {busy if busy is None else round(busy, 2)} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation and size")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--no-cleanup", action="store_true", help="skip the cleanup measurement (it is the long part)")
    args = parser.parse_args()
    server = Settings(connection_string=os.environ["SONGSDB_TEST_DSN"]).with_database("master")
    out = run(server, args.sizes, args.calls, cleanup=not args.no_cleanup, keep=args.keep)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"scale-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
