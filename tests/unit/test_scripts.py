"""Every script in scripts/ is listed in scripts/README.md and calls a songsdb command that exists; setup
waits for another apt's lock, says what it does, and runs pip only when pyproject.toml changed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from songsdb.cli import COMMANDS

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
FILES = sorted(p for p in SCRIPTS.iterdir() if p.name != "README.md")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_script_is_listed_in_the_readme(path: Path) -> None:
    assert f"`scripts/{path.name}`" in (SCRIPTS / "README.md").read_text() or f"`{path.name}`" in (SCRIPTS / "README.md").read_text()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_songsdb_call_names_a_real_command(path: Path) -> None:
    code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    calls = re.findall(r"(?:bin/songsdb|^\s*songsdb) ([a-z][\w-]*)", code, re.MULTILINE)
    for command in calls:
        assert command in COMMANDS, f"{path.name} calls songsdb {command}"
    if path.name not in ("setup", "test"):
        assert calls, f"{path.name} calls no songsdb command"  # the pattern above finds the wrappers' calls


def test_the_wrappers_exist_in_both_shells() -> None:
    for name in ("setup-songs-db", "start-songs-db", "create-sql-volume"):
        assert (SCRIPTS / name).is_file() and (SCRIPTS / f"{name}.ps1").is_file()


# --- scripts/setup, run for real in a sandbox: stand-ins for apt-get, sudo, sleep, ldconfig and odbcinst on
# PATH, and a .venv whose python logs pip calls instead of running them (names say what is fake) ---

REPO = SCRIPTS.parent
FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$SANDBOX_LOG"
"""


def _sandbox(tmp_path: Path, odbc_installed: bool, lock_held_for: int = 0) -> tuple[Path, dict[str, str]]:
    """A copy of the checkout's scripts and pyproject.toml, a logging fake .venv, and fake system tools."""
    import shutil
    import sys

    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    for name in ("setup", "migrate", "test", "setup-songs-db"):
        shutil.copy(SCRIPTS / name, root / "scripts" / name)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    venv = root / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(
        f'#!/bin/sh\nif [ "$1" = "-m" ]; then echo "python $*" >> "$SANDBOX_LOG"; exit 0; fi\nexec {sys.executable} "$@"\n'
    )
    (venv / "songsdb").write_text(FAKE_TOOL)
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    tools = {
        "sudo": '#!/bin/sh\nexec "$@"\n',
        "sleep": FAKE_TOOL,
        "ldconfig": FAKE_TOOL + ("echo '\tlibodbc.so.2 (libc6,x86-64) => /usr/lib/libodbc.so.2'\n" if odbc_installed else ""),
        "odbcinst": FAKE_TOOL + ("echo '[FreeTDS]'\n" if odbc_installed else ""),
        "apt-get": FAKE_TOOL
        + f"""case "$*" in *" update"*)
    n=$(grep -c ' update' "$SANDBOX_LOG")
    if [ "$n" -le {lock_held_for} ]; then
        echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (unattended-upgr)" >&2; exit 100
    fi;;
esac
""",
    }
    for name, text in tools.items():
        (fake / name).write_text(text)
    for path in [*fake.iterdir(), *venv.iterdir()]:
        path.chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path), "SANDBOX_LOG": str(tmp_path / "calls.log")}
    (tmp_path / "calls.log").write_text("")
    return root, env


def _run(root: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *command], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_setup_waits_for_the_apt_lock_and_says_what_it_is_doing(tmp_path: Path) -> None:
    root, env = _sandbox(tmp_path, odbc_installed=False, lock_held_for=2)
    result = _run(root, env, "scripts/setup")
    assert result.returncode == 0, result.stderr
    apt = [c for c in _calls(tmp_path) if c.startswith("apt-get ")]
    assert [c.split()[-1] for c in apt if " update" in c] == ["update"] * 3  # retried while the lists were locked
    assert any("install" in c and "unixodbc" in c and "tdsodbc" in c for c in apt)
    assert all("-o DPkg::Lock::Timeout=300" in c for c in apt), apt
    out = result.stdout
    assert "setup: installing unixodbc tdsodbc" in out and "waiting for another apt-get to finish" in out
    assert "setup: installing songsdb and test tools (pip" in out
    assert out.strip().splitlines()[-1].startswith("setup: ready. Run songsdb as .venv/bin/songsdb")
    assert "Could not get lock" not in result.stderr  # waited for, not shown


def test_setup_runs_pip_only_when_pyproject_changed(tmp_path: Path) -> None:
    root, env = _sandbox(tmp_path, odbc_installed=True)
    assert _run(root, env, "scripts/setup").returncode == 0
    first = [c for c in _calls(tmp_path) if c.startswith("python -m pip")]
    assert any("install -q --disable-pip-version-check -e .[test]" in c for c in first)
    assert not any(c.startswith("apt-get") for c in _calls(tmp_path))  # ODBC present: no apt at all
    again = _run(root, env, "scripts/setup")
    assert [c for c in _calls(tmp_path) if c.startswith("python -m pip")] == first  # up to date: no pip
    assert again.stdout.strip().startswith("setup: ready.")
    quiet = _run(root, env, "scripts/migrate", "--help")
    assert quiet.stderr == "" and quiet.returncode == 0  # nothing to do, nothing said
    assert _calls(tmp_path)[-1] == "songsdb migrate --help"
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency\n")
    changed = _run(root, env, "scripts/setup-songs-db")
    assert len([c for c in _calls(tmp_path) if c.startswith("python -m pip install -q --disable-pip-version-check -e")]) == 2
    assert "setup: installing songsdb and test tools" in changed.stderr and "setup: ready." in changed.stderr
    assert _calls(tmp_path)[-1] == "songsdb up"


def test_setup_force_reinstalls(tmp_path: Path) -> None:
    root, env = _sandbox(tmp_path, odbc_installed=True)
    _run(root, env, "scripts/setup")
    _run(root, env, "scripts/setup", "--force")
    assert len([c for c in _calls(tmp_path) if "-e .[test]" in c]) == 2


def test_no_script_hides_what_setup_prints_or_skips_the_apt_lock_wait() -> None:
    for path in [*FILES, REPO / ".ci" / "run"]:
        text = path.read_text()
        assert "setup >/dev/null" not in text and "setup > /dev/null" not in text, path.name
        for line in text.splitlines():
            code = re.sub(r"\"[^\"]*\"|'[^']*'", '""', line.strip())  # what is quoted is text, not a call
            if code.startswith("#") or "command -v apt-get" in code:
                continue
            if re.search(r"\bapt-get\s", code):  # a call: it must wait for another apt's lock
                assert "-o DPkg::Lock::Timeout=" in code, (path.name, line)
