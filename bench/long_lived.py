"""Lookups on a long-lived pooled connection before and after a bulk load (issue: plan caching).

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...' .venv/bin/python bench/long_lived.py --rows 200000 --rounds 5

The production shape the scale bench does not have: a service's pooled connection is used while the
tables are small, a back-fill then adds ``--rows`` songs, jobs and audit rows from another
connection, and the same connection (``pool_size=1``, never recycled) is used again at once, without
waiting for statistics. The small tables' statistics are taken first (``sp_updatestats``), as autovacuum
takes them once a table has 50 rows; ``--no-session-setup`` runs the client without its per-connection
set-up, to show what that set-up prevents. Each round uses a database of its own. For every call the median before and
after is printed with their ratio; where a ratio exceeds 1.5, the plans the server used for that
call on that connection are captured (every call over 1.5x, by the procedure it runs) (Babelfish: ``SET BABELFISH_STATISTICS PROFILE ON``) and
written with the figures to bench/results/long-lived-<date>.json, with an upper bound of the time
their statements took on the server. What else the server did right after the load (PostgreSQL's
autovacuum workers, checkpoints) is recorded, and every call is timed once more on the same
connection after autovacuum has finished ("settled"): a call slow right after the load and not
once settled, whose plans seek, was slowed by the server's work after the load, not by its plan.
Two more controls: every call is timed on a new connection after the load ("fresh": a session that
never planned these procedures, so a call as slow there costs what the bigger tables cost, not a
cached plan), and the share of the machine's CPUs that were busy while each phase ran is recorded
(on two cores, a claim that takes 12 ms of server CPU is slowed by anything else running).
``--cpu-hogs N`` is the experiment for the last: N busy-loop processes run while the calls after
the load are timed. Asserts nothing: figures to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import RESULTS, execute, load, lookups, timed
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.migrator import Migrator
from songsdb.testdb import detect_server_engine, drop_database

SLOW = 1.5


def plans(db: SongsDatabase, procedure: str, **params: Any) -> list[str]:
    """The plans the pooled connection's session runs ``procedure`` with (Babelfish), as text lines."""
    conn = db._pool.acquire()  # the same session the timed calls used (pool_size=1)
    try:
        cursor = conn.raw.cursor()  # the raw session: this bench reads plans, which no procedure returns
        cursor.execute("SET BABELFISH_STATISTICS PROFILE ON;")
        args = ", ".join(f"@{name} = ?" for name in params)
        cursor.execute(f"EXEC {procedure} {args};", *params.values())
        lines: list[str] = []
        while True:
            if cursor.description is not None and cursor.description[0][0].upper().startswith("QUERY PLAN"):
                lines.extend(str(row[0]) for row in cursor.fetchall())
            elif cursor.description is not None:
                cursor.fetchall()
            if not cursor.nextset():
                break
        cursor.execute("SET BABELFISH_STATISTICS PROFILE OFF;")
        return lines
    finally:
        db._pool.release(conn)


def procedures(settings: Settings) -> dict[str, tuple[str, dict[str, Any]]]:
    """For each timed call of ``bench.scale.lookups``, the procedure it runs and arguments like its own."""
    song_id, file_id = execute(settings, "SELECT TOP (1) Id, FileId FROM dbo.Songs ORDER BY UploadedAt DESC;")[0]
    job_id = execute(settings, "SELECT TOP (1) JobId FROM dbo.ProcessingJobs WHERE Status = 'completed';")[0][0]
    model = execute(settings, "SELECT TOP (1) ModelName FROM dbo.ProcessingJobs WHERE ModelName LIKE N'scale-%';")[0][0]
    return {
        "get_song": ("api.GetSongByFileId", {"FileId": file_id}),
        "get_song_by_id": ("api.GetSong", {"SongId": str(song_id)}),
        "get_job": ("api.GetJob", {"JobId": str(job_id)}),
        "list_jobs(status=queued)": ("api.ListJobs", {"Status": "queued", "Offset": 0, "Limit": 50}),
        "get_audit_trail(request_id)": ("api.GetAuditTrail", {"RequestId": "bulk-req-7", "Limit": 1000}),
        "job_summary()": ("ops.GetJobSummary", {"Limit": 50}),
        "claim_next_job + complete_job": (
            "worker.ClaimNextJob", {"WorkerId": "bench-plans", "ModelNames": json.dumps([model]), "LeaseSeconds": 300}),
        CONTROL: ("api.LogAudit", {"EntityType": "song", "EntityId": "control-plan", "Action": "viewed"}),
    }


