"""Every script in scripts/ is listed in scripts/README.md and calls a songsdb command that exists."""

from __future__ import annotations

import re
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
    for command in re.findall(r"songsdb (\w[\w-]*)", code):
        assert command in COMMANDS, f"{path.name} calls songsdb {command}"


def test_the_wrappers_exist_in_both_shells() -> None:
    for name in ("setup-songs-db", "start-songs-db", "create-sql-volume"):
        assert (SCRIPTS / name).is_file() and (SCRIPTS / f"{name}.ps1").is_file()
