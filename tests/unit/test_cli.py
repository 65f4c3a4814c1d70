"""The command line: help with examples everywhere, the offline DBA script, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from songsdb.batches import split_batches
from songsdb.cli import COMMANDS, build_parser, command, main, program
from songsdb.migrations import discover


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"Example: {program()} {command}" in out  # the way songsdb can be typed here (see test_commands_are_named_...)


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
    assert "CREATE PROCEDURE api.CreateSong" in text and "CREATE OR ALTER VIEW dbo.vw_JobSummary" in text
    assert "SET DEADLOCK_PRIORITY LOW;" in text  # rendered for SQL Server by default
    assert text.startswith(":on error exit\n")
    batches = [b for b in split_batches(text) if not b.is_empty]
    assert len(batches) > len(discover())


def test_script_renders_for_babelfish_when_asked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--env-file", str(tmp_path / "none"), "script", "--engine", "babelfish"]) == 0
    out = capsys.readouterr().out
    assert "engine babelfish" in out and "DEADLOCK_PRIORITY" not in out
    assert "DROP VIEW IF EXISTS dbo.vw_JobSummary;\nGO\nCREATE VIEW dbo.vw_JobSummary" in out  # no CREATE OR ALTER there


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


REPO = Path(__file__).resolve().parents[2]
VENV_SONGSDB = Path(sys.executable).parent / "songsdb"


def test_commands_are_named_as_they_can_be_typed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "venv" / "bin" / "songsdb"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "up"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert command("migrate") == "venv/bin/songsdb migrate"  # not on PATH: its path from here, as after scripts/setup
    monkeypatch.chdir(REPO)
    assert command("migrate") == f"{script} migrate"  # from elsewhere: the absolute path
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert command("migrate") == "songsdb migrate"  # the venv is active: the README's short form
    other = tmp_path / "other" / "songsdb"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", f"{other.parent}:/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert command("up") == "venv/bin/songsdb up"  # another songsdb on PATH is not this one


@pytest.mark.skipif(not VENV_SONGSDB.is_file(), reason="needs the songsdb script that scripts/setup installs in .venv/bin")
@pytest.mark.parametrize(("path", "expected"), [("/usr/bin:/bin", ".venv/bin/songsdb up"), (f"{VENV_SONGSDB.parent}:/usr/bin:/bin", "songsdb up")])
def test_a_message_names_the_command_the_way_the_readme_says_to_run_it(path: str, expected: str, tmp_path: Path) -> None:
    if VENV_SONGSDB.parent != REPO / ".venv" / "bin":
        pytest.skip("the README's form is for the checkout's own .venv")
    result = subprocess.run(
        [".venv/bin/songsdb", "--env-file", str(tmp_path / "none"), "backup"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={"PATH": path, "HOME": str(tmp_path)},
    )
    assert result.returncode == 1
    assert f"run {expected} first" in result.stderr


def test_the_librarys_own_suggestions_are_printed_as_they_can_be_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    import songsdb.cli as cli

    text = "start one with `songsdb up`, or run songsdb migrate; songsdb is fine; .venv/bin/songsdb status; songsdb_web"
    monkeypatch.setattr(cli, "program", lambda: ".venv/bin/songsdb")
    assert cli.as_typed(text) == (
        "start one with `.venv/bin/songsdb up`, or run .venv/bin/songsdb migrate; songsdb is fine; "
        ".venv/bin/songsdb status; songsdb_web"
    )
    monkeypatch.setattr(cli, "program", lambda: "songsdb")
    assert cli.as_typed(text) == text


@pytest.mark.skipif(not VENV_SONGSDB.is_file(), reason="needs the songsdb script that scripts/setup installs in .venv/bin")
def test_cannot_reach_the_server_suggests_up_the_way_it_can_be_typed(tmp_path: Path) -> None:
    pyodbc = pytest.importorskip("pyodbc")
    if not pyodbc.drivers():
        pytest.skip("needs an ODBC driver (scripts/setup installs FreeTDS)")
    if VENV_SONGSDB.parent != REPO / ".venv" / "bin":
        pytest.skip("the README's form is for the checkout's own .venv")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SONGSDB_SERVER": "127.0.0.1", "SONGSDB_PORT": "1",
           "SONGSDB_USER": "nobody", "SONGSDB_PASSWORD": "Secret123!", "SONGSDB_LOGIN_TIMEOUT": "3"}
    result = subprocess.run([".venv/bin/songsdb", "--env-file", str(tmp_path / "none"), "check"],
                            capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert result.returncode == 1
    assert "cannot reach SQL Server at 127.0.0.1:1" in result.stderr
    assert "`.venv/bin/songsdb up`" in result.stderr and "Secret123!" not in result.stderr


class FakeSongsDatabase:
    """A stand-in for SongsDatabase in the check command's tests (it proves nothing about a server)."""

    def __init__(self, settings: object = None, **kwargs: object) -> None:
        pass

    def __enter__(self) -> FakeSongsDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def server_version(self) -> str:
        return "Microsoft SQL Server 2022 (RTM-CU16)\nDeveloper Edition"


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        (("sqlserver", True), 0, "Read committed snapshot: on"),
        (("sqlserver", False), 1, "Read committed snapshot: OFF in SongsDB"),
        (("babelfish", None), 0, "does not apply on Babelfish"),
    ],
)
def test_check_reports_read_committed_snapshot(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, answer: object, code: int, says: str
) -> None:
    import songsdb.database
    import songsdb.migrator

    monkeypatch.setattr(songsdb.database, "SongsDatabase", FakeSongsDatabase)
    monkeypatch.setattr(songsdb.migrator, "read_committed_snapshot", lambda settings: answer)
    assert main(["--env-file", str(tmp_path / "none"), "check"]) == code
    captured = capsys.readouterr()
    assert "Database connection successful!" in captured.out
    assert says in captured.out + captured.err
    if code:
        assert "0014_read_committed_snapshot.sql" in captured.err and "WITH NO_WAIT" in captured.err