def background(settings: Settings, engine: str) -> dict[str, Any] | None:
    """What the server does besides the bench (Babelfish: PostgreSQL's autovacuum workers and checkpoints)."""
    if engine != "babelfish":
        return None
    workers = execute(
        settings,
        "SELECT CAST(query AS nvarchar(400)) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'autovacuum worker';",
    )
    checkpoints = execute(settings, "SELECT checkpoints_timed + checkpoints_req FROM pg_catalog.pg_stat_bgwriter;")[0][0]
    return {"autovacuum": sorted(str(w[0]) for w in workers), "checkpoints": int(checkpoints)}


def settle(settings: Settings, engine: str, limit_s: float = 900) -> float:
    """Wait until no autovacuum worker has run for 5 s in a row; the seconds waited."""
    started = time.monotonic()
    quiet = 0
    while engine == "babelfish" and quiet < 5 and time.monotonic() - started < limit_s:
        state = background(settings, engine)
        quiet = quiet + 1 if state is not None and not state["autovacuum"] else 0
        time.sleep(1)
    return round(time.monotonic() - started, 1)


def statement_ms(lines: list[str]) -> float:
    """The sum of the profile's "Execution Time" lines: every statement the call ran, nested ones
    included (so counted more than once): an upper bound of the time its plans took on the server."""
    return round(sum(float(line.split(":")[1].split()[0]) for line in lines if line.strip().startswith("Execution Time:")), 3)


CONTROL = "log_audit (control: a one-row write)"
CPU = "cpu"  # not a call: the machine's CPU share busy while the calls ran


def cpu_sample() -> tuple[int, int]:
    """The machine's busy and total CPU jiffies so far (``/proc/stat``; zeros where there is none)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def calls(db: SongsDatabase, settings: Settings, n: int) -> dict[str, dict[str, float]]:
    """The scale bench's lookups and claim, and a control: the smallest write there is (one audit
    row, one commit, on an index that only appends). A claim slowed as much as the control is
    slowed by what every commit costs at that moment, not by how it finds its job. ``cpu_busy``:
    the share of the machine's CPUs busy while they ran (the bench and the server included), which
    says whether something else competed for the two cores."""
    busy0, total0 = cpu_sample()
    timings = lookups(db, settings, n)
    timings[CONTROL] = timed(lambda i: db.log_audit("song", f"control-{i}", "viewed"), n)
    busy1, total1 = cpu_sample()
    timings[CPU] = {"median_ms": 0.0, "p99_ms": 0.0, "n": 0,
                    "busy": round((busy1 - busy0) / max(total1 - total0, 1), 3)}
    return timings


@contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    """``count`` processes that keep a core busy each (the experiment ``--cpu-hogs``): what a call
    costs when something else on the machine competes with the server for its CPUs."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def one_round(server: Settings, engine: str, rows: int, n_calls: int, hogs: int = 0) -> dict[str, Any]:
    settings = server.with_database(f"songsdb_bench_ll_{os.getpid()}_{time.monotonic_ns() % 10**6}")
    Migrator(settings).create_database()
    Migrator(settings).migrate()
    try:
        load(settings, 100)
        execute(settings, "EXEC sp_updatestats;" if engine == "babelfish" else "EXEC sys.sp_updatestats;")  # as autovacuum would
        settle(settings, engine)
        with SongsDatabase(settings, pool_size=1, max_idle=3600, max_lifetime=3600) as db:
            before = calls(db, settings, n_calls)
            started = time.monotonic()
            load(settings, rows + 100)
            loaded_s = time.monotonic() - started
            during = [background(settings, engine)]
            with cpu_hogs(hogs):
                after = calls(db, settings, n_calls)
            during.append(background(settings, engine))
            ratios = {name: ratio_of(after, before, name) for name in timed_calls(before)}
            captured: dict[str, list[str]] = {}
            if engine == "babelfish":
                calls_by_name = procedures(settings)
                for name, ratio in ratios.items():
                    if ratio > SLOW:
                        procedure, params = calls_by_name[name]
                        captured[name] = plans(db, procedure, **params)
            # the same connection once the server's own work after the load (autovacuum) is done:
            # what is left of a slow call then is not the load's background work
            waited = settle(settings, engine)
            settled = calls(db, settings, n_calls)
            settled_ratios = {name: ratio_of(settled, before, name) for name in timed_calls(before)}
        # a new connection (a session that never planned these procedures) on the loaded tables: a call
        # as slow there as on the long-lived one costs what the bigger tables cost, not a cached plan
        with SongsDatabase(settings, pool_size=1) as new:
            fresh = calls(new, settings, n_calls)
        fresh_ratios = {name: ratio_of(fresh, before, name) for name in timed_calls(before)}
        return {
            "load_s": round(loaded_s, 1), "cpu_hogs_after_load": hogs, "before": before, "after": after, "ratios": ratios,
            "background_after_load": during, "settled_after_s": waited, "settled": settled,
            "settled_ratios": settled_ratios, "fresh": fresh, "fresh_ratios": fresh_ratios, "plans": captured,
            "plans_statement_ms": {name: statement_ms(lines) for name, lines in captured.items()},
        }
    finally:
        drop_database(server, settings.target_database, engine)


