"""Round-trip and queue throughput on a real engine (see bench/README.md). Prints; asserts nothing."""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.migrator import Migrator


def timed(label: str, count: int, call) -> None:
    samples = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    print(f"{label:<28} median {statistics.median(samples) * 1000:7.2f} ms  p95 {sorted(samples)[int(count * 0.95) - 1] * 1000:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    server = Settings(connection_string=os.environ["SONGSDB_BENCH_DSN"]).with_database("master")
    name = f"songsdb_bench_{uuid.uuid4().hex[:8]}"
    settings = server.with_database(name)
    report = Migrator(settings).migrate()
    print(f"engine {report.engine}, database {name}")
    try:
        with SongsDatabase(settings, pool_size=args.workers + 1) as db:
            timed("create_song", args.calls, lambda i: db.create_song(f"bench-{uuid.uuid4()}", "a.mp3"))
            timed("get_song (missing)", args.calls, lambda i: db.get_song(f"missing-{i}"))
            song = db.create_song(f"bench-{uuid.uuid4()}", "a.mp3")
            for start in range(0, args.jobs, 100):
                db.enqueue_jobs(song, [("bench", "separation")] * min(100, args.jobs - start))
            done = [0] * args.workers

            def work(n: int) -> None:
                while (job := db.claim_next_job(f"w{n}", model_names=["bench"])) is not None:
                    db.complete_job(job.id, job.claim_token)
                    done[n] += 1

            started = time.perf_counter()
            threads = [threading.Thread(target=work, args=(n,)) for n in range(args.workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            print(f"claim+complete, {args.workers} workers: {sum(done)} jobs in {elapsed:.2f} s = {sum(done) / elapsed:.1f} jobs/s")
    finally:
        import pyodbc

        conn = pyodbc.connect(server.odbc(), autocommit=True)
        if report.engine == "sqlserver":
            conn.cursor().execute(f"ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;")
        conn.cursor().execute(f"DROP DATABASE [{name}];")
        conn.close()


if __name__ == "__main__":
    main()
