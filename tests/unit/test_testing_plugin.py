"""songsdb's pytest plugin without a server: it loads once, skips with one line, fails on request.

Each run here is a separate pytest process on a copy of examples/downstream (a project of its
own: no conftest.py, no pyproject.toml), with no SONGSDB_TEST_DSN and a Docker address where no
engine answers. The same example's run against a real engine is tests/integration/test_downstream.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from songsdb.config import Settings, parse_connection_string
from songsdb.testdb import _children_first, as_login, database_prefix
from songsdb.testing import ENABLE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "downstream"
EXAMPLE_TESTS = 6


def downstream_copy(tmp_path: Path) -> Path:
    target = tmp_path / "service"
    shutil.copytree(EXAMPLE, target)
    return target


def without_server(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONGSDB_", "PYTEST_"))}
    env["DOCKER_HOST"] = "unix:///nonexistent/songsdb-test-docker.sock"  # no engine answers there
    env.update(extra)
    return env


def run_pytest(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_example_is_a_project_of_its_own_without_a_conftest() -> None:
    assert (EXAMPLE / "test_service.py").is_file()
    assert not list(EXAMPLE.rglob("conftest.py")) and not (EXAMPLE / "pyproject.toml").exists()


def test_without_a_server_the_downstream_tests_skip_with_one_line(tmp_path: Path) -> None:
    result = run_pytest(downstream_copy(tmp_path), without_server(), "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{EXAMPLE_TESTS} skipped" in result.stdout and "passed" not in result.stdout
    hints = [line for line in result.stdout.splitlines() if "SONGSDB_TEST_DSN" in line]
    assert hints == [f"SKIPPED {EXAMPLE_TESTS} test(s): {ENABLE}"], result.stdout


@pytest.mark.parametrize("how", ["option", "environment"])
def test_requiring_a_server_turns_the_skip_into_a_failure(tmp_path: Path, how: str) -> None:
    env = without_server(SONGSDB_REQUIRE_SERVER="1") if how == "environment" else without_server()
    args = ("-q", "--songsdb-require-server") if how == "option" else ("-q",)
    result = run_pytest(downstream_copy(tmp_path), env, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{EXAMPLE_TESTS} errors" in result.stdout and "skipped" not in result.stdout
    assert "--songsdb-require-server or SONGSDB_REQUIRE_SERVER=1 makes this a failure" in result.stdout


def test_the_plugin_is_registered_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="pytest11") if ep.name == "songsdb"]
    assert [ep.value for ep in found] == ["songsdb.testing"], (
        "songsdb's pytest11 entry point is missing: reinstall (pip install -e '.[test]')"
    )


@pytest.mark.parametrize("autoload", ["1", ""])
def test_the_projects_own_tests_load_the_plugin_exactly_once(autoload: str) -> None:
    """With autoload (entry point, conftest steps aside) and without it (tests/conftest.py loads it)."""
    env = without_server(PYTEST_DISABLE_PLUGIN_AUTOLOAD=autoload) if autoload else without_server()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--fixtures", "tests/integration/conftest.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in (
        "songsdb_web", "songsdb_worker", "songsdb_ops", "songsdb_retention", "songsdb_web_client", "songsdb_worker_client",
        "songsdb_ops_client", "songsdb_database", "migrated", "fresh_database",
    ):
        assert name in result.stdout


def test_importing_the_plugin_loads_neither_pyodbc_nor_docker() -> None:
    code = "import sys, songsdb.testing; print(sorted(m for m in ('pyodbc', 'docker') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_database_names_carry_the_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    assert database_prefix("gw3") == "songsdb_test_gw3_"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw12")
    assert database_prefix() == "songsdb_test_gw12_"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert database_prefix() == "songsdb_test_"


def test_tables_are_emptied_children_first() -> None:
    # 1 songs <- 2 jobs <- 3 tracks; 3 -> 1 as well; 4 standalone; 5 references itself
    references = [(2, 1), (3, 2), (3, 1), (5, 5)]
    order = _children_first({1, 2, 3, 4, 5}, [r for r in references if r[0] != r[1]])
    assert order.index(3) < order.index(2) < order.index(1)
    assert sorted(order) == [1, 2, 3, 4, 5]


def test_a_role_login_replaces_only_the_credentials() -> None:
    admin = Settings(connection_string="DRIVER={FreeTDS};SERVER=h;PORT=1433;UID=sa;PWD=secret;DATABASE=db1;")
    role = as_login(admin, "songsdb_t1_web", "pw-123456789")
    assert parse_connection_string(role.odbc()) == {
        "DRIVER": "FreeTDS", "SERVER": "h", "PORT": "1433", "DATABASE": "db1", "UID": "songsdb_t1_web", "PWD": "pw-123456789",
    }
    assert "secret" not in role.odbc() and role.target_database == "db1"
