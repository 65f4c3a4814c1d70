"""The console's and the metrics scrape's procedures at 10k and 1M jobs, with their plans (issue #20: "fast at a million jobs").

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...;DATABASE=master;' .venv/bin/python bench/console_scale.py --sizes 10000 1000000

For each size, songs, jobs (one per song; finished over the last 30 days, 5 % queued, 1 % of the
finished ones failed with an error and a stack) and audit rows are bulk-loaded with set-based
INSERTs into a throwaway database, statistics are brought up to date (bench/scale.py), and each ops
procedure the console and /metrics call is timed (median and p99). On Babelfish the plan of each
call at the largest size is captured (BABELFISH_STATISTICS PROFILE) so a DBA can read which index
served it. Prints a table and writes bench/results/console-scale-<UTC>.json. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.long_lived import plans
from bench.scale import NUMBERS, count, execute, fresh_statistics, stats
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.migrator import Migrator
from songsdb.testdb import drop_database

RESULTS = Path(__file__).parent / "results"
SPREAD = 30 * 86400  # seconds over which the loaded jobs were created and finished


def load(settings: Settings, target: int) -> None:
    """Songs, jobs and audit rows up to ``target`` each, in chunks of at most 100,000 rows."""
    while (have := count(settings, "Songs")) < target:
        n = min(100_000, target - have)
        execute(
            settings,
            "INSERT INTO dbo.Songs (FileId, FileName, Title, Artist, Status, UploadedAt, LastModified) "
            "SELECT TOP (?) CONCAT(N'bulk-', CONVERT(nvarchar(36), NEWID())), N'a.mp3', "
            "CONCAT(N'Title ', ABS(CHECKSUM(NEWID())) % 100000), N'artist', 'completed', "
            f"DATEADD(SECOND, -(ABS(CHECKSUM(NEWID())) % {SPREAD}), SYSUTCDATETIME()), SYSUTCDATETIME() "
            f"FROM {NUMBERS};",
            n,
        )
        execute(
            settings,
            "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, Progress, CreatedAt, StartedAt, "
            "CompletedAt, RequestId, ErrorMessage, ErrorStack) "
            "SELECT s.Id, CONCAT(N'model-', ABS(CHECKSUM(s.Id)) % 4), "
            "CASE ABS(CHECKSUM(s.Id)) % 3 WHEN 0 THEN 'separation' WHEN 1 THEN 'transcription' ELSE 'chroma' END, "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 20 = 0 THEN 'queued' WHEN ABS(CHECKSUM(s.Id)) % 100 = 1 THEN 'failed' "
            "ELSE 'completed' END, 0, s.UploadedAt, "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 20 = 0 THEN NULL ELSE DATEADD(SECOND, 2, s.UploadedAt) END, "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 20 = 0 THEN NULL ELSE DATEADD(SECOND, 60, s.UploadedAt) END, "
            "CONCAT(N'bulk-req-', ABS(CHECKSUM(s.Id)) % 100000), "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 100 = 1 THEN N'CUDA out of memory' END, "
            "CASE WHEN ABS(CHECKSUM(s.Id)) % 100 = 1 THEN N'Traceback (most recent call last): ...' END "
            "FROM dbo.Songs AS s WHERE NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = s.Id);",
        )
        execute(
            settings,
            "INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, [Timestamp]) "
            "SELECT TOP (?) CONCAT(N'bulk-req-', ABS(CHECKSUM(NEWID())) % 100000), 'job', "
            "CONVERT(nvarchar(36), NEWID()), 'status_changed', SYSUTCDATETIME() "
            f"FROM {NUMBERS};",
            n,
        )


def calls(settings: Settings) -> dict[str, tuple[str, dict[str, Any], Callable[[SongsDatabase], Any]]]:
    """Each console call: its procedure, arguments as the plan capture sends them, and the client call."""
    job_id = str(execute(settings, "SELECT TOP (1) JobId FROM dbo.ProcessingJobs WHERE Status = 'failed';")[0][0])
    file_id = execute(settings, "SELECT TOP (1) FileId FROM dbo.Songs;")[0][0]
    return {
        "queue_metrics": ("ops.GetQueueMetrics", {"WindowSeconds": 300}, lambda db: db.queue_metrics()),
        "throughput_24h": ("ops.GetThroughput", {"Minutes": 1440}, lambda db: db.throughput(minutes=1440)),
        "failed_jobs": ("ops.ListFailedJobs", {"Limit": 50}, lambda db: db.failed_jobs()),
        "failed_jobs_page_2": ("ops.ListFailedJobs", {"AfterJobId": job_id, "Limit": 50},
                               lambda db: db.failed_jobs(after_job_id=job_id)),
        "failed_jobs_by_model": ("ops.ListFailedJobs", {"ModelName": "model-1", "Limit": 50},
                                 lambda db: db.failed_jobs(model_name="model-1")),
        "failed_jobs_by_type": ("ops.ListFailedJobs", {"JobType": "chroma", "Limit": 50},
                                lambda db: db.failed_jobs(job_type="chroma")),
        "held_jobs": ("ops.ListHeldJobs", {"Limit": 100}, lambda db: db.held_jobs()),
        "request_trail": ("ops.GetRequestTrail", {"RequestId": "bulk-req-42", "Limit": 50},
                          lambda db: db.request_trail("bulk-req-42", limit=50)),
        "job_detail": ("ops.GetJobDetail", {"JobId": job_id}, lambda db: db.job_detail(job_id)),
        "find_songs_by_title": ("ops.FindSongs", {"Title": "Title 4242", "Limit": 50},
                                lambda db: db.find_songs(title="Title 4242")),
        "find_songs_by_file_id": ("ops.FindSongs", {"FileId": file_id}, lambda db: db.find_songs(file_id=file_id)),
    }


def timed(db: SongsDatabase, call: Callable[[SongsDatabase], Any], n: int) -> dict[str, float]:
    call(db)  # warm-up
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call(db)
        samples.append((time.perf_counter() - started) * 1000)
    return stats(samples)


def run(server: Settings, sizes: list[int], n: int, keep: bool = False) -> dict[str, Any]:
    name = f"songsdb_console_{uuid.uuid4().hex[:8]}"
    settings = server.with_database(name)
    engine = Migrator(settings).migrate(create_database=True).engine
    out: dict[str, Any] = {
        "engine": engine,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "driver": server.odbc().split(";")[0],
        "sizes": {},
        "plans": {},
    }
    try:
        with SongsDatabase(settings, role="ops", pool_size=1) as db:
            for size in sorted(sizes):
                started = time.perf_counter()
                load(settings, size)
                fresh_statistics(settings, engine)
                print(f"loaded {size:,} songs, jobs and audit rows in {time.perf_counter() - started:.0f} s", flush=True)
                cases = calls(settings)
                out["sizes"][str(size)] = {label: timed(db, call, n) for label, (_, _, call) in cases.items()}
                print(json.dumps({str(size): out["sizes"][str(size)]}), flush=True)
            if engine == "babelfish":
                out["plans"] = {label: plans(db, procedure, **params) for label, (procedure, params, _) in calls(settings).items()}
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            drop_database(server, name, engine)
    sizes_seen = sorted(out["sizes"], key=int)
    print(f"\n{'call':<24}" + "".join(f"{s + ' jobs':>24}" for s in sizes_seen) + f"{'ratio':>8}")
    for label in out["sizes"][sizes_seen[0]]:
        cells = [out["sizes"][s][label] for s in sizes_seen]
        ratio = cells[-1]["median_ms"] / cells[0]["median_ms"]
        print(f"{label:<24}" + "".join(f"{c['median_ms']:10.2f} / {c['p99_ms']:9.2f} ms" for c in cells) + f"{ratio:7.2f}x")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--calls", type=int, default=50, help="timed calls per procedure and size")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()
    server = Settings(connection_string=os.environ["SONGSDB_TEST_DSN"]).with_database("master")
    out = run(server, args.sizes, args.calls, keep=args.keep)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"console-scale-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
