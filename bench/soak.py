"""A soak under faults on the wire (issue #21 §3): workers, a web writer and an ops loop through a proxy
that drops connections at random points; at the end, the queue's books must balance.

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...;DATABASE=master;' .venv/bin/python bench/soak.py --seconds 180
    .venv/bin/python bench/soak.py --restart-command '/work/shared/engines/babelfish restart'   # 10 minutes, one restart

In a throwaway database, every client connects through a fault-injecting TDS proxy
(``tests/integration/fault_proxy.py``) whose :class:`Chaos` drops a fraction (``--drop-rate``) of
requests at a random point (never forwarded; forwarded and its reply thrown away; cut in the middle
of the reply) and resets a fraction (``--login-drop-rate``) of logins. Running for ``--seconds``:

- ``--workers`` worker processes claim (``--lease-seconds``) and complete jobs; after an
  OutcomeUnknown they take the documented next step (README, "Faults"): a complete is sent again
  with the same claim token; a claim whose answer was lost is left to expire and be claimed again;
- one web writer creates songs (after OutcomeUnknown: look the song up by file id) and one job per
  song with a job key (after OutcomeUnknown: the same call with the same key);
- an ops loop reads the queue (``queue_status``, ``job_summary``): reads are retried by the client;
- optionally, ``--restart-command`` restarts the engine once, half way.

Then the writer stops, the workers drain the queue (``--drain-seconds``), and the books are checked
on a clean connection: jobs created = completed + failed + still queued (+ running); no job
completed twice (by the audit trail and by what the workers were told); none lost (every song and
job the writer was given an id for exists); no duplicate job for a key (one job per song); no
duplicate song; every error a songsdb error; memory (RSS per process) and open connections flat.
Prints the figures and writes ``bench/results/soak-<UTC>.json``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.integration.fault_proxy

from songsdb import errors  # noqa: E402
from songsdb.config import Settings  # noqa: E402
from songsdb.database import SongsDatabase  # noqa: E402
from songsdb.migrator import Migrator  # noqa: E402
from songsdb.retry import RetryPolicy  # noqa: E402
from songsdb.testdb import drop_database  # noqa: E402
from tests.integration.fault_proxy import Chaos, FaultProxy  # noqa: E402
from tests.integration.helpers import endpoint, query, through  # noqa: E402

RESULTS = Path(__file__).parent / "results"
JOB_KEYS = "job_key" in inspect.signature(SongsDatabase.create_job).parameters  # #21's job keys
STEP_TRIES = 20  # how often a next step is tried before the soak records the operation as given up
SAMPLE_EVERY = 5.0


def rss_kib(pid: int | None = None) -> int:
    """Resident memory of a process in KiB (Linux /proc)."""
    try:
        for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Tally:
    """Errors by class, and those that were not songsdb's (the soak's 'every error typed')."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: Counter[str] = Counter()
        self.untyped: list[str] = []

    def record(self, exc: BaseException) -> None:
        with self.lock:
            self.errors[type(exc).__name__] += 1
            if not isinstance(exc, errors.SongsDbError):
                self.untyped.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:300])


# ----- the worker processes ----------------------------------------------------------------------------
def worker(settings: Settings, model: str, name: str, lease: int, stop_at: float, drain_until: float, out: Any) -> None:
    """Claim and complete until, after ``stop_at``, the queue stayed empty for longer than a lease (a lost
    claim's lease has then expired and been claimed again), or until ``drain_until``; report."""
    tally = Tally()
    completed: list[str] = []  # jobs this worker was told it completed
    told_lost: list[str] = []  # completes refused after their first try may have committed (LeaseLost on a retry)
    samples: list[tuple[float, int]] = []
    next_sample = 0.0
    empty_since: float | None = None
    with SongsDatabase(settings, pool_size=2, retry=RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.5)) as db:
        while time.time() < drain_until:
            if time.time() >= next_sample:
                samples.append((time.time(), rss_kib()))
                next_sample = time.time() + SAMPLE_EVERY
            try:
                job = db.claim_next_job(name, model_names=[model], lease_seconds=lease)
            except errors.OutcomeUnknown as exc:
                tally.record(exc)  # the claim may hold a lease nobody knows: it expires and is claimed again
                continue
            except Exception as exc:
                tally.record(exc)
                time.sleep(0.2)
                continue
            if job is None:
                empty_since = empty_since or time.time()
                if time.time() >= stop_at and time.time() - empty_since > lease + 1:
                    break  # the writer has stopped, and nothing came free for longer than a lease
                time.sleep(0.05)
                continue
            empty_since = None
            for attempt in range(STEP_TRIES):
                try:
                    db.complete_job(job.id, job.claim_token, result_metadata={"by": name}, request_id=f"soak-done-{job.id}")
                    completed.append(str(job.id))
                    break
                except errors.OutcomeUnknown as exc:
                    tally.record(exc)  # the next step: the same call, the same token
                except errors.LeaseLost as exc:
                    tally.record(exc)
                    if attempt:
                        told_lost.append(str(job.id))
                    break
                except Exception as exc:
                    tally.record(exc)
                    if attempt and isinstance(exc, errors.InvalidStatusTransition):
                        told_lost.append(str(job.id))
                    break
    samples.append((time.time(), rss_kib()))
    out.put({"name": name, "completed": completed, "told_lost": told_lost, "errors": dict(tally.errors),
             "untyped": tally.untyped, "rss": samples})


