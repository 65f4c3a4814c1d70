"""The migrator's decisions that need no server: which databases it opens, and how it waits for the lock.

The driver is faked (``tests/unit/fake_odbc.py``); what SQL Server does is for the integration suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyodbc
import pytest

from songsdb.config import Settings, load_settings, parse_connection_string
from songsdb.errors import DatabaseMissing, MaintenanceStepRequired, MigrationError
from songsdb.migrator import DdlRetry, Migrator

from .fake_odbc import FakeConnection, server_error

DSN = "DRIVER={FreeTDS};SERVER=dbhost;PORT=1433;UID=deployer;PWD=Secret-1;DATABASE=SongsDb_typo;"


def missing(database: str) -> pyodbc.Error:
    """Babelfish's answer (both drivers) for a DATABASE= that does not exist."""
    return pyodbc.OperationalError(
        "08004", f'[08004] [FreeTDS][SQL Server]database "{database}" does not exist (911) (SQLDriverConnect)'
    )


def sql_server_missing(database: str) -> pyodbc.Error:
    """SQL Server's: 4060, then 18456 "login failed" in a second record."""
    return pyodbc.InterfaceError(
        "42000",
        f'[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open database "{database}" requested '
        "by the login. The login failed. (4060) (SQLDriverConnect); [28000] [Microsoft][ODBC Driver 18 for SQL "
        "Server][SQL Server]Login failed for user 'deployer'. (18456)",
    )


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DATABASE= of every connection the code under test opens; each one fails as a missing database."""
    databases: list[str] = []

    def connect(text: str, **kwargs: Any) -> Any:
        database = parse_connection_string(text).get("DATABASE", "")
        databases.append(database)
        raise missing(database)

    monkeypatch.setattr(pyodbc, "connect", connect)
    return databases


def test_migrate_never_opens_master_and_a_missing_database_names_itself_and_the_option(opened: list[str]) -> None:
    with pytest.raises(DatabaseMissing) as info:
        Migrator(Settings(connection_string=DSN)).migrate()
    message = str(info.value)
    assert "'SongsDb_typo' does not exist on dbhost:1433" in message
    assert "songsdb migrate --create-database" in message and "Azure SQL Database" in message
    assert "Secret-1" not in message
    assert opened == ["SongsDb_typo"]  # never master: nothing was, or could have been, created


def test_only_create_database_goes_to_master(opened: list[str]) -> None:
    with pytest.raises(DatabaseMissing):
        Migrator(Settings(connection_string=DSN)).migrate(create_database=True)
    assert opened[0] == "master"


@pytest.mark.parametrize("command", ["status", "baseline"])
def test_status_and_baseline_never_create_a_database_either(opened: list[str], command: str) -> None:
    migrator = Migrator(Settings(connection_string=DSN))
    with pytest.raises(DatabaseMissing, match="--create-database"):
        migrator.status() if command == "status" else migrator.baseline(1)
    assert opened == ["SongsDb_typo"]


def test_sql_servers_cannot_open_database_is_a_missing_database_not_a_failed_login(monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(text: str, **kwargs: Any) -> Any:
        raise sql_server_missing("SongsDb_typo")

    monkeypatch.setattr(pyodbc, "connect", connect)
    with pytest.raises(DatabaseMissing, match="'SongsDb_typo' does not exist"):
        Migrator(Settings(connection_string=DSN)).migrate()


def test_a_migrator_waits_for_the_lock_disconnected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A waiting session in the database would make 0014's ALTER DATABASE ... WITH NO_WAIT fail."""
    answers = iter([-1, -999, 0])  # busy (SQL Server's and Babelfish's "not granted"), then granted
    connections: list[FakeConnection] = []

    def respond(sql: str, params: list[Any]) -> Any:
        if "sp_getapplock" in sql:
            assert "@LockTimeout = 0" in sql  # never waits inside the database
            return [(["result"], [(next(answers),)])]
        if sql.startswith("SET ") or "sp_releaseapplock" in sql:
            return []
        raise RuntimeError("stop here")  # the work under the lock is not this test's business

    def connect(text: str, **kwargs: Any) -> FakeConnection:
        if connections:
            assert all(c.closed for c in connections)  # the previous try disconnected first
        connections.append(FakeConnection(respond))
        return connections[-1]

    monkeypatch.setattr(pyodbc, "connect", connect)
    migrator = Migrator(Settings(connection_string=DSN))
    migrator.lock_poll_seconds = 0.01
    with pytest.raises(RuntimeError, match="stop here"):
        migrator.migrate()
    assert len(connections) == 3 and all(c.closed for c in connections)
    assert any("sp_releaseapplock" in sql for sql, _ in connections[-1].executed)  # released on the way out


