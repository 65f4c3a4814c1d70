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
    assert set(figures) == {"get_song", "create_song", "update_job_status", "claim_next_job"}
    assert all(f["songsdb"] > 0 and f["fake_alone"] > 0 for f in figures.values())
