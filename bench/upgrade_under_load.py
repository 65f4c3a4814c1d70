"""The whole upgrade applied to a populated database while the application runs (issue #18 §3).

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...;DATABASE=master;' .venv/bin/python bench/upgrade_under_load.py --rows 1000000
    .venv/bin/python bench/upgrade_under_load.py --rows 5000 --seconds 10          # a smoke run, about a minute
    .venv/bin/python bench/upgrade_under_load.py --rows 20000 --maintenance         # past 10,000 songs: the runbook too
    .venv/bin/python bench/upgrade_under_load.py --rows 1000000 --maintenance       # the issue's run (see README, Performance)

In a throwaway database:

1. the previous release's ``sql/`` tree (``--from``, default 567db82, the last release before session 6;
   taken with ``git archive``) is applied with ``Migrator(settings, root=<that tree>)`` (songsdb's
   migrator and its rendering have not changed since 567db82, so the history and checksums it records
   are the ones that release's own migrator would have recorded), and the web and
   worker duty roles get a login each (as ``songsdb up`` provisions them): the load runs as the
   application's logins, with their rights, not as the administrator;
2. ``--rows`` songs, jobs (one per song, 5 % queued) and audit rows are bulk-loaded with set-based
   INSERTs (``bench.scale.load``, whose columns the old schema has), ``--queued`` more jobs are queued
   for the bench's worker (model ``upgrade-bench``), and statistics are brought up to date;
3. idle (``--seconds``): a writer thread calls ``create_song`` (the current client; the old
   ``api.CreateSong`` takes the same parameters) and a worker thread claims (``claim_next_job``,
   filtered by model) and completes (``complete_job``) jobs, each pausing ``--pause-ms`` between calls,
   each on its own pooled client; a worker that finds the queue empty queues 100 more through the web
   client (``enqueue_jobs``);
4. upgrade: the same load runs while ``Migrator(settings).migrate()`` applies every pending script of
   the current ``sql/``. Each script's duration comes from ``deploy.SchemaHistory``, and its window on
   the client's clock from the migrator (its start and end), so the calls that ran during each script
   are known. A maintenance-window step that refuses (0043 on Standard/Express, 0045 on every engine,
   above 10,000 songs) stops the migrate with a MigrationError: where and why is recorded, and the load
   goes on for ``--after-seconds`` at that state (the application must keep working there). A migrate
   that fails otherwise (a deadlock, a lock timeout, drift) is recorded as a failure, the load goes on
   for ``--after-seconds``, and the deploy is run again, as an operator would, up to ``--redeploys``
   times (a transactional script was rolled back; the rest resume where they stopped);
5. with ``--maintenance``: the load stops, the runbook's manual steps for the refused script run
   (README, "Songs' internal key": 0043's ``ALTER COLUMN``, 0045's statements in one transaction), the
   load starts again and the migrate is run again, then ``--after-seconds`` more.

Each (re)start of the load first waits until each thread has made 5 calls (a new Babelfish session
compiles the procedures it calls: seconds, not the idle figure); a call counts in the phase it started in.

Every call is timed; every failed call is counted with its exception type and message, by phase and
by script. The writer's and the worker's p99 during the upgrade are compared with idle (issue goal:
no call fails, the writer's p99 within 2x of idle; and here also: no migrate fails). The 20 slowest
calls are kept with when they ended. Prints a table, writes
bench/results/upgrade-under-load-<UTC>.json. Asserts nothing: these are figures to read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import RESULTS, execute, fresh_statistics, load, stats
from songsdb.config import ROLES, Settings
from songsdb.database import SongsDatabase
from songsdb.errors import MigrationError
from songsdb.migrator import Migrator, drain
from songsdb.testdb import DatabaseFactory, connect, detect_server_engine

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS_RELEASE = "567db82"  # the last release before session 6 (job keys, attempts, batch claims, the songs key)
MODEL = "upgrade-bench"  # the bench worker's jobs, apart from the bulk-loaded ones
WRITE, CLAIM = "create_song", "claim_next_job + complete_job"
REFILL = "enqueue_jobs (refill)"
_STEP = re.compile(r"schema/(\d{4})_\w+\.sql")
_REFUSAL = re.compile(r"\b(0043|0045): dbo\.Songs holds more than 10,000 songs")  # their RAISERROR texts


def previous_release(commit: str, into: Path) -> Path:
    """The ``sql/`` tree as it was at ``commit`` (``git archive``), unpacked under ``into``; its path."""
    packed = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "sql"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
        archive.extractall(into, filter="data")
    return into / "sql"


# ----- what the load did ------------------------------------------------------------------------


@dataclass
class Call:
    """One application call: when it ended (monotonic s), how long it took, and its error if it failed."""

    phase: str
    op: str
    ended: float
    ms: float
    error: str | None = None  # "ExceptionType: message" of a failed call


@dataclass
class Recorder:
    """Every call of every thread, labelled with the phase the main thread had set when it ended."""

    phase: str = "warm-up"
    calls: list[Call] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def timed(self, op: str) -> Iterator[None]:
        label = self.phase  # the phase the call started in
        started = time.perf_counter()
        error = None
        try:
            yield
        except Exception as exc:  # counted, never raised: the load goes on, as an application would
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        finally:
            ms = (time.perf_counter() - started) * 1000
            with self.lock:
                self.calls.append(Call(label, op, time.monotonic(), ms, error))

    def select(self, phase: str | None = None, start: float = 0.0, end: float = float("inf")) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if (phase is None or c.phase == phase) and start <= c.ended < end]


def summary(calls: list[Call]) -> dict[str, Any]:
    """Per operation: calls, failures, median / p99 / max of the calls that succeeded; failures by type."""
    out: dict[str, Any] = {}
    for op in sorted({c.op for c in calls}):
        mine = [c for c in calls if c.op == op]
        ok = [c.ms for c in mine if c.error is None]
        failed = [c.error for c in mine if c.error is not None]
        out[op] = {
            "calls": len(mine),
            "failed": len(failed),
            **({k: round(v, 3) for k, v in stats(ok).items() if k != "n"} if ok else {"median_ms": None, "p99_ms": None}),
            "max_ms": round(max(ok), 3) if ok else None,
            "failures": dict(Counter(e.split(":", 1)[0] for e in failed)),
            "failure_messages": sorted(Counter(failed).items(), key=lambda kv: -kv[1])[:5],
        }
    return out


class Load:
    """The writer and the worker threads, each with its own client(s), until stopped."""

    def __init__(self, web: Settings, worker: Settings, recorder: Recorder, song: uuid.UUID, pause_s: float) -> None:
        self.web, self.worker, self.recorder, self.song, self.pause_s = web, worker, recorder, song, pause_s
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.stop.clear()
        self.threads = [threading.Thread(target=self._writer, daemon=True), threading.Thread(target=self._worker, daemon=True)]
        for thread in self.threads:
            thread.start()

    def halt(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _writer(self) -> None:
        with SongsDatabase(self.web) as db:
            while not self.stop.is_set():
                with self.recorder.timed(WRITE):
                    db.create_song(f"upgrade-{uuid.uuid4()}", "a.mp3", title="Upgrade bench", artist="bench")
                self.stop.wait(self.pause_s)

    def _worker(self) -> None:
        with SongsDatabase(self.worker, role="worker") as db, SongsDatabase(self.web) as web:
            while not self.stop.is_set():
                claimed: list[Any] = []
                with self.recorder.timed(CLAIM):
                    job = db.claim_next_job("upgrade-bench", model_names=[MODEL])
                    claimed.append(job)
                    if job is not None:
                        db.complete_job(job.id, job.claim_token)
                if claimed == [None]:  # the bench's own jobs ran out: the web service queues more
                    with self.recorder.timed(REFILL):
                        web.enqueue_jobs(self.song, [(MODEL, "separation")] * 100)
                self.stop.wait(self.pause_s)


# ----- the database -----------------------------------------------------------------------------


def provision_roles(admin: Settings, logins: dict[str, tuple[str, str]]) -> None:
    """Each duty role's login, user and membership, as ``songsdb up`` makes them (songsdb/local_sql)."""
    batch = (ROOT / "songsdb" / "local_sql" / "ensure_role_login.sql").read_text(encoding="utf-8")
    conn = connect(admin)
    try:
        cursor = conn.cursor()
        for role, (login, password) in logins.items():
            cursor.execute(batch, login, password, ROLES[role])
            drain(cursor)
    finally:
        conn.close()