def test_a_migrator_gives_up_after_its_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def respond(sql: str, params: list[Any]) -> Any:
        return [(["result"], [(-1,)])] if "sp_getapplock" in sql else []

    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: FakeConnection(respond))
    migrator = Migrator(Settings(connection_string=DSN), lock_timeout_ms=50)
    migrator.lock_poll_seconds = 0.01
    with pytest.raises(MigrationError, match=r"another migrator holds the lock 'songsdb.migrate.SongsDb_typo'"):
        migrator.migrate()


def test_every_migrator_session_bounds_its_lock_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = FakeConnection(lambda sql, params: [(["result"], [(-1,)])] if "sp_getapplock" in sql else [])
    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: conn)
    with pytest.raises(MigrationError):
        Migrator(Settings(connection_string=DSN), lock_timeout_ms=0).migrate()
    first = conn.executed[0][0]
    assert "QUOTED_IDENTIFIER ON" in first and "SET XACT_ABORT ON;" in first and "SET LOCK_TIMEOUT 1500;" in first


# ----- lock conflicts are tried again; a maintenance step stops the versioned scripts only (M1, M3, M4) -----


class Server:
    """A fake server for ``migrate``: an empty database; each script's batches answer as ``failures`` say."""

    def __init__(self, engine: str = "Microsoft SQL Server 2022", failures: dict[str, list[Exception | None]] | None = None) -> None:
        self.version = engine
        self.failures = failures or {}  # marker text in a batch -> what each of its runs does (None: succeeds)
        self.ran: list[str] = []  # the script batches that succeeded, by marker
        self.history: list[tuple[str, int, str | None]] = []  # (script, success, note)
        self.attempts: list[int | None] = []  # the Attempts of each history row (None: the column left out)
        self.history_failures: list[Exception] = []  # what the next successful history rows raise, in turn
        self.executed: list[str] = []

    def respond(self, sql: str, params: list[Any]) -> Any:
        self.executed.append(sql)
        if "sp_getapplock" in sql:
            return [(["result"], [(0,)])]
        if sql.startswith("SELECT @@VERSION"):
            return [(["v"], [(self.version,)])]
        if "OBJECT_ID(N'deploy.SchemaHistory', N'U')" in sql:
            return [(["id"], [(None,)])]
        if "INSERT INTO deploy.SchemaHistory" in sql:  # alone (a failure) or in the batch that ends a script
            insert = sql.split("INSERT INTO deploy.SchemaHistory", 1)[1]
            values = insert.split("VALUES (", 1)[1].split(");\n", 1)[0]
            name = values.split("'")[1]
            *_, success, note = values.rsplit(", ", 2)
            if int(success) and self.history_failures:
                return self.history_failures.pop(0)
            self.history.append((name, int(success), None if note == "NULL" else note[2:-1]))
            self.attempts.append(int(values.rsplit(", ", 3)[-3]) if "Attempts" in insert.split("VALUES", 1)[0] else None)
            return []
        for marker, outcomes in self.failures.items():
            if marker in sql:
                outcome = outcomes.pop(0) if outcomes else None
                if outcome is not None:
                    return outcome
                self.ran.append(marker)
                return []
        return []