# ----- the web writer and the ops loop (threads of the main process) -------------------------------------
class Writer(threading.Thread):
    """Creates songs and one job per song (with a job key where the client has them), taking the
    documented next step after each OutcomeUnknown."""

    def __init__(self, settings: Settings, model: str, tag: str, stop: threading.Event, pace: float) -> None:
        super().__init__(name="soak-writer", daemon=True)
        self.settings, self.model, self.tag, self.stop, self.pace = settings, model, tag, stop, pace
        self.tally = Tally()
        self.songs: dict[str, str] = {}  # file id -> song id the writer was given
        self.jobs: dict[str, str] = {}  # job key -> job id the writer was given
        self.gave_up: list[str] = []
        self.unsure_jobs = 0  # creates without a key whose answer was lost (no safe next step)

    def run(self) -> None:
        with SongsDatabase(self.settings, pool_size=2, retry=RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.5)) as db:
            n = 0
            while not self.stop.is_set():
                n += 1
                file_id = f"soak-{self.tag}-{n:06}"
                song = self._song(db, file_id)
                if song is not None:
                    self._job(db, song, file_id)
                time.sleep(self.pace)

    def _song(self, db: SongsDatabase, file_id: str) -> str | None:
        for _ in range(STEP_TRIES):
            try:
                found = db.get_song(file_id)  # the file id is the key: look it up first (a read, retried)
                song = str(found.id) if found is not None else str(db.create_song(file_id, "soak.mp3", request_id=f"soak-{file_id}"))
                self.songs[file_id] = song
                return song
            except errors.DuplicateSong as exc:
                self.tally.record(exc)  # a lost answer's song: the next lookup finds it
            except Exception as exc:
                self.tally.record(exc)
                time.sleep(0.05)
        self.gave_up.append(file_id)
        return None

    def _job(self, db: SongsDatabase, song: str, file_id: str) -> None:
        key: dict[str, Any] = {"job_key": file_id} if JOB_KEYS else {}
        for _ in range(STEP_TRIES if JOB_KEYS else 1):
            try:
                job = db.create_job(song, self.model, "separation", max_attempts=5, request_id=f"soak-job-{file_id}", **key)
                self.jobs[file_id] = str(job)
                return
            except errors.OutcomeUnknown as exc:
                self.tally.record(exc)  # with a key: the same call again returns the job if it was created
                if not JOB_KEYS:
                    self.unsure_jobs += 1
            except Exception as exc:
                self.tally.record(exc)
                time.sleep(0.05)
        if JOB_KEYS:
            self.gave_up.append(f"job {file_id}")


class OpsLoop(threading.Thread):
    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        super().__init__(name="soak-ops", daemon=True)
        self.settings, self.stop = settings, stop
        self.tally = Tally()
        self.reads = 0

    def run(self) -> None:
        with SongsDatabase(self.settings, pool_size=1) as db:
            while not self.stop.is_set():
                for read in (db.queue_status, db.job_summary):
                    try:
                        read()
                        self.reads += 1
                    except Exception as exc:
                        self.tally.record(exc)
                self.stop.wait(0.5)


