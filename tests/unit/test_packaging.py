"""A plain wheel carries the SQL files, py.typed and the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from songsdb.migrations import discover

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_every_sql_file_and_py_typed(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="hatchling is in the test extra")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("songsdb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for script in discover():
        assert f"songsdb/sql/{script.name}" in names
    assert "songsdb/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "songsdb = songsdb.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_importing_the_package_loads_neither_docker_nor_jinja2() -> None:
    code = "import sys, songsdb; from songsdb import SongsDatabase; print(sorted(m for m in ('docker', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