def queue_jobs(settings: Settings, n: int) -> uuid.UUID:
    """``n`` queued jobs of the bench's model on one song (set-based); that song's id."""
    song = execute(settings, "SELECT TOP (1) Id FROM dbo.Songs ORDER BY UploadedAt;")[0][0]
    execute(
        settings,
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, Progress, RequestId) "
        f"SELECT TOP (?) ?, N'{MODEL}', 'separation', 'queued', 0, N'upgrade-bench' "
        "FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS a (n) "
        "CROSS JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS b (n) "
        "CROSS JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS c (n) "
        "CROSS JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS d (n) "
        "CROSS JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS e (n);",
        n, song,
    )
    return uuid.UUID(str(song))


def history(settings: Settings, after_id: int) -> list[dict[str, Any]]:
    """deploy.SchemaHistory rows after ``after_id``: what each migrate applied or failed, and how long it took."""
    rows = execute(
        settings,
        "SELECT Id, ScriptName, Kind, DurationMs, CAST(Success AS int), Note FROM deploy.SchemaHistory WHERE Id > ? ORDER BY Id;",
        after_id,
    )
    return [
        {"id": int(i), "script": str(n), "kind": str(k).strip(), "duration_ms": d, "success": bool(s), "note": note}
        for i, n, k, d, s, note in rows
    ]