# ----- the run ----------------------------------------------------------------------------------------------
def soak(server: Settings, args: argparse.Namespace) -> dict[str, Any]:
    name = f"songsdb_soak_{uuid.uuid4().hex[:6]}"
    direct = server.with_database(name)
    engine = Migrator(direct).migrate(create_database=True).engine
    tag = uuid.uuid4().hex[:6]
    model = f"soak-{tag}"
    chaos = Chaos(rate=args.drop_rate, login_rate=args.login_drop_rate, seed=args.seed)
    host, port = endpoint(direct)
    try:
        with FaultProxy(host, port, chaos=chaos) as proxy:
            settings = through(direct, proxy.port)
            started = time.time()
            stop_at = started + args.seconds
            drain_until = stop_at + args.drain_seconds
            results: Any = multiprocessing.get_context("spawn").Queue()
            workers = [
                multiprocessing.get_context("spawn").Process(
                    target=worker, args=(settings, model, f"soak-w{i}", args.lease_seconds, stop_at, drain_until, results)
                )
                for i in range(args.workers)
            ]
            for w in workers:
                w.start()
            stop = threading.Event()
            writer = Writer(settings, model, tag, stop, args.pace)
            ops = OpsLoop(settings, stop)
            writer.start()
            ops.start()
            samples: list[dict[str, Any]] = []
            restarted: float | None = None
            while time.time() < stop_at:
                samples.append({
                    "t": round(time.time() - started, 1), "rss_kib": rss_kib(), "proxy_open": proxy.open_connections(),
                    "proxy_connections": len(proxy.connections), "faults": len(proxy.fired()),
                    "workers_rss_kib": [rss_kib(w.pid) for w in workers],
                })
                print(f"  t={samples[-1]['t']:6.1f}s songs {len(writer.songs):5}  open connections {samples[-1]['proxy_open']:3}  "
                      f"faults {samples[-1]['faults']:4}  rss {samples[-1]['rss_kib']} KiB", flush=True)
                if args.restart_command and restarted is None and time.time() - started >= args.seconds / 2:
                    print(f"  restarting the engine: {args.restart_command}", flush=True)
                    subprocess.run(args.restart_command, shell=True, check=True, timeout=120)
                    restarted = time.time() - started
                time.sleep(min(SAMPLE_EVERY, max(0.0, stop_at - time.time())))
            stop.set()
            writer.join()
            ops.join()
            print("  writer stopped; workers draining the queue", flush=True)
            reports = [results.get() for _ in workers]
            for w in workers:
                w.join()
            samples.append({"t": round(time.time() - started, 1), "rss_kib": rss_kib(), "proxy_open": proxy.open_connections(),
                            "proxy_connections": len(proxy.connections), "faults": len(proxy.fired()), "workers_rss_kib": []})
            fired = Counter(kind for _, _, kind in proxy.fired())
        return {
            "database": name,
            "engine": engine,
            "seconds": args.seconds,
            "restarted_at": restarted,
            "job_keys": JOB_KEYS,
            "faults_injected": dict(fired),
            **books(direct, model, tag, writer, ops, reports),
            "samples": samples,
            "flat": flatness(samples, reports),
        }
    finally:
        drop_database(server, name, engine)


