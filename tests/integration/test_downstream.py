"""A downstream project's tests (examples/downstream: no conftest.py, no fixtures of its own) pass
against the real engine, with songsdb's pytest plugin arriving only through its entry point.

The example is copied into a folder of its own, so nothing of this repository (pyproject.toml,
tests/conftest.py) is in its way, and run in a separate pytest process pointed at this session's
server. Without a server it skips with one line: tests/unit/test_testing_plugin.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from songsdb.config import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "downstream"
EXAMPLE_TESTS = 6


def test_the_downstream_example_passes_against_the_real_engine(server: Settings, tmp_path: Path) -> None:
    project = tmp_path / "service"
    shutil.copytree(EXAMPLE, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONGSDB_", "PYTEST_"))}
    env["SONGSDB_TEST_DSN"] = server.odbc()
    env["SONGSDB_REQUIRE_SERVER"] = "1"  # a skip would be a failure here
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = result.stdout + result.stderr
    assert "fixture 'songsdb_web' not found" not in output, (
        "the plugin's pytest11 entry point is not installed: pip install -e '.[test]'"
    )
    assert result.returncode == 0, output
    assert f"{EXAMPLE_TESTS} passed" in result.stdout and "skipped" not in result.stdout, output
