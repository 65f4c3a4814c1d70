"""Every performance promise of songsdb, measured in one run against the server SONGSDB_TEST_DSN names.

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};...;DATABASE=master;' .venv/bin/python -m bench
    .venv/bin/python -m bench --only latency bulk          # some sections
    .venv/bin/python -m bench --only scale --scale-sizes 10000 1000000

Sections (each in a throwaway database of its own, dropped afterwards):
  round-trips  TDS requests per public method, counted by a loopback proxy (goal: 1)
  latency      median and p99 of get_song, create_song, update_job_status, claim + complete, beside raw
               pyodbc running the same text on the same connection, interleaved (goal: ratio <= 1.05)
  overhead     the client's own Python cost per call with the driver faked out (goal: <= 12 us)
  bulk         N songs through import_songs, through N create_song calls, and through
               fast_executemany INSERTs (goal: >= 25x the loop, no slower than fast_executemany)
  queue        1, 4 and 8 threads and processes claiming and completing jobs: jobs/s, p99 claim,
               double claims and lost jobs (goal: both 0)
  batch-claims 1, 4 and 8 processes draining --batch-jobs jobs with claim_next_jobs at batch 1 and 8:
               jobs/s, double claims and lost jobs (goal: batch 8 >= 5x the jobs/s of batch 1)
  scale        lookups, the claim and the cleanup at each --scale-sizes (bench/scale.py; goal: the
               largest within 1.5x of the smallest, cleanup rows/s the same, create_song p99 <= 2x idle)
  imports      `import songsdb` and `from songsdb import SongsDatabase` in a fresh interpreter
Prints as it goes and writes bench/results/bench-<UTC>.json. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `tests.integration.tds_proxy` for the round-trip section

from bench import client_overhead, scale, sections  # noqa: E402
from songsdb.config import Settings  # noqa: E402

SECTIONS = ("round-trips", "latency", "overhead", "bulk", "queue", "batch-claims", "scale", "imports")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation (latency, scale)")
    parser.add_argument("--bulk-rows", type=int, default=10_000)
    parser.add_argument("--queue-jobs", type=int, default=2_000)
    parser.add_argument("--batch-jobs", type=int, default=400, help="jobs each batch-claims run drains (kept short by default)")
    parser.add_argument("--scale-sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    chosen = args.only or list(SECTIONS)
    if dsn is None and set(chosen) - {"overhead", "imports"}:
        parser.error("set SONGSDB_TEST_DSN to an ODBC connection string for a login that may create databases")
    server = Settings(connection_string=dsn).with_database("master") if dsn else None
    out: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "driver": dsn.split(";")[0] if dsn else None,
    }
    if server is not None:
        out["server"] = str(scale.execute(server, "SELECT @@VERSION;")[0][0]).splitlines()[0]
        print(f"{out['server']}\n{out['driver']}\n{out['machine']}")
    for name in chosen:
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        if name == "overhead":
            out[name] = client_overhead.measure()
        elif name == "imports":
            out[name] = sections.import_cost()
        elif server is None:  # unreachable: parser.error above stops a run of these without SONGSDB_TEST_DSN
            raise RuntimeError(f"section {name} needs SONGSDB_TEST_DSN")
        elif name == "round-trips":
            out[name] = sections.round_trips(server)
        elif name == "latency":
            out[name] = sections.latency(server, args.calls)
        elif name == "bulk":
            out[name] = sections.bulk(server, args.bulk_rows)
        elif name == "queue":
            out[name] = sections.queue(server, args.queue_jobs)
        elif name == "batch-claims":
            out[name] = sections.batch_claims(server, args.batch_jobs)
        elif name == "scale":
            out[name] = scale.run(server, args.scale_sizes, args.calls, cleanup=True)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"bench-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