def books(settings: Settings, model: str, tag: str, writer: Writer, ops: OpsLoop, reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The invariants, read back on a clean connection."""
    by_status = dict(query(settings, "SELECT Status, COUNT(*) FROM dbo.ProcessingJobs WHERE ModelName = ? GROUP BY Status;", model))
    created = sum(by_status.values())
    completions = Counter(
        str(r[0]).lower() for r in query(
            settings,
            "SELECT EntityId FROM dbo.AuditLog WHERE Action = 'completed' AND EntityType = 'job' AND RequestId LIKE 'soak-done-%';",
        )
    )
    told = Counter(job for r in reports for job in r["completed"])
    job_rows = {str(r[0]).lower(): str(r[1]) for r in query(settings, "SELECT JobId, Status FROM dbo.ProcessingJobs WHERE ModelName = ?;", model)}
    per_song = query(settings, "SELECT SongId, COUNT(*) FROM dbo.ProcessingJobs WHERE ModelName = ? GROUP BY SongId HAVING COUNT(*) > 1;", model)
    songs = {str(r[0]): str(r[1]).lower() for r in query(settings, "SELECT FileId, Id FROM dbo.Songs WHERE FileId LIKE ?;", f"soak-{tag}-%")}
    duplicate_songs = query(settings, "SELECT FileId FROM dbo.Songs WHERE FileId LIKE ? GROUP BY FileId HAVING COUNT(*) > 1;", f"soak-{tag}-%")
    untyped = writer.tally.untyped + ops.tally.untyped + [u for r in reports for u in r["untyped"]]
    error_counts: Counter[str] = writer.tally.errors + ops.tally.errors
    for r in reports:
        error_counts.update(r["errors"])
    out = {
        "jobs_created": created,
        "jobs_by_status": by_status,
        "balance": created == sum(by_status.get(s, 0) for s in ("completed", "failed", "queued", "running")),
        "completed_twice_by_audit": sum(1 for c in completions.values() if c > 1),
        "completed_twice_as_told": sum(1 for c in told.values() if c > 1),
        "told_completed_but_not": sum(1 for job in told if job_rows.get(job.lower()) != "completed"),
        "completed_never_told": sum(1 for job, status in job_rows.items() if status == "completed" and job not in {t.lower() for t in told}),
        "workers_told_lease_lost_on_a_retry": sum(len(r["told_lost"]) for r in reports),
        "lost_songs": sum(1 for f, song in writer.songs.items() if songs.get(f) != song.lower()),
        "lost_jobs": sum(1 for job in writer.jobs.values() if job.lower() not in job_rows),
        "duplicate_jobs_for_a_key": len(per_song),
        "duplicate_songs": len(duplicate_songs),
        "extra_songs": len(set(songs) - set(writer.songs)),
        "songs_written": len(writer.songs),
        "jobs_written": len(writer.jobs),
        "writer_gave_up": writer.gave_up,
        "writer_unsure_jobs_without_keys": writer.unsure_jobs,
        "ops_reads": ops.reads,
        "errors": dict(error_counts),
        "untyped_errors": untyped[:20],
        "untyped_count": len(untyped),
    }
    return out


def flatness(samples: list[dict[str, Any]], reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Memory and connections in the first and last quarter of the run (after a warm-up sample)."""
    steady = samples[1:-1] or samples
    quarter = max(1, len(steady) // 4)

    def ratio(values: list[int]) -> float | None:
        first, last = values[:quarter], values[-quarter:]
        if not first or not max(first):
            return None
        return round(max(last) / max(first), 3)

    worker_rss = {r["name"]: ratio([kib for _, kib in r["rss"][1:]] or [0]) for r in reports}
    return {
        "main_rss_last_over_first_quarter": ratio([s["rss_kib"] for s in steady]),
        "workers_rss_last_over_first_quarter": worker_rss,
        "open_connections_first_quarter_max": max(s["proxy_open"] for s in steady[:quarter]),
        "open_connections_last_quarter_max": max(s["proxy_open"] for s in steady[-quarter:]),
        "open_connections_after_the_run": samples[-1]["proxy_open"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600, help="how long the writer runs (default 600: 10 minutes)")
    parser.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    parser.add_argument("--drop-rate", type=float, default=0.02, help="share of requests faulted (default 0.02)")
    parser.add_argument("--login-drop-rate", type=float, default=0.02, help="share of logins reset (default 0.02)")
    parser.add_argument("--lease-seconds", type=int, default=5, help="the workers' lease: how soon a lost claim is claimed again")
    parser.add_argument("--pace", type=float, default=0.02, help="seconds the writer waits between songs")
    parser.add_argument("--drain-seconds", type=float, default=60, help="how long the workers may drain the queue after the writer stops")
    parser.add_argument("--seed", type=int, default=21, help="the chaos's seed (the same seed injects the same sequence)")
    parser.add_argument("--restart-command", help="a shell command that restarts the engine, run once half way")
    args = parser.parse_args()
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if not dsn:
        parser.error("set SONGSDB_TEST_DSN to an ODBC connection string for a login that may create databases")
    server = Settings(connection_string=dsn).with_database("master")
    started = datetime.now(timezone.utc)
    print(f"soak: {args.seconds:.0f} s, {args.workers} workers, drop rate {args.drop_rate}, login drop rate {args.login_drop_rate}, "
          f"job keys {'yes' if JOB_KEYS else 'no (not in this client)'}", flush=True)
    out = {
        "started": started.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "driver": dsn.split(";")[0],
        "args": vars(args),
        **soak(server, args),
    }
    summary = {k: v for k, v in out.items() if k not in ("samples",)}
    print(json.dumps(summary, indent=2, default=str))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"soak-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
