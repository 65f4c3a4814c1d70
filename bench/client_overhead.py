"""The client's own Python cost per call, with the driver faked out (its own time excluded).

    .venv/bin/python bench/client_overhead.py [--calls 5000] [--repeats 21]

For each of get_song, create_song, update_job_status and claim_next_job it times N calls through
SongsDatabase on an in-memory connection that answers with a canned row, then the same number of
bare fake executions (what raw pyodbc would cost against the same fake), in turns, and reports the
median difference per call: what songsdb adds. Goal: at most 12 µs per call on the project's machine.
The four run without an OpenTelemetry observer (as without the ``otel`` extra: one attribute check
per call); ``get_song+otel-noop`` and ``get_song+otel-sdk`` time get_song with the observer on the
API's no-op provider and on the SDK's (a span processor that keeps nothing), when installed.
Prints a table and writes bench/results/client-overhead-<UTC>.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.models import Job, Song, columns
from songsdb.pool import ConnectionPool

RESULTS = Path(__file__).parent / "results"
NOW = datetime(2026, 1, 1, 12, 0, 0)
SONG = (str(uuid.uuid4()), "f", "t", "a", None, "a.mp3", None, 1, 2.0, "mp3", NOW, NOW, None, "uploaded")
JOB = (
    str(uuid.uuid4()), str(uuid.uuid4()), "demucs", "separation", "running", 3, None, "r", 0, 1, 3,
    NOW, NOW, NOW, NOW, None, None, None, None, "w", str(uuid.uuid4()), NOW, "worker",
)


class FakeCursor:
    description: list[tuple[str]] | None

    def __init__(self, names: list[str], row: tuple[Any, ...]) -> None:
        self.names, self.row = names, row
        self.description = None

    def execute(self, sql: str, params: list[Any]) -> FakeCursor:
        self.description = [(n,) for n in self.names]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [self.row]

    def nextset(self) -> bool:
        return False

    def close(self) -> None:
        pass


class FakeConnection:
    autocommit = True

    def cursor(self) -> FakeCursor:
        return FakeCursor(list(columns(Job)), JOB) if self.job_next else FakeCursor(list(columns(Song)), SONG)

    job_next = False

    def close(self) -> None:
        pass


def per_call(fn: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def measure(calls: int = 5_000, repeats: int = 21, echo: bool = True) -> dict[str, Any]:
    """Per-call cost of each method through SongsDatabase, of the bare fake, and the difference.

    The two are timed in turns, ``repeats`` pairs of ``calls`` calls each, and the difference is
    taken within each pair: a noisy neighbour (this machine is a VM with two cores) then slows both
    halves of a pair alike instead of only one of them. ``added`` is the median of the pairs'
    differences; ``added_best`` the smallest, what the code costs when nothing interferes.
    """
    fake = FakeConnection()
    db = SongsDatabase(Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;"))
    db._pool = ConnectionPool(lambda: fake, max_size=1, max_idle=3600)
    job_id = uuid.uuid4()
    db._observer = None  # as without opentelemetry installed: the call checks one attribute
    cases: dict[str, tuple[bool, Callable[[], Any]]] = {
        "get_song": (False, lambda: db.get_song("f")),
        "create_song": (False, lambda: db.create_song("f", "a.mp3", title="t", artist="a")),
        "update_job_status": (True, lambda: db.update_job_status(job_id, "running", progress=3)),
        "claim_next_job": (True, lambda: db.claim_next_job("w1", job_types=["separation"])),
    }
    cases.update(_traced_cases(fake))
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "calls": calls,
        "repeats": repeats,
        "per_call_us": {},
    }
    if echo:
        print(f"{'method':<20}{'songsdb µs':>12}{'fake alone µs':>15}{'added µs':>10}{'best µs':>9}")
    for name, (job, call) in cases.items():
        fake.job_next = job
        raw_cursor = fake.cursor()

        def bare(cursor: FakeCursor = raw_cursor) -> None:  # this iteration's cursor, bound when defined
            cursor.execute("EXEC x;", [])
            cursor.fetchall()
            cursor.nextset()

        call()  # warm-up: plans and prepared texts are made once
        pairs = [(per_call(call, calls), per_call(bare, calls)) for _ in range(repeats)]
        added = [total - alone for total, alone in pairs]
        row = {
            "songsdb": statistics.median(total for total, _ in pairs),
            "fake_alone": statistics.median(alone for _, alone in pairs),
            "added": statistics.median(added),
            "added_best": min(added),
        }
        results["per_call_us"][name] = row
        if echo:
            print(f"{name:<20}{row['songsdb']:12.2f}{row['fake_alone']:15.2f}{row['added']:10.2f}{row['added_best']:9.2f}")
    return results


def _traced_cases(fake: FakeConnection) -> dict[str, tuple[bool, Callable[[], Any]]]:
    """get_song with an OpenTelemetry observer: on the API's no-op provider, and on the SDK's."""
    from songsdb import telemetry

    if not telemetry.available():
        return {}
    cases: dict[str, tuple[bool, Callable[[], Any]]] = {}
    providers: list[tuple[str, Any, Any]] = [("get_song+otel-noop", None, None)]
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SpanProcessor())  # spans are made and recorded, then dropped
        providers.append(("get_song+otel-sdk", tracer_provider, MeterProvider()))
    except ImportError:
        pass
    for name, tracer, meter in providers:
        traced = SongsDatabase(Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;"))
        traced._pool = ConnectionPool(lambda: fake, max_size=1, max_idle=3600)
        if tracer is None:
            from opentelemetry.metrics import NoOpMeterProvider
            from opentelemetry.trace import NoOpTracerProvider

            tracer, meter = NoOpTracerProvider(), NoOpMeterProvider()
        telemetry.instrument(traced, tracer_provider=tracer, meter_provider=meter)
        cases[name] = (False, functools.partial(traced.get_song, "f"))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5_000, help="calls in each timed turn")
    parser.add_argument("--repeats", type=int, default=21, help="pairs of turns (songsdb, then the bare fake)")
    args = parser.parse_args()
    results = measure(args.calls, args.repeats)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"client-overhead-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
