"""The command line: help with examples everywhere, the offline DBA script, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from songsdb.batches import split_batches
from songsdb.cli import COMMANDS, build_parser, main
from songsdb.migrations import discover


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Example: songsdb" in out


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_script_writes_a_complete_deployment_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "deploy.sql"
    assert main(["--env-file", str(tmp_path / "none"), "script", "--all", "-o", str(target)]) == 0
    text = target.read_text()
    for script in discover():
        assert f"-- ===== {script.name} " in text
        assert f"N'{script.name}'" in text  # its history row
    assert "CREATE PROCEDURE api.CreateSong" in text and "CREATE VIEW dbo.vw_JobSummary" in text
    assert "SET DEADLOCK_PRIORITY LOW;" in text  # rendered for SQL Server by default
    batches = [b for b in split_batches(text) if not b.is_empty]
    assert len(batches) > len(discover())


def test_script_renders_for_babelfish_when_asked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--env-file", str(tmp_path / "none"), "script", "--engine", "babelfish"]) == 0
    out = capsys.readouterr().out
    assert "engine babelfish" in out and "DEADLOCK_PRIORITY" not in out


def test_a_library_error_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    env_file = tmp_path / ".env.songs-db"
    env_file.write_text("SONGSDB_DRIVER=No Such Driver\nSONGSDB_USER=sa\nSONGSDB_PASSWORD=Secret123!\n")
    result = subprocess.run(
        [sys.executable, "-m", "songsdb", "--env-file", str(env_file), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("songsdb check: ") and "Traceback" not in result.stderr
    assert "Secret123!" not in result.stderr + result.stdout


def test_bad_database_names_are_refused_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env-file", str(tmp_path / "none"), "--database", "x]; DROP", "migrate"]) == 1
    assert "database name" in capsys.readouterr().err