def sql_tree(tmp_path: Path) -> Path:
    files = {
        "schema/0001_first.sql": "CREATE TABLE dbo.First (Id int NOT NULL); -- first\n",
        "schema/0002_step.sql": "-- songsdb:maintenance-step\n/* a step for a window */\nPRINT N'step';\nGO\n",
        "schema/0003_after.sql": "CREATE TABLE dbo.After (Id int NOT NULL); -- after\n",
        "procs/api.Proc.sql": "IF OBJECT_ID(N'api.Proc', N'P') IS NULL EXEC (N'CREATE PROCEDURE api.Proc AS RETURN 0;');\nGO\nALTER PROCEDURE api.Proc AS RETURN 1; -- proc\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "views").mkdir()
    return tmp_path


def lock_timeout() -> Exception:
    return server_error(1222, "HYT00", "Lock request time out period exceeded.")


def babelfish_lock_timeout() -> Exception:
    return server_error(33557097, "42000", "canceling statement due to lock timeout")


def migrator_on(monkeypatch: pytest.MonkeyPatch, server: Server, root: Path) -> tuple[Migrator, list[float]]:
    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: FakeConnection(server.respond))
    migrator = Migrator(Settings(connection_string=DSN), root=root)
    slept: list[float] = []
    migrator.sleep = slept.append
    return migrator, slept


@pytest.mark.parametrize("conflict", [lock_timeout, babelfish_lock_timeout, lambda: server_error(1205, "40001", "deadlock victim")])
def test_a_script_that_loses_a_lock_is_rolled_back_tried_again_and_recorded_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture, conflict: Any
) -> None:
    server = Server(failures={"-- after": [conflict(), conflict(), None]})
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    with caplog.at_level("WARNING", logger="songsdb.migrate"):
        report = migrator.migrate()
    assert "schema/0003_after.sql" in report.applied and server.ran == ["-- after"]
    assert [h for h in server.history if h[0] == "schema/0003_after.sql"] == [("schema/0003_after.sql", 1, None)]
    retries = [r.getMessage() for r in caplog.records if "lost a lock" in r.getMessage()]
    assert len(retries) == 2 and "attempt 2 of 6" in retries[0] and "attempt 3 of 6" in retries[1]
    assert len(slept) == 2 and 0.25 <= slept[0] <= 0.5 and 0.5 <= slept[1] <= 1.0  # half to all of 0.5 s doubling
    rollbacks = [i for i, sql in enumerate(server.executed) if sql == "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;"]
    assert len(rollbacks) == 2


def test_a_script_that_keeps_losing_the_lock_fails_after_its_attempts_with_one_history_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = Server(failures={"-- first": [lock_timeout() for _ in range(3)]})
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    migrator.ddl_retry = DdlRetry(attempts=3, base_delay=0.1, max_delay=0.15)
    with pytest.raises(MigrationError, match=r"schema/0001_first.sql: batch 1 of 1 .* failed \(after 3 tries\): Lock request"):
        migrator.migrate()
    assert server.history == [("schema/0001_first.sql", 0, None)]
    assert len(slept) == 2 and 0.05 <= slept[0] <= 0.1 and 0.075 <= slept[1] <= 0.15  # capped at max_delay


def test_another_failure_is_never_tried_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = Server(failures={"-- first": [server_error(208, "42S02", "Invalid object name 'dbo.Nope'.")]})
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    with pytest.raises(MigrationError, match=r"schema/0001_first.sql: batch 1 of 1 \(starting at line 1\) failed: Invalid"):
        migrator.migrate()
    assert slept == [] and server.history == [("schema/0001_first.sql", 0, None)]


