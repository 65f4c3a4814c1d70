"""The benchmark command is importable and its offline section runs (its figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_python_m_bench_lists_every_section() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for section in ("round-trips", "latency", "overhead", "bulk", "queue", "batch-claims", "scale", "imports"):
        assert section in done.stdout


def test_without_a_server_only_the_offline_sections_may_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "latency"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "set SONGSDB_TEST_DSN" in done.stderr


def test_the_overhead_section_measures_each_method_on_the_fake_driver() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.client_overhead import measure

    figures = measure(calls=50, repeats=1, echo=False)["per_call_us"]
    assert set(figures) - {"get_song+otel-noop", "get_song+otel-sdk"} == {"get_song", "create_song", "update_job_status", "claim_next_job"}
    assert all(f["songsdb"] > 0 and f["fake_alone"] > 0 for f in figures.values())


def test_the_upgrade_bench_needs_a_server_and_says_which_variable_to_set() -> None:
    done = subprocess.run(
        [sys.executable, "bench/upgrade_under_load.py", "--rows", "5000"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "set SONGSDB_TEST_DSN" in done.stderr


def test_the_upgrade_bench_runs_0045s_manual_step_as_the_ten_statements_of_its_if_block() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.upgrade_under_load import manual_steps
    from songsdb.config import Settings
    from songsdb.migrator import Migrator

    migrator = Migrator(Settings(connection_string="DRIVER={FreeTDS};SERVER=localhost;DATABASE=songsdb_offline;"))
    for engine, nocheck in (("babelfish", ""), ("sqlserver", "WITH NOCHECK ")):
        steps = manual_steps(migrator, engine, "schema/0045_songs_clustered_on_song_key.sql")
        tables = ("ProcessingJobs", "SeparatedTracks", "Transcriptions", "ChromaAnalysis")
        assert steps == [
            *(f"ALTER TABLE dbo.{t} DROP CONSTRAINT FK_{t}_Songs;" for t in tables),
            "ALTER TABLE dbo.Songs DROP CONSTRAINT PK_Songs;",
            "ALTER TABLE dbo.Songs ADD CONSTRAINT PK_Songs PRIMARY KEY CLUSTERED (SongKey);",
            *(f"ALTER TABLE dbo.{t} {nocheck}ADD CONSTRAINT FK_{t}_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id);" for t in tables),
        ]
    assert manual_steps(migrator, "sqlserver", "schema/0043_songs_key_not_null.sql") == [
        "ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL;"
    ]
