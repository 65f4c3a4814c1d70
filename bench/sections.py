"""The sections of `python -m bench`: each measures one performance promise on a real engine.

Each takes the server's admin Settings (pointed at a throwaway database of its own) and returns a
dict that goes into the JSON as it is; each prints its own lines as it goes. Nothing is asserted:
these are figures to read, not tests.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.migrator import Migrator, drain
from songsdb.statements import statement
from songsdb.testdb import drop_database

from bench.scale import claim_of, execute, stats


@contextmanager
def throwaway_database(server: Settings, label: str) -> Iterator[Settings]:
    """A new, migrated database for one section, dropped afterwards."""
    name = f"songsdb_bench_{label}_{uuid.uuid4().hex[:6]}"
    settings = server.with_database(name)
    engine = Migrator(settings).migrate(create_database=True).engine  # a new, throwaway database
    try:
        yield settings
    finally:
        drop_database(server, name, engine)


# ----- 1. round trips ------------------------------------------------------------------------------
def round_trips(server: Settings) -> dict[str, Any]:
    """TDS requests per public method, counted by a loopback proxy (the integration test's)."""
    from tests.integration.tds_proxy import counting_proxy
    from tests.integration.test_round_trips import CALLS, endpoint, through

    counts: dict[str, int] = {}
    with throwaway_database(server, "rt") as settings:
        host, port = endpoint(settings)
        with counting_proxy(host, port) as (proxy_port, counter), SongsDatabase(through(settings, proxy_port), pool_size=1) as db:

            def count(name: str, call: Callable[[], Any]) -> Any:
                call()  # warm-up: connect and prepare
                counter.reset()
                result = call()
                counts[name] = counter.requests()
                return result

            for name, call in CALLS.items():
                count(name, partial(call, db, 0))
            model = f"rt-{uuid.uuid4().hex[:6]}"
            song = db.create_song(f"rt-{uuid.uuid4()}", "a.mp3")
            count("create_job", lambda: db.create_job(song, model, "separation"))
            count("enqueue_jobs", lambda: db.enqueue_jobs(song, [(model, "separation")] * 3))
            job = count("claim_next_job", lambda: db.claim_next_job("rt", model_names=[model]))
            count("heartbeat", lambda: db.heartbeat(job.id, job.claim_token, progress=5))
            other = claim_of(db.claim_next_job("rt", model_names=[model]))
            counter.reset()
            db.complete_job(*other, tracks=[{"stem_name": "v", "file_path": "/v"}])
            counts["complete_job"] = counter.requests()
            count("import_songs (3 rows)", lambda: db.import_songs([{"file_id": f"rt-{uuid.uuid4()}", "filename": "a"} for _ in range(3)]))
            count(
                "import_songs (1000 rows, one chunk)",
                lambda: db.import_songs([{"file_id": f"rt-{uuid.uuid4()}", "filename": "a.mp3"} for _ in range(1000)]),
            )
    for name, n in counts.items():
        print(f"  {name:<40} {n} request{'s' if n != 1 else ''}")
    return counts


# ----- 2. latency beside raw pyodbc ------------------------------------------------------------------
def latency(server: Settings, calls: int) -> dict[str, Any]:
    """Median and p99 of songsdb calls and of raw pyodbc running the same text on the same connection, interleaved."""
    out: dict[str, Any] = {}
    with throwaway_database(server, "lat") as settings, SongsDatabase(settings, pool_size=1) as db:
        style = db._driver.style
        song = db.create_song(f"lat-{uuid.uuid4()}", "a.mp3", title="t")
        created = db.get_song_by_id(song)
        if created is None:
            raise RuntimeError(f"song {song} was created but get_song_by_id does not find it")
        file_id = created.file_id
        web_job = db.create_job(song, "lat", "separation")
        db.update_job_status(web_job, "running", progress=1)
        model = f"lat-{uuid.uuid4().hex[:6]}"
        for _ in range(2 * calls // 100 + 2):
            db.enqueue_jobs(song, [(model, "separation")] * 100)

        raw_cursors: dict[str, Any] = {}  # one kept cursor per text, as raw pyodbc code would keep it

        def raw(procedure: str, **params: Any) -> list[tuple[Any, ...]]:
            """The same call text songsdb sends, on songsdb's own (only) connection, without songsdb."""
            sql, values = statement(procedure, params, style)
            conn = db._pool.acquire()
            try:
                cursor = raw_cursors.get(sql)
                if cursor is None:
                    cursor = raw_cursors[sql] = conn.raw.cursor()
                cursor.execute(sql, values)
                return drain(cursor)
            finally:
                db._pool.release(conn)

        def raw_claim_and_complete() -> None:
            rows = raw("worker.ClaimNextJob", WorkerId="raw", JobTypes=None, ModelNames=json.dumps([model]))
            job_id, token = rows[-1][0], rows[-1][20]
            raw("worker.CompleteJob", JobId=str(job_id), ClaimToken=str(token))

        def ours_claim_and_complete() -> None:
            db.complete_job(*claim_of(db.claim_next_job("ours", model_names=[model])))

        cases: dict[str, tuple[Callable[[int], Any], Callable[[int], Any]]] = {
            "get_song": (lambda i: db.get_song(file_id), lambda i: raw("api.GetSongByFileId", FileId=file_id)),
            "create_song": (
                lambda i: db.create_song(f"lat-o-{uuid.uuid4()}", "a.mp3"),
                lambda i: raw("api.CreateSong", FileId=f"lat-r-{uuid.uuid4()}", FileName="a.mp3"),
            ),
            "update_job_status": (
                lambda i: db.update_job_status(web_job, "running", progress=i % 100),
                lambda i: raw("api.UpdateJobStatus", JobId=str(web_job), Status="running", Progress=i % 100),
            ),
            "claim_next_job + complete_job": (lambda i: ours_claim_and_complete(), lambda i: raw_claim_and_complete()),
        }
        for name, (ours, theirs) in cases.items():
            ours(0), theirs(0)  # warm-up: prepared statements on both sides
            a: list[float] = []
            b: list[float] = []
            for i in range(calls):
                for fn, samples in ((ours, a), (theirs, b)) if i % 2 == 0 else ((theirs, b), (ours, a)):
                    started = time.perf_counter()
                    fn(i)
                    samples.append((time.perf_counter() - started) * 1000)
            out[name] = {"songsdb": stats(a), "raw_pyodbc": stats(b), "ratio": statistics.median(a) / statistics.median(b)}
            print(
                f"  {name:<32} songsdb {out[name]['songsdb']['median_ms']:7.3f} / {out[name]['songsdb']['p99_ms']:7.3f} ms"
                f"   raw {out[name]['raw_pyodbc']['median_ms']:7.3f} / {out[name]['raw_pyodbc']['p99_ms']:7.3f} ms"
                f"   ratio {out[name]['ratio']:.3f}"
            )
    return out


# ----- 3. bulk import ---------------------------------------------------------------------------------
def bulk(server: Settings, rows: int) -> dict[str, Any]:
    """import_songs against one create_song per song and against fast_executemany of plain INSERTs."""
    import pyodbc

    def songs(prefix: str) -> list[dict[str, Any]]:
        return [{"file_id": f"{prefix}-{i}-{uuid.uuid4().hex[:8]}", "filename": "a.mp3", "title": f"T{i}", "file_size": i} for i in range(rows)]

    out: dict[str, Any] = {"rows": rows}
    with throwaway_database(server, "bulk") as settings, SongsDatabase(settings, pool_size=1) as db:
        # warm-up: the first call of a procedure in a session compiles it (on Babelfish, about 5 s
        # for api.ImportSongs), which is a cost per pooled connection, not per row
        started = time.perf_counter()
        db.import_songs(songs("warm")[:1])
        out["import_songs first call in a session"] = {"seconds": time.perf_counter() - started}
        db.create_song(f"warm-{uuid.uuid4()}", "a.mp3")
        batch = songs("imp")
        started = time.perf_counter()
        summary = db.import_songs(batch, chunk_size=1000, request_id="bench-import")
        out["import_songs"] = {"seconds": time.perf_counter() - started, "created": summary.created}
        batch = songs("one")
        started = time.perf_counter()
        for row in batch:
            db.create_song(row["file_id"], row["filename"], title=row["title"], file_size=row["file_size"], request_id="bench-one")
        out["create_song loop"] = {"seconds": time.perf_counter() - started, "created": rows}
        # fast_executemany binds parameter arrays; FreeTDS 1.3 crashes the process on it (measured:
        # a segmentation fault), so under FreeTDS the floor is plain executemany
        fast = "tdsodbc" not in db._odbc.lower() and "freetds" not in db._odbc.lower()
        floor = "fast_executemany INSERT (no audit)" if fast else "executemany INSERT (no audit; FreeTDS)"
        conn = pyodbc.connect(settings.odbc(), autocommit=False)
        try:
            cursor = conn.cursor()
            cursor.fast_executemany = fast
            batch = songs("fem")
            started = time.perf_counter()
            cursor.executemany(
                "INSERT INTO dbo.Songs (FileId, FileName, Title, FileSize) VALUES (?, ?, ?, ?);",
                [(r["file_id"], r["filename"], r["title"], r["file_size"]) for r in batch],
            )
            conn.commit()
            out[floor] = {"seconds": time.perf_counter() - started, "created": rows}
        finally:
            conn.close()
        audit = execute(settings, "SELECT COUNT(*) FROM dbo.AuditLog WHERE RequestId = N'bench-import';")[0][0]
        out["import_songs"]["audit_rows"] = audit
    base = out["import_songs"]["seconds"]
    for name in ("import_songs", "create_song loop", floor):
        entry = out[name]
        entry["rows_per_second"] = rows / entry["seconds"]
        print(f"  {name:<36} {entry['seconds']:8.2f} s  {entry['rows_per_second']:9.0f} rows/s  ({entry['seconds'] / base:.2f}x import_songs)")
    out["speedup_over_create_song"] = out["create_song loop"]["seconds"] / base
    out["import_vs_insert_floor"] = base / out[floor]["seconds"]
    return out


# ----- 4. queue -------------------------------------------------------------------------------------
def _drain_queue(settings: Settings, model: str, worker: str, results: Any) -> None:
    """One worker: claim and complete until the queue is empty; report (job id, claim ms) pairs."""
    claimed: list[tuple[str, float]] = []
    with SongsDatabase(settings, pool_size=1) as db:
        while True:
            started = time.perf_counter()
            job = db.claim_next_job(worker, model_names=[model])
            took = (time.perf_counter() - started) * 1000
            if job is None:
                break
            claimed.append((str(job.id), took))
            db.complete_job(*claim_of(job))
    results.put(claimed)


def queue(server: Settings, jobs: int, workers: tuple[int, ...] = (1, 4, 8)) -> dict[str, Any]:
    """N threads and N processes claiming and completing `jobs` jobs: throughput, p99 claim, double claims, lost jobs."""
    import queue as stdlib_queue

    out: dict[str, Any] = {}
    with throwaway_database(server, "queue") as settings, SongsDatabase(settings) as db:
        song = db.create_song(f"q-{uuid.uuid4()}", "a.mp3")
        for kind in ("threads", "processes"):
            for n in workers:
                model = f"q-{kind}-{n}-{uuid.uuid4().hex[:6]}"
                for start in range(0, jobs, 100):
                    db.enqueue_jobs(song, [(model, "separation")] * min(100, jobs - start))
                results: Any = stdlib_queue.Queue() if kind == "threads" else multiprocessing.get_context("spawn").Queue()
                maker = threading.Thread if kind == "threads" else multiprocessing.get_context("spawn").Process
                runners = [maker(target=_drain_queue, args=(settings, model, f"{kind}-{i}", results)) for i in range(n)]
                started = time.perf_counter()
                for r in runners:
                    r.start()
                claimed = [results.get() for _ in runners]
                for r in runners:
                    r.join()
                elapsed = time.perf_counter() - started
                ids = Counter(job for worker in claimed for job, _ in worker)
                latencies = [ms for worker in claimed for _, ms in worker]
                left = execute(
                    settings, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE ModelName = ? AND Status <> 'completed';", model
                )[0][0]
                entry = {
                    "jobs_per_second": len(ids) / elapsed,
                    "claim": stats(latencies),
                    "double_claims": sum(c - 1 for c in ids.values()),
                    "lost": jobs - len(ids) + left,
                }
                out[f"{n} {kind}"] = entry
                print(
                    f"  {n} {kind:<10} {entry['jobs_per_second']:7.1f} jobs/s  claim p99 {entry['claim']['p99_ms']:7.2f} ms"
                    f"  double claims {entry['double_claims']}  lost {entry['lost']}"
                )
    return out


# ----- 5. batch claims ------------------------------------------------------------------------------
def _drain_in_batches(settings: Settings, model: str, worker: str, batch: int, results: Any) -> None:
    """One worker process: claim_next_jobs(batch) and complete each until the queue is empty; report its job ids."""
    done: list[str] = []
    with SongsDatabase(settings, pool_size=1) as db:
        while jobs := db.claim_next_jobs(worker, batch, model_names=[model]):
            for job in jobs:
                db.complete_job(job.id, job.claim_token)
                done.append(str(job.id))
    results.put(done)


def batch_claims(server: Settings, jobs: int, workers: tuple[int, ...] = (1, 4, 8), batches: tuple[int, ...] = (1, 8)) -> dict[str, Any]:
    """N worker processes draining `jobs` jobs with claim_next_jobs at each batch size: jobs/s, double claims, lost.

    Completing a job is one call per job whatever the batch, so the ratio measures what batching the
    claim saves (the issue's goal: batch 8 at least 5x the jobs/s of batch 1).
    """
    out: dict[str, Any] = {}
    context = multiprocessing.get_context("spawn")
    with throwaway_database(server, "batch") as settings, SongsDatabase(settings) as db:
        song = db.create_song(f"b-{uuid.uuid4()}", "a.mp3")
        for n in workers:
            for batch in batches:
                model = f"b-{n}-{batch}-{uuid.uuid4().hex[:6]}"
                for start in range(0, jobs, 100):
                    db.enqueue_jobs(song, [(model, "separation")] * min(100, jobs - start))
                results: Any = context.Queue()
                runners = [context.Process(target=_drain_in_batches, args=(settings, model, f"p{i}", batch, results)) for i in range(n)]
                started = time.perf_counter()
                for r in runners:
                    r.start()
                done = [results.get() for _ in runners]
                for r in runners:
                    r.join()
                elapsed = time.perf_counter() - started
                ids = Counter(job for worker in done for job in worker)
                entry = {
                    "jobs_per_second": len(ids) / elapsed,
                    "double_claims": sum(c - 1 for c in ids.values()),
                    "lost": jobs - len(ids),
                }
                out[f"{n} processes, batch {batch}"] = entry
                print(
                    f"  {n} processes batch {batch:<3} {entry['jobs_per_second']:7.1f} jobs/s"
                    f"  double claims {entry['double_claims']}  lost {entry['lost']}"
                )
            one, eight = out[f"{n} processes, batch 1"], out[f"{n} processes, batch 8"]
            out[f"{n} processes, batch 8 / batch 1"] = eight["jobs_per_second"] / one["jobs_per_second"]
            print(f"  {n} processes: batch 8 = {out[f'{n} processes, batch 8 / batch 1']:.2f}x batch 1")
    return out


# ----- 6. import cost --------------------------------------------------------------------------------
def import_cost(repeats: int = 7) -> dict[str, Any]:
    """Seconds to import songsdb in a fresh interpreter (median of `repeats` runs)."""
    out: dict[str, Any] = {}
    for label, code in (("import songsdb", "import songsdb"), ("from songsdb import SongsDatabase", "from songsdb import SongsDatabase")):
        probe = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
        runs = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout) for _ in range(repeats)]
        out[label] = {"median_ms": statistics.median(runs) * 1000}
        print(f"  {label:<36} {out[label]['median_ms']:7.1f} ms")
    return out