def test_the_migrators_session_is_the_deadlock_victim_on_sql_server_and_not_asked_on_babelfish(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = sql_tree(tmp_path)
    for version, asked in (("Microsoft SQL Server 2022", True), ("Babelfish for PostgreSQL with SQL Server Compatibility", False)):
        server = Server(engine=version)
        migrator, _ = migrator_on(monkeypatch, server, root)
        migrator.migrate()
        priority = [i for i, sql in enumerate(server.executed) if "SET DEADLOCK_PRIORITY LOW;\n" in sql]
        first_script = next(i for i, sql in enumerate(server.executed) if "-- first" in sql)
        assert bool(priority) == asked and not any("DEADLOCK_PRIORITY" in sql for sql in server.executed if not asked)
        if asked:
            assert priority[0] < first_script


# ----- every try starts from the migrator's settings; the history row and COMMIT are in the try (s8) -----


def script_runs(server: Server, marker: str) -> list[int]:
    return [i for i, sql in enumerate(server.executed) if marker in sql and "INSERT INTO deploy.SchemaHistory" not in sql]


def settings_before(server: Server, index: int) -> str:
    """The last statement before ``index`` that is neither BEGIN TRANSACTION nor a ROLLBACK."""
    return next(
        sql for sql in reversed(server.executed[:index])
        if sql not in ("BEGIN TRANSACTION;", "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
    )


def test_every_try_of_every_script_starts_from_the_migrators_session_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A script (or a failed try) may leave LOCK_TIMEOUT -1, XACT_ABORT OFF, IMPLICIT_TRANSACTIONS ON behind."""
    from songsdb.migrations import build_deployment_script, session_settings

    server = Server(failures={"-- after": [lock_timeout(), None]})
    migrator, _ = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    migrator.migrate()
    expected = session_settings("sqlserver", 1500)
    for marker in ("-- first", "-- after", "IF OBJECT_ID(N'api.Proc', N'P') IS NULL"):  # each script's first batch
        runs = script_runs(server, marker)
        assert runs and all(settings_before(server, i) == expected for i in runs), marker
    assert len(script_runs(server, "-- after")) == 2  # the retry too
    for setting in ("SET LOCK_TIMEOUT 1500;", "SET XACT_ABORT ON;", "SET IMPLICIT_TRANSACTIONS OFF;", "SET DEADLOCK_PRIORITY LOW;",
                    "QUOTED_IDENTIFIER ON;", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED;", "SET NOCOUNT ON;"):
        assert setting in expected
    # the history row is written under them too, and the DBA script's header is the same list
    rows = [sql for sql in server.executed if "INSERT INTO deploy.SchemaHistory" in sql and "COMMIT TRANSACTION;" in sql]
    assert rows and all(sql.startswith(expected) for sql in rows)
    assert expected in build_deployment_script(migrator.rendered("sqlserver")[:1], "sqlserver").split("\nGO\n", 1)[0]


@pytest.mark.parametrize("conflict", [lock_timeout, lambda: server_error(1205, "40001", "deadlock victim")])
def test_a_lock_lost_on_the_history_row_or_at_commit_rolls_the_script_back_and_tries_it_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conflict: Any
) -> None:
    server = Server()
    server.history_failures = [conflict()]  # the first script's row, in its transaction
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    migrator.migrate()
    first = [i for i, sql in enumerate(server.executed) if "-- first" in sql and "INSERT" not in sql]
    assert len(first) == 2 and len(slept) == 1  # the whole script again, after a back-off
    rollback = server.executed.index("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
    assert first[0] < rollback < first[1]  # rolled back before the retry: never recorded but rolled back
    assert [(n, ok) for n, ok, _ in server.history][:1] == [("schema/0001_first.sql", 1)]
    assert server.attempts[0] == 2


@pytest.mark.parametrize("conflict", [lock_timeout, babelfish_lock_timeout])
def test_a_no_transaction_script_whose_batches_ran_retries_only_its_history_row_counted_in_attempts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture, conflict: Any
) -> None:
    """The Babelfish arms of 0016/0023/0025-0031 are unguarded CREATE INDEX: run again, they fail "already exists"."""
    root = sql_tree(tmp_path)
    (root / "schema/0001_first.sql").write_text(
        "-- songsdb:no-transaction\nCREATE INDEX IX_First_Id ON dbo.First (Id) WITH (ONLINE = ON, RESUMABLE = ON); -- first\nGO\nPRINT N'second'; -- two\n"
    )
    already = server_error(1913, "42S11", "The operation failed because an index or statistics with name 'IX_First_Id' already exists")
    server = Server(failures={"-- first": [None, already]})  # a second run of the body would fail
    server.history_failures = [conflict(), conflict()]  # the row loses its lock twice
    migrator, slept = migrator_on(monkeypatch, server, root)
    with caplog.at_level("WARNING", logger="songsdb.migrate"):
        migrator.migrate()
    assert len(script_runs(server, "-- first")) == 1 and len(script_runs(server, "-- two")) == 1  # the body ran once
    assert len(slept) == 2
    assert [(n, ok) for n, ok, _ in server.history][:1] == [("schema/0001_first.sql", 1)] and server.attempts[0] == 3
    retries = [r.getMessage() for r in caplog.records if "lost a lock" in r.getMessage()]
    assert len(retries) == 2 and all(
        m.startswith("schema/0001_first.sql: its history row (after its 2 batches) lost a lock") and "its batches ran and are kept" in m
        for m in retries
    )
    rows = [i for i, sql in enumerate(server.executed) if "INSERT INTO deploy.SchemaHistory" in sql and "schema/0001_first.sql" in sql]
    assert len(rows) == 3 and all(settings_before(server, i) == session_settings_text() for i in rows[1:])  # each retry from its settings


def session_settings_text() -> str:
    from songsdb.migrations import session_settings

    return session_settings("sqlserver", 1500)


def test_a_failed_history_row_that_is_not_a_lock_conflict_rolls_back_and_is_recorded_as_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = Server()
    server.history_failures = [server_error(50000, "42000", "songsdb: schema/0001_first.sql left 1 transaction(s) open")]
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    with pytest.raises(MigrationError, match=r"schema/0001_first.sql: its history row and COMMIT \(after its 1 batch\) failed: "
                       r"songsdb: schema/0001_first.sql left 1 transaction"):
        migrator.migrate()
    assert slept == [] and server.history == [("schema/0001_first.sql", 0, None)] and server.attempts == [1]
    assert "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;" in server.executed


def test_the_batch_that_ends_a_script_checks_it_left_no_transaction_open_and_commits_only_its_own() -> None:
    from songsdb.migrations import Script, history_insert, record_batch, render, template_context

    context = template_context("sqlserver", "SongsDB")
    transactional = render(Script("schema/0001_a.sql", "versioned", 1, "CREATE TABLE dbo.A (Id int);\n"), context)
    bare = render(Script("schema/0002_b.sql", "versioned", 2, "-- songsdb:no-transaction\nSELECT 1;\n"), context)
    one = record_batch(transactional, history_insert(transactional, True, 5, attempts=2), "sqlserver")
    other = record_batch(bare, history_insert(bare, True, 5, attempts=1), "sqlserver")
    assert "IF @@TRANCOUNT <> 1" in one and one.rstrip().endswith("COMMIT TRANSACTION;")
    assert "IF @@TRANCOUNT <> 0" in other and "COMMIT TRANSACTION" not in other
    assert one.index("SET IMPLICIT_TRANSACTIONS OFF;") < one.index("IF @@TRANCOUNT") < one.index("INSERT INTO deploy.SchemaHistory")
    assert "DurationMs, Attempts, Success, Note)" in one and "5, 2, 1, NULL);" in one


def test_the_open_transaction_message_says_the_script_is_not_recorded_as_applied_and_only_its_open_transaction_is_rolled_back() -> None:
    """Under migrate a failure row is written, and a no-transaction script keeps what it committed before (DBA m7)."""
    from songsdb.migrations import Script, history_insert, record_batch, render, template_context

    bare = render(Script("schema/0002_b.sql", "versioned", 2, "-- songsdb:no-transaction\nSELECT 1;\n"), template_context("sqlserver", "SongsDB"))
    text = record_batch(bare, history_insert(bare, True, 5, attempts=1), "sqlserver")
    assert (
        "a script must commit what it begins. It is not recorded as applied; what it did since its transaction opened is "
        "rolled back.', 16, 1, @Open);" in text
    )
    assert "It is rolled back and not recorded" not in text


# ----- one deadline for the retries of a deploy (s8) -----


class SteadyRetry(DdlRetry):
    """Back-offs of exactly ``max_delay`` (no jitter), so a test knows where the deadline falls."""

    def delay(self, attempt: int, rng: Any = None) -> float:
        return self.max_delay


def test_the_retries_stop_at_their_deadline_with_the_last_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = Server(failures={"-- first": [lock_timeout() for _ in range(6)]})
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    migrator.ddl_retry = SteadyRetry(attempts=6, base_delay=1.0, max_delay=1.0, seconds=2.5)  # room for two back-offs
    with pytest.raises(MigrationError, match=r"schema/0001_first.sql: batch 1 of 1 .* failed \(after 3 tries\): Lock request .*"
                       r"not tried again: this deploy's retries reached their deadline of 2.5 s \(SONGSDB_DDL_RETRY_SECONDS\)"):
        migrator.migrate()
    assert slept == [1.0, 1.0]  # not the 5 back-offs that 6 attempts allow
    assert server.history == [("schema/0001_first.sql", 0, None)] and server.attempts == [3]


def test_the_deadline_is_one_for_the_whole_deploy_not_one_per_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = Server(failures={"-- first": [lock_timeout(), None], "-- after": [lock_timeout(), lock_timeout(), None]})
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    migrator.ddl_retry = SteadyRetry(attempts=6, base_delay=1.0, max_delay=1.0, seconds=2.5)
    with pytest.raises(MigrationError, match=r"schema/0003_after.sql: .*failed \(after 2 tries\).*deadline of 2.5 s"):
        migrator.migrate()
    assert slept == [1.0, 1.0]  # one for 0001, one for 0003; a third would end past 2.5 s in all
    assert ("schema/0001_first.sql", 1, None) in server.history


def test_the_deadline_comes_from_songsdb_ddl_retry_seconds_and_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from songsdb.errors import ConfigurationError

    assert DdlRetry().seconds == 120.0 and DdlRetry.from_setting(None).seconds == 120.0
    assert DdlRetry.from_setting("45").seconds == 45.0
    assert DdlRetry.from_setting("0").seconds == 0.0  # never retried
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(ConfigurationError, match="SONGSDB_DDL_RETRY_SECONDS must be a number of seconds"):
            DdlRetry.from_setting(bad)
    monkeypatch.setenv("SONGSDB_DDL_RETRY_SECONDS", "7.5")
    assert Migrator(load_settings(connection_string=DSN, env_file=None)).ddl_retry.seconds == 7.5
    with pytest.raises(ValueError):
        DdlRetry(seconds=-1)


def test_the_retry_deadline_is_read_from_the_env_file_like_every_setting_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SONGSDB_DDL_RETRY_SECONDS", raising=False)
    env_file = tmp_path / ".env.songs-db"
    env_file.write_text("SONGSDB_DDL_RETRY_SECONDS=42\n")
    settings = load_settings(env={}, env_file=env_file, connection_string=DSN)
    assert settings.ddl_retry_seconds == "42" and Migrator(settings).ddl_retry.seconds == 42.0
    in_environment = load_settings(env={"SONGSDB_DDL_RETRY_SECONDS": "9"}, env_file=env_file, connection_string=DSN)
    assert Migrator(in_environment).ddl_retry.seconds == 9.0
    assert Migrator(load_settings(env={}, env_file=None, connection_string=DSN)).ddl_retry.seconds == 120.0  # the default
    assert Migrator(Settings(connection_string=DSN), ddl_retry=DdlRetry(seconds=3)).ddl_retry.seconds == 3  # given wins


def test_a_bad_retry_deadline_stops_migrate_before_it_connects_and_never_status_or_the_offline_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from songsdb.errors import ConfigurationError

    env_file = tmp_path / ".env.songs-db"
    env_file.write_text("SONGSDB_DDL_RETRY_SECONDS=soon\n")
    settings = load_settings(env={}, env_file=env_file, connection_string=DSN)  # the clients never read it
    server = Server()
    connects: list[str] = []

    def connect(text: str, **kwargs: Any) -> FakeConnection:
        connects.append(text)
        return FakeConnection(server.respond)

    monkeypatch.setattr(pyodbc, "connect", connect)
    migrator = Migrator(settings, root=sql_tree(tmp_path))
    assert migrator.status()[0] == "sqlserver"  # status retries nothing
    text, _, _ = migrator.script("babelfish")  # nor does the offline script
    assert "schema/0001_first.sql" in text
    connects.clear()
    with pytest.raises(ConfigurationError, match="SONGSDB_DDL_RETRY_SECONDS must be a number of seconds, 0 or more \\(got 'soon'\\)"):
        migrator.migrate()
    assert connects == []  # refused before it touched the server


# ----- the history records the tries (s8) -----


def test_the_history_records_how_many_tries_each_script_took(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = Server(failures={"-- after": [lock_timeout(), lock_timeout(), None]})
    migrator, _ = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    migrator.migrate()
    assert list(zip([n for n, _, _ in server.history], server.attempts)) == [
        ("schema/0001_first.sql", 1), ("schema/0002_step.sql", 1), ("schema/0003_after.sql", 3), ("procs/api.Proc.sql", 1)
    ]
    bootstrap = next(sql for sql in server.executed if "CREATE TABLE deploy.SchemaHistory" in sql)
    assert "Attempts int NULL" in bootstrap
    assert any("ALTER TABLE deploy.SchemaHistory ADD Attempts int NULL;" in sql for sql in server.executed)  # an older history


def test_a_failed_no_transaction_index_script_names_the_resumable_build_it_left_paused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = sql_tree(tmp_path)
    (root / "schema" / "0004_index.sql").write_text(
        "-- songsdb:no-transaction\nCREATE INDEX IX_After_Id ON dbo.After (Id) WITH (ONLINE = ON, RESUMABLE = ON); -- build\n"
    )
    server = Server(failures={"-- build": [server_error(1219, "42000", "Your session has been disconnected because of a high priority DDL operation.")]})
    respond = server.respond

    def with_paused(sql: str, params: list[Any]) -> Any:
        if "sys.index_resumable_operations" in sql:
            return [(["s", "t", "i", "p"], [("dbo", "After", "IX_After_Id", 40)])]
        return respond(sql, params)

    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: FakeConnection(with_paused))
    migrator = Migrator(Settings(connection_string=DSN), root=root)
    with pytest.raises(MigrationError) as info:
        migrator.migrate()
    message = str(info.value)
    assert "schema/0004_index.sql: batch 1 of 1" in message
    assert "A RESUMABLE index build of this script is paused, not rolled back: [IX_After_Id] on [dbo].[After] (40% done)" in message
    assert "ALTER INDEX [IX_After_Id] ON [dbo].[After] ABORT;" in message


@pytest.mark.parametrize("ours", [True, False], ids=["with-this-scripts-build", "only-a-dbas-build"])
def test_the_paused_build_advice_names_only_this_scripts_builds_never_a_dbas_unrelated_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ours: bool
) -> None:
    root = sql_tree(tmp_path)
    (root / "schema" / "0004_index.sql").write_text(
        "-- songsdb:no-transaction\n/* resumes IX_Dba_Rebuild? no: only its own */\n"
        "EXEC (N'CREATE INDEX [IX_After_Id] ON [dbo].[After] (Id) WITH (ONLINE = ON, RESUMABLE = ON);'); -- build\n"
    )
    server = Server(failures={"-- build": [server_error(1219, "42000", "Your session has been disconnected because of a high priority DDL operation.")]})
    respond = server.respond
    paused = [("dbo", "Songs", "IX_Dba_Rebuild", 10), ("dbo", "Other", "IX_After_Id", 70)]  # a DBA's, started earlier
    if ours:
        paused.append(("dbo", "After", "IX_After_Id", 40))

    def with_paused(sql: str, params: list[Any]) -> Any:
        if "sys.index_resumable_operations" in sql:
            return [(["s", "t", "i", "p"], paused)]
        return respond(sql, params)

    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: FakeConnection(with_paused))
    with pytest.raises(MigrationError) as info:
        Migrator(Settings(connection_string=DSN), root=root).migrate()
    message = str(info.value)
    assert "IX_Dba_Rebuild" not in message and "[dbo].[Songs]" not in message and "[dbo].[Other]" not in message
    if ours:
        assert "paused, not rolled back: [IX_After_Id] on [dbo].[After] (40% done)." in message
        assert message.count(" ABORT;") == 1 and message.endswith("give it up with ALTER INDEX [IX_After_Id] ON [dbo].[After] ABORT;")
    else:
        assert "RESUMABLE" not in message and "ABORT" not in message


def refused(version: str = "0002") -> Exception:
    return server_error(50000, "42000", f"{version}: dbo.First holds more than 10,000 rows: run it in a maintenance window")


def test_a_maintenance_step_that_refuses_stops_the_versioned_scripts_and_still_applies_the_procedures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = Server(failures={"PRINT N'step'": [refused()]})
    migrator, slept = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    with pytest.raises(MaintenanceStepRequired) as info:
        migrator.migrate()
    error = info.value
    assert isinstance(error, MigrationError) and error.script == "schema/0002_step.sql"
    assert error.applied == ("schema/0001_first.sql", "procs/api.Proc.sql")  # not 0003, which comes after the step
    assert "schema/0002_step.sql is a maintenance-window step and refused to run: 0002: dbo.First holds" in str(error)
    assert "Songs' internal key" in str(error) and "migrate again" in str(error)
    assert not any("-- after" in sql for sql in server.executed)
    assert any("ALTER PROCEDURE api.Proc" in sql for sql in server.executed)
    assert [(n, ok) for n, ok, _ in server.history] == [
        ("schema/0001_first.sql", 1), ("schema/0002_step.sql", 0), ("procs/api.Proc.sql", 1)
    ]
    assert server.history[1][2] is not None and server.history[1][2].startswith("refused: 0002: dbo.First holds")
    assert slept == []


@pytest.mark.parametrize(
    "failure",
    [
        server_error(50000, "42000", "0001: a message naming another script"),  # not the step's own number
        server_error(50000, "42000", "dbo.First holds more than 10,000 rows in a maintenance window"),  # no number
        server_error(50000, "42000", "0002: some rows are not numbered yet: deploy again"),  # names no window (0043's other message)
        server_error(2627, "23000", "0002: Violation of PRIMARY KEY constraint"),  # a server error, not RAISERROR
        lock_timeout(),  # ... tried again, then a failure like any other
    ],
)
def test_anything_else_a_maintenance_step_raises_is_a_failure_that_stops_everything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failure: Exception
) -> None:
    server = Server(failures={"PRINT N'step'": [failure] * 6})
    migrator, _ = migrator_on(monkeypatch, server, sql_tree(tmp_path))
    with pytest.raises(MigrationError) as info:
        migrator.migrate()
    assert not isinstance(info.value, MaintenanceStepRequired)
    assert not any("ALTER PROCEDURE api.Proc" in sql for sql in server.executed)


def test_a_refusal_in_a_script_that_is_not_a_maintenance_step_is_a_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = sql_tree(tmp_path)
    server = Server(failures={"-- after": [refused("0003")]})
    migrator, _ = migrator_on(monkeypatch, server, root)
    with pytest.raises(MigrationError, match="schema/0003_after.sql: batch 1") as info:
        migrator.migrate()
    assert not isinstance(info.value, MaintenanceStepRequired)


def test_the_back_off_is_bounded_and_never_close_to_zero() -> None:
    policy = DdlRetry()
    assert (policy.attempts, policy.base_delay, policy.max_delay) == (6, 0.5, 8.0)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
    with pytest.raises(ValueError):
        DdlRetry(attempts=0)