def timed_calls(timings: dict[str, dict[str, float]]) -> list[str]:
    return [name for name in timings if name != CPU]


def ratio_of(later: dict[str, dict[str, float]], before: dict[str, dict[str, float]], name: str) -> float:
    return later[name]["median_ms"] / max(before[name]["median_ms"], 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument(
        "--no-session-setup", action="store_true",
        help="skip the client's per-connection set-up (songsdb.statements.SESSION_SETUP), to see what it prevents",
    )
    parser.add_argument(
        "--cpu-hogs", type=int, default=0,
        help="an experiment: this many busy-loop processes run while the calls after the load are timed",
    )
    args = parser.parse_args()
    if args.no_session_setup:
        import songsdb.statements

        songsdb.statements.SESSION_SETUP = "SET NOCOUNT ON;"
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if not dsn:
        parser.error("set SONGSDB_TEST_DSN to an ODBC connection string for a login that may create databases")
    server = Settings(connection_string=dsn).with_database("master")
    engine = detect_server_engine(server)
    rounds = []
    for n in range(1, args.rounds + 1):
        result = one_round(server, engine, args.rows, args.calls, args.cpu_hogs)
        rounds.append(result)
        worst = max(result["ratios"].items(), key=lambda kv: kv[1])
        print(f"round {n}: loaded {args.rows} rows in {result['load_s']} s; worst ratio {worst[1]:.2f} ({worst[0]})", flush=True)
        print(f"  server besides the bench after the load: {result['background_after_load']}; settled after {result['settled_after_s']} s")
        print("  CPU busy while timed: before {:.0%}, after {:.0%}, settled {:.0%}, fresh {:.0%}".format(
            *(result[phase][CPU]["busy"] for phase in ("before", "after", "settled", "fresh"))))
        for name, ratio in result["ratios"].items():
            b, a = result["before"][name]["median_ms"], result["after"][name]["median_ms"]
            later = result["settled"][name]["median_ms"]
            plan_ms = result["plans_statement_ms"].get(name)
            print(
                f"  {name:32} {b:8.2f} ms -> {a:8.2f} ms  x{ratio:.2f}{'  SLOW' if ratio > SLOW else '      '}"
                f"  settled {later:8.2f} ms x{result['settled_ratios'][name]:.2f}"
                f"  fresh {result['fresh'][name]['median_ms']:8.2f} ms x{result['fresh_ratios'][name]:.2f}"
                + (f"  (its statements took at most {plan_ms} ms on the server)" if plan_ms is not None else "")
            )
    out = {
        "bench": "long_lived",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "driver": dsn.split(";", 1)[0],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": args.rows,
        "session_setup": not args.no_session_setup,
        "calls": args.calls,
        "cpu_hogs_after_load": args.cpu_hogs,
        "rounds": rounds,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"long-lived-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