def test_migrate_creates_a_database_only_when_told(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import songsdb.migrator

    calls: list[bool] = []

    def migrate(self: object, create_database: bool = False) -> songsdb.migrator.MigrationReport:
        calls.append(create_database)
        return songsdb.migrator.MigrationReport("sqlserver", ())

    monkeypatch.setattr(songsdb.migrator.Migrator, "migrate", migrate)
    assert main(["--env-file", str(tmp_path / "none"), "migrate"]) == 0
    assert main(["--env-file", str(tmp_path / "none"), "migrate", "--create-database"]) == 0
    assert calls == [False, True]


def test_the_library_modules_do_not_import_the_cli() -> None:
    code = (
        "import sys, songsdb.local, songsdb.container, songsdb.volumes\n"
        "songsdb.container.no_engine_message(ConnectionError('refused'), None, True, False)\n"
        "print('songsdb.cli' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, songsdb.local, songsdb.cli; print('songsdb.cli' in sys.modules)"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert loaded.stdout.strip() == "True"  # the check can see the module when it is there


def test_library_messages_are_spelled_as_typed_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import songsdb.cli as cli
    import songsdb.local

    monkeypatch.setattr(cli, "program", lambda: "python3 -m songsdb")
    assert main(["--env-file", str(tmp_path / "none"), "backup"]) == 1  # an error songsdb.local raises
    assert capsys.readouterr().err == f"songsdb backup: {tmp_path / 'none'} has no administrator settings; run python3 -m songsdb up first\n"

    def fake_up(options: object, say: object = print) -> object:
        assert callable(say)
        say("next      songsdb check   (then songsdb status)")  # a line songsdb.local says
        return type("Result", (), {"server_version": "Microsoft SQL Server 2022"})()

    monkeypatch.setattr(songsdb.local, "up", fake_up)
    assert main(["--env-file", str(tmp_path / "none"), "up"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "next      python3 -m songsdb check   (then python3 -m songsdb status)"


def test_up_binds_to_127_0_0_1_unless_told(tmp_path: Path) -> None:
    import songsdb.cli as cli

    parser = build_parser()
    assert cli._up_options(parser.parse_args(["up"])).bind == "127.0.0.1"
    assert cli._up_options(parser.parse_args(["up", "--bind", "0.0.0.0", "--port", "14330"])).bind == "0.0.0.0"


def test_shell_passes_the_password_in_the_environment_not_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os
    import shutil

    env_file = tmp_path / ".env.songs-db"
    env_file.write_text("SONGSDB_ADMIN_USER=sa\nSONGSDB_ADMIN_PASSWORD=Sa$Pass=2\n")
    ran: list[tuple[str, list[str], dict[str, str]]] = []

    def execvpe(file: str, argv: list[str], env: dict[str, str]) -> None:
        ran.append((file, argv, env))

    def execvp(file: str, argv: list[str]) -> None:
        raise AssertionError("exec'd without an environment")

    monkeypatch.setattr(os, "execvpe", execvpe)
    monkeypatch.setattr(os, "execvp", execvp)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setenv("KEPT", "yes")
    main(["--env-file", str(env_file), "shell"])
    [(file, argv, env)] = ran
    assert file == "docker" and argv[:6] == ["docker", "exec", "-it", "-e", "SQLCMDPASSWORD", "songs-db"]
    assert not any("Sa$Pass=2" in word for word in argv)
    assert env["SQLCMDPASSWORD"] == "Sa$Pass=2" and env["KEPT"] == "yes"


def test_a_file_of_unknown_format_is_one_line_naming_the_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    songs = tmp_path / "songs.txt"
    songs.write_text("file_id,filename\na,a.mp3\n")
    assert main(["--env-file", str(tmp_path / "none"), "import", str(songs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"songsdb import: {songs}: unknown format 'txt'; ") and err.count("\n") == 1
    assert "csv" in err and "jsonl" in err and "--format" in err


@pytest.mark.parametrize("options", [[], ["--markdown"]])
def test_a_reader_that_has_gone_ends_the_output_quietly(options: list[str]) -> None:
    import os

    read, write = os.pipe()
    os.close(read)  # as `songsdb errors | head -1` once head has its line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "songsdb", "errors", *options], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, cwd=REPO,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")
    full = subprocess.run([sys.executable, "-m", "songsdb", "errors", *options], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert full.returncode == 0 and full.stdout.count("\n") > 10  # with a reader, the whole catalogue


def test_a_driver_error_is_one_line_even_from_a_subclass_defined_elsewhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import songsdb.cli as cli

    pyodbc = pytest.importorskip("pyodbc")

    class WrappedDriverError(pyodbc.OperationalError):  # type: ignore[misc, name-defined]
        """A driver error subclassed outside pyodbc (its __module__ is this test's)."""

    def raising(error: BaseException) -> object:
        def handler(args: object) -> int:
            raise error

        return handler

    summary, example = COMMANDS["errors"][1:]
    monkeypatch.setitem(cli.COMMANDS, "errors", (raising(WrappedDriverError("08S01", "[08S01] [FreeTDS][SQL Server]Link failure (0) (SQLExecDirectW)")), summary, example))
    assert main(["errors"]) == 1
    assert capsys.readouterr().err == "songsdb errors: database error: Link failure\n"
    monkeypatch.setitem(cli.COMMANDS, "errors", (raising(RuntimeError("a bug")), summary, example))
    with pytest.raises(RuntimeError, match="a bug"):  # anything else is not dressed up as a database error
        main(["errors"])