def last_history_id(settings: Settings) -> int:
    return int(execute(settings, "SELECT COALESCE(MAX(Id), 0) FROM deploy.SchemaHistory;")[0][0])


class TimedMigrator(Migrator):
    """The migrator, noting on the client's clock when each script it applies starts and ends (its window)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.windows: list[tuple[str, float, float]] = []

    def _apply(self, conn: Any, item: Any, engine: str, clock: Any) -> str | None:
        started = time.monotonic()
        try:
            return super()._apply(conn, item, engine, clock)  # a maintenance step's refusal is its message: the migrator stops on it
        finally:
            self.windows.append((str(item.name), started, time.monotonic()))


@dataclass
class Migration:
    """One ``migrate`` under load: its outcome, its scripts, and the calls during each script."""

    started: float
    ended: float
    applied: list[str]
    stopped_at: str | None  # the script a MigrationError names, when the migrate stopped
    error: str | None  # "Type: message" when the migrate raised
    scripts: list[dict[str, Any]]

    @property
    def outcome(self) -> str:
        """completed; refused (a maintenance-window step's RAISERROR: 0043, 0045 above 10,000 songs); failed."""
        if self.error is None:
            return "completed"
        return "refused" if self.stopped_at and _REFUSAL.search(self.error) else "failed"


def migrate_under_load(settings: Settings, recorder: Recorder) -> Migration:
    """``migrate()`` while the load runs; every script's duration and the calls during it."""
    before = last_history_id(settings)
    migrator = TimedMigrator(settings)
    applied: list[str] = []
    error = stopped_at = None
    started = time.monotonic()
    try:
        applied = list(migrator.migrate().applied)
    except Exception as exc:  # MigrationError: a refusal or a failure; anything else is recorded as well
        error = f"{type(exc).__name__}: {exc}"
        found = _STEP.search(str(exc))
        stopped_at = found.group(0) if found else None
        if not isinstance(exc, MigrationError):
            print(f"the migrate raised {error}", flush=True)
    ended = time.monotonic()
    windows: dict[str, list[tuple[float, float]]] = {}
    for name, start, end in migrator.windows:
        windows.setdefault(name, []).append((start, end))
    scripts = []
    for row in history(settings, before):
        mine = windows.get(row["script"])
        start, end = mine.pop(0) if mine else (0.0, 0.0)
        by_op = summary(recorder.select(start=start, end=end)) if end > start else {}
        scripts.append({
            **row,
            "window_s": round(end - start, 3) if end > start else None,
            "calls": {op: {k: v[k] for k in ("calls", "failed", "p99_ms", "max_ms", "failures")} for op, v in by_op.items()},
        })
    if error is not None:  # a refusal or a failure raised before migrate() could say what it applied
        applied = [row["script"] for row in scripts if row["success"]]
    return Migration(started, ended, applied, stopped_at, error, scripts)


def manual_steps(migrator: Migrator, engine: str, script: str) -> list[str]:
    """The runbook's statements for a refused maintenance-window step (README, "Songs' internal key")."""
    if script.startswith("schema/0043_"):
        return ["ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL;"]
    if script.startswith("schema/0045_"):
        text = next(r.text for r in migrator.rendered(engine) if r.name == script)
        statements = [line.split(";")[0].strip() + ";" for line in text.splitlines() if line.strip().startswith("ALTER TABLE")]
        return statements
    raise RuntimeError(f"no manual step is known for {script}")


def run_manual_steps(settings: Settings, statements: list[str]) -> float:
    """``statements`` in one transaction (XACT_ABORT), the services stopped; the seconds it took."""
    started = time.perf_counter()
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        cursor.execute("SET XACT_ABORT ON; BEGIN TRANSACTION;\n" + "\n".join(statements) + "\nCOMMIT TRANSACTION;")
        drain(cursor)
    finally:
        conn.close()
    return time.perf_counter() - started


# ----- the run ----------------------------------------------------------------------------------


def phase(recorder: Recorder, name: str, seconds: float) -> None:
    recorder.phase = name
    time.sleep(seconds)


def warm_up(recorder: Recorder, name: str = "warm-up", calls: int = 5, limit_s: float = 120) -> None:
    """Until each thread has made ``calls`` calls in this phase (at least 3 s): a new session compiles
    the procedures it calls (Babelfish, seconds under Microsoft's driver), which is not the idle figure."""
    recorder.phase = name
    deadline = time.monotonic() + limit_s
    time.sleep(3)
    while time.monotonic() < deadline:
        done = Counter(c.op for c in recorder.select(name))
        if done[WRITE] >= calls and done[CLAIM] >= calls:
            return
        time.sleep(0.5)


def run(server: Settings, args: argparse.Namespace) -> dict[str, Any]:
    engine = detect_server_engine(server)
    factory = DatabaseFactory(server, engine, prefix="songsdb_bench_upgrade_")
    recorder = Recorder()
    out: dict[str, Any] = {
        "bench": "upgrade_under_load",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "server": str(execute(server, "SELECT @@VERSION;")[0][0]).splitlines()[0],
        "driver": server.odbc().split(";")[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "from": args.from_commit,
        "to": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "rows": args.rows,
        "settings": {k: getattr(args, k) for k in ("seconds", "after_seconds", "pause_ms", "queued", "maintenance", "redeploys")},
        "phases": {},
        "migrations": [],
    }
    load_threads: Load | None = None
    try:
        settings = factory.new(migrate=False)
        out["database"] = settings.target_database
        with tempfile.TemporaryDirectory(prefix="songsdb-previous-") as tmp:
            old_root = previous_release(args.from_commit, Path(tmp))
            started = time.perf_counter()
            old = Migrator(settings, root=old_root).migrate()
            out["previous_release_scripts"] = len(old.applied)
            print(f"{settings.target_database}: the release at {args.from_commit} applied ({len(old.applied)} scripts) "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
        # the load's roles only: the previous release has no songsdb_retention role (0047) to add a login to
        provision_roles(settings, {r: login for r, login in factory.role_logins().items() if r in ("web", "worker")})
        roles = factory.role_settings(settings)

        started = time.perf_counter()
        load(settings, args.rows)
        song = queue_jobs(settings, args.queued)
        fresh_statistics(settings, engine)
        out["load_s"] = round(time.perf_counter() - started, 1)
        print(f"loaded {args.rows:,} songs, jobs and audit rows and {args.queued:,} queued jobs in {out['load_s']} s", flush=True)

        load_threads = Load(roles["web"], roles["worker"], recorder, song, args.pause_ms / 1000)
        load_threads.start()
        warm_up(recorder)
        phase(recorder, "idle", args.seconds)
        print(f"idle: {summary(recorder.select('idle')).get(WRITE, {}).get('calls', 0)} writes", flush=True)

        current = Migrator(settings)  # renders the manual steps
        attempt = failures = 0
        while True:
            attempt += 1
            name = "upgrade" if attempt == 1 else f"redeploy {attempt - 1}"
            recorder.phase = name
            migration = migrate_under_load(settings, recorder)
            out["migrations"].append({"phase": name, "outcome": migration.outcome, **migration.__dict__})
            print(f"{name}: {len(migration.applied)} scripts applied in {migration.ended - migration.started:.1f} s"
                  + (f"; stopped: {migration.error}" if migration.error else ""), flush=True)
            after = f"after {name}" + (f" ({migration.outcome} at {migration.stopped_at})" if migration.stopped_at else "")
            phase(recorder, after, args.after_seconds)
            if migration.outcome == "failed" and failures < args.redeploys:
                failures += 1  # an operator deploys again: a transactional script was rolled back, the rest resume
                continue
            if not (args.maintenance and migration.outcome == "refused" and attempt <= 6):
                break
            statements = manual_steps(current, engine, str(migration.stopped_at))
            load_threads.halt()  # the maintenance window: the services are stopped
            seconds = run_manual_steps(settings, statements)
            out.setdefault("maintenance", []).append(
                {"script": migration.stopped_at, "statements": statements, "seconds": round(seconds, 3)})
            print(f"maintenance window for {migration.stopped_at}: {len(statements)} statements in {seconds:.1f} s", flush=True)
            load_threads.start()
            warm_up(recorder, f"warm-up {attempt}")
        load_threads.halt()
        load_threads = None
        out["tables_after"] = {
            t: int(execute(settings, f"SELECT COUNT_BIG(*) FROM dbo.{t};")[0][0]) for t in ("Songs", "ProcessingJobs", "AuditLog")
        }
    except Exception as exc:  # keep what was measured up to here, and say what stopped the bench
        out["bench_error"] = f"{type(exc).__name__}: {exc}"
        print(f"the bench stopped: {out['bench_error']}", flush=True)
    finally:
        if load_threads is not None:
            load_threads.halt()
        out["phases"] = {p: summary(recorder.select(p)) for p in dict.fromkeys(c.phase for c in recorder.select())}
        out["failed_calls"] = [c.__dict__ for c in recorder.select() if c.error is not None][:200]
        out["slowest_calls"] = [  # when each ended, in seconds from the bench's start; with the phase it started in
            {**c.__dict__, "ended": round(c.ended - recorder.t0, 3)}
            for c in sorted(recorder.select(), key=lambda c: -c.ms)[:20]
        ]
        out["goal"] = goal(out["phases"], out["migrations"])
        if args.keep:
            print(f"kept database {out.get('database')} (its role logins were kept too)")
        else:
            factory.drop_all()
    return out


def goal(phases: dict[str, Any], migrations: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's goal: no call failed; the writer's p99 during the upgrade within 2x of idle; and no
    migrate failed (a maintenance-window step's refusal is the runbook, not a failure)."""
    idle = phases.get("idle", {})
    busy = phases.get("upgrade", {})
    ratios = {
        op: round(busy[op]["p99_ms"] / idle[op]["p99_ms"], 2)
        for op in (WRITE, CLAIM)
        if busy.get(op, {}).get("p99_ms") and idle.get(op, {}).get("p99_ms")
    }
    failed = {p: sum(v["failed"] for v in ops.values()) for p, ops in phases.items()}
    failed_migrates = [m["phase"] for m in migrations if m["outcome"] == "failed"]
    return {
        "p99_ratio_upgrade_over_idle": ratios,
        "failed_calls_by_phase": failed,
        "failed_migrates": failed_migrates,
        "met": bool(ratios.get(WRITE) is not None and ratios[WRITE] <= 2.0 and not any(failed.values()) and not failed_migrates),
    }


def report(out: dict[str, Any]) -> None:
    def cell(v: dict[str, Any] | None) -> str:
        if not v or v.get("median_ms") is None:
            return f"{'-':>30}"
        return f"{v['median_ms']:7.2f} /{v['p99_ms']:8.2f} /{v['max_ms']:9.2f}"

    print(f"\n{out['rows']:,} rows, {out['engine']}, {out['driver']}; {out['from']} -> {out['to']}")
    print(f"{'phase':<44}{'create_song median/p99/max ms':>31}{'n':>6}{'claim+complete median/p99/max':>32}{'n':>6}{'failed':>8}")
    for name, ops in out["phases"].items():
        w, c = ops.get(WRITE), ops.get(CLAIM)
        failed = sum(v["failed"] for v in ops.values())
        print(f"{name:<44}{cell(w):>31}{(w or {}).get('calls', 0):>6}{cell(c):>32}{(c or {}).get('calls', 0):>6}{failed:>8}")
    for migration in out["migrations"]:
        print(f"\n{migration['phase']}: {migration['ended'] - migration['started']:.1f} s, {migration['outcome']}"
              + (f" at {migration['stopped_at']}" if migration["stopped_at"] else ""))
        for s in migration["scripts"]:
            if s["kind"] != "versioned" and s["success"]:
                continue
            worst = {op: v["max_ms"] for op, v in s["calls"].items() if op in (WRITE, CLAIM)}
            failed = sum(v["failed"] for v in s["calls"].values())
            print(f"  {s['script']:<55} {s['duration_ms'] if s['duration_ms'] is not None else '-':>8} ms"
                  f"  {'ok' if s['success'] else 'FAILED':<6}  slowest call {worst}  failed calls {failed}")
        repeatables = [s for s in migration["scripts"] if s["kind"] == "repeatable" and s["success"]]
        if repeatables:
            print(f"  + {len(repeatables)} repeatable objects in {sum(s['duration_ms'] or 0 for s in repeatables)} ms")
        if migration["error"]:
            print(f"  {migration['error'].splitlines()[0][:300]}")
    for m in out.get("maintenance", []):
        print(f"maintenance window for {m['script']}: {len(m['statements'])} statements in {m['seconds']:.2f} s")
    g = out["goal"]
    print(f"\np99 during the upgrade / idle: {g['p99_ratio_upgrade_over_idle']} (goal for create_song <= 2); "
          f"failed calls by phase: {g['failed_calls_by_phase']} (goal: none); failed migrates: {g['failed_migrates']} "
          f"(goal: none); goal met: {g['met']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="songs, jobs and audit rows each (default 1,000,000)")
    parser.add_argument("--from", dest="from_commit", default=PREVIOUS_RELEASE, help="the release to upgrade from (a commit)")
    parser.add_argument("--seconds", type=float, default=60, help="the idle phase")
    parser.add_argument("--after-seconds", type=float, default=15, help="load after each migrate, at the state it left")
    parser.add_argument("--pause-ms", type=float, default=10, help="each thread's pause between calls")
    parser.add_argument("--queued", type=int, default=20_000, help="jobs queued for the bench's worker")
    parser.add_argument("--maintenance", action="store_true", help="run the runbook's manual steps after a refusal, then migrate again")
    parser.add_argument("--redeploys", type=int, default=3, help="after a migrate that failed (not refused), deploy again up to this often")
    parser.add_argument("--keep", action="store_true", help="keep the database and its logins (the name is printed)")
    args = parser.parse_args()
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if not dsn:
        parser.error("set SONGSDB_TEST_DSN to an ODBC connection string for a login that may create databases and logins")
    server = Settings(connection_string=dsn).with_database("master")
    started = time.monotonic()
    out = run(server, args)
    out["total_s"] = round(time.monotonic() - started, 1)
    report(out)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"upgrade-under-load-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path} ({out['total_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
