"""The migrator against a real engine: from empty, idempotent, drift, failures, concurrency, the DBA script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from songsdb.config import Settings
from songsdb.errors import MigrationError
from songsdb.migrations import build_deployment_script, discover, sql_root
from songsdb.migrator import Migrator

from .helpers import history, objects, query, run_script, scalar


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    root = tmp_path / "sql"
    shutil.copytree(sql_root(), root)
    return root


def test_migrate_from_empty_creates_every_object_and_records_every_script(fresh_database: Settings) -> None:
    report = Migrator(fresh_database).migrate()
    names = [s.name for s in discover()]
    assert list(report.applied) == names
    found = objects(fresh_database)
    for table in ("songs", "processingjobs", "separatedtracks", "transcriptions", "chromaanalysis", "auditlog"):
        assert ("dbo", table, "U") in found
    assert ("dbo", "vw_jobsummary", "V") in found
    assert ("dbo", "sp_cleanupolddata", "P") in found
    assert [(n, ok) for n, _, ok in history(fresh_database)] == [(n, True) for n in names]


def test_a_second_migrate_changes_nothing(migrated: Settings) -> None:
    before = history(migrated)
    report = Migrator(migrated).migrate()
    assert report.applied == ()
    assert history(migrated) == before
    assert all(s.state == "applied" for s in Migrator(migrated).status()[1])


def test_an_edited_versioned_script_is_refused_naming_the_file_and_both_checksums(
    migrated: Settings, sql_copy: Path
) -> None:
    target = sql_copy / "schema" / "0002_create_songs.sql"
    target.write_text(target.read_text() + "\n-- an innocent-looking edit\n")
    before = history(migrated)
    with pytest.raises(MigrationError, match=r"schema/0002_create_songs.sql was edited") as info:
        Migrator(migrated, root=sql_copy).migrate()
    assert str(info.value).count("checksum") == 2
    assert history(migrated) == before


def test_an_edited_procedure_is_reapplied_and_only_it(fresh_database: Settings, sql_copy: Path) -> None:
    Migrator(fresh_database, root=sql_copy).migrate()
    proc = sql_copy / "procs" / "dbo.sp_CleanupOldData.sql"
    proc.write_text(proc.read_text() + "\n-- edited for the test\n")
    report = Migrator(fresh_database, root=sql_copy).migrate()
    assert report.applied == ("procs/dbo.sp_CleanupOldData.sql",)
    assert [n for n, _, _ in history(fresh_database)].count("procs/dbo.sp_CleanupOldData.sql") == 2


def test_a_failing_script_rolls_back_is_recorded_and_applies_after_the_fix(
    fresh_database: Settings, sql_copy: Path
) -> None:
    Migrator(fresh_database, root=sql_copy).migrate()
    broken = sql_copy / "schema" / "0900_broken.sql"
    broken.write_text(
        "CREATE TABLE dbo.HalfDone (Id int NOT NULL);\nGO\nINSERT INTO dbo.HalfDone (Id) VALUES (1);\nGO\n"
        "INSERT INTO dbo.NoSuchTable (Id) VALUES (1);\nGO\n"
    )
    with pytest.raises(MigrationError, match=r"schema/0900_broken.sql: batch 3 of 3 \(starting at line 5\)"):
        Migrator(fresh_database, root=sql_copy).migrate()
    assert scalar(fresh_database, "SELECT OBJECT_ID(N'dbo.HalfDone', N'U');") is None
    assert ("schema/0900_broken.sql", False) in [(n, ok) for n, _, ok in history(fresh_database)]

    broken.write_text("CREATE TABLE dbo.HalfDone (Id int NOT NULL);\nGO\nINSERT INTO dbo.HalfDone (Id) VALUES (1);\nGO\n")
    assert Migrator(fresh_database, root=sql_copy).migrate().applied == ("schema/0900_broken.sql",)
    assert scalar(fresh_database, "SELECT COUNT(*) FROM dbo.HalfDone;") == 1


def test_two_migrators_started_together_apply_each_script_exactly_once(fresh_database: Settings) -> None:
    command = [sys.executable, "-m", "songsdb", "--connection-string", fresh_database.odbc(), "migrate"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    names = [n for n, _, ok in history(fresh_database) if ok]
    assert sorted(names) == sorted(s.name for s in discover())


def test_the_script_output_builds_the_same_database_as_migrate(
    migrated: Settings, fresh_database: Settings, engine: str
) -> None:
    migrator = Migrator(fresh_database)
    text = build_deployment_script(migrator.rendered(engine), engine)
    run_script(fresh_database, text)
    assert objects(fresh_database) == objects(migrated)
    assert [(n, c) for n, c, _ in history(fresh_database)] == [(n, c) for n, c, _ in history(migrated)]
    assert Migrator(fresh_database).migrate().applied == ()


def test_baseline_marks_scripts_applied_without_running_them(fresh_database: Settings) -> None:
    marked = Migrator(fresh_database).baseline(2)
    assert marked == ["schema/0001_create_interface_schema_and_role.sql", "schema/0002_create_songs.sql"]
    assert scalar(fresh_database, "SELECT OBJECT_ID(N'dbo.Songs', N'U');") is None
    with pytest.raises(MigrationError, match="baseline version 0999"):
        Migrator(fresh_database).baseline(999)


def quoted_identifier_off_modules(settings: Settings) -> list[str]:
    """Procedures and views SQL Server recorded with QUOTED_IDENTIFIER OFF (empty is what it needs)."""
    from .helpers import query

    sql = (
        "SELECT OBJECT_NAME(m.object_id) FROM sys.sql_modules AS m INNER JOIN sys.objects AS o "
        "ON o.object_id = m.object_id WHERE o.is_ms_shipped = 0 AND m.uses_quoted_identifier = 0;"
    )
    return [str(r[0]) for r in query(settings, sql)]


def test_the_dba_script_creates_the_database_and_runs_under_sqlcmds_session_defaults(
    server: Settings, databases, migrated: Settings, engine: str
) -> None:
    """sqlcmd without -I connects with QUOTED_IDENTIFIER OFF: the script's header must undo that."""
    name = f"songsdb_test_script_{__import__('uuid').uuid4().hex[:8]}"
    databases.names.append(name)
    target = server.with_database(name)
    text = build_deployment_script(Migrator(target).rendered(engine), engine, create_database=name)
    run_script(server, "SET QUOTED_IDENTIFIER OFF;\nSET ANSI_NULLS OFF;\nGO\n" + text)  # as sqlcmd -b -i, from master
    assert objects(target) == objects(migrated)
    if engine == "sqlserver":  # Babelfish records no such setting (sys.sql_modules is empty there)
        assert len(query(target, "SELECT 1 FROM sys.sql_modules;")) > 40
        assert quoted_identifier_off_modules(target) == []
    assert Migrator(target).migrate().applied == ()
    # the filtered indexes accept writes through the objects the script made
    from songsdb.database import SongsDatabase

    with SongsDatabase(target) as db:
        job = db.create_job(db.create_song("script-file", "a.mp3"), "demucs", "separation")
        assert db.claim_next_job("w1", model_names=["demucs"]).id == job


def test_helpers_are_applied_before_the_procedures_that_call_them() -> None:
    order = [s.name for s in discover()]
    assert order.index("procs/core.CheckLease.sql") < order.index("procs/worker.CompleteJob.sql")
    assert order.index("procs/core.ReturnJob.sql") < order.index("procs/api.UpdateJobStatus.sql")
    assert order.index("procs/dbo.sp_CleanupOldData.sql") < order.index("procs/ops.CleanupOldData.sql")
    assert order.index("views/dbo.vw_JobSummary.sql") < order.index("procs/ops.GetJobSummary.sql")


def test_a_repeatable_script_removed_after_its_object_moved_is_retired_not_drift(fresh_database: Settings, sql_copy: Path) -> None:
    Migrator(fresh_database, root=sql_copy).migrate()
    (sql_copy / "procs" / "ops.GetQueueStatus.sql").unlink()
    states = {s.name: s.state for s in Migrator(fresh_database, root=sql_copy).status()[1]}
    assert states["procs/ops.GetQueueStatus.sql"] == "retired"
    assert Migrator(fresh_database, root=sql_copy).migrate().applied == ()


def test_a_mistyped_database_is_an_error_naming_it_and_the_option_and_creates_nothing(
    server: Settings, databases
) -> None:
    import uuid

    from songsdb.errors import DatabaseMissing

    name = f"songsdb_test_typo_{uuid.uuid4().hex[:8]}"
    target = server.with_database(name)
    with pytest.raises(DatabaseMissing, match=rf"'{name}' does not exist .*songsdb migrate --create-database"):
        Migrator(target).migrate()
    assert scalar(server, "SELECT DB_ID(?);", name) is None
    with pytest.raises(DatabaseMissing, match=name):
        Migrator(target).status()
    assert scalar(server, "SELECT DB_ID(?);", name) is None
    databases.names.append(name)  # dropped at the end of the session
    report = Migrator(target).migrate(create_database=True)  # asked for: made, then migrated
    assert scalar(server, "SELECT DB_ID(?);", name) is not None
    assert list(report.applied) == [s.name for s in discover()]


def probe_tree(tmp_path: Path) -> Path:
    """A sql/ tree with one script, so that a guard that let a deploy through would leave little to clean up."""
    root = tmp_path / "probe_sql"
    for folder in ("schema", "views", "procs"):
        (root / folder).mkdir(parents=True)
    (root / "schema" / "0001_probe.sql").write_text("CREATE TABLE dbo.songsdb_guard_probe (Id int NOT NULL);\n")
    return root


def leftovers_in_master(server: Settings) -> list[object]:
    return [
        scalar(server, "SELECT OBJECT_ID(N'dbo.songsdb_guard_probe', N'U');"),
        scalar(server, "SELECT OBJECT_ID(N'deploy.SchemaHistory', N'U');"),
    ]


def test_neither_migrate_nor_the_dba_script_deploys_into_a_system_database(
    server: Settings, tmp_path: Path, engine: str
) -> None:
    assert leftovers_in_master(server) == [None, None]
    root = probe_tree(tmp_path)
    try:
        with pytest.raises(MigrationError, match="refusing to deploy into the system database master"):
            Migrator(server, root=root).migrate()  # server's settings name master
        assert leftovers_in_master(server) == [None, None]
        import pyodbc

        text = build_deployment_script(Migrator(server, root=root).rendered(engine), engine)
        with pytest.raises(pyodbc.Error, match="refusing to deploy into the system database master"):
            run_script(server, text)  # as sqlcmd -b -i, without -d: the login's default database
        assert leftovers_in_master(server) == [None, None]
    finally:  # only if a guard let something through
        query(server, "DROP TABLE IF EXISTS dbo.songsdb_guard_probe; DROP TABLE IF EXISTS deploy.SchemaHistory;")
        query(server, "IF SCHEMA_ID(N'deploy') IS NOT NULL EXEC (N'DROP SCHEMA deploy');")


def test_the_dba_script_stops_everything_when_its_sqlcmd_first_batch_did_not_run(fresh_database: Settings, engine: str) -> None:
    """A client without SQLCMD mode fails to parse the first batch (":on error exit") and carries on."""
    import pyodbc

    from songsdb.batches import split_batches

    text = build_deployment_script(Migrator(fresh_database).rendered(engine), engine)
    first = split_batches(text)[0]
    without_first = text[len(first.text + first.separator):]
    with pytest.raises(pyodbc.Error, match="run this script with sqlcmd"):
        run_script(fresh_database, without_first)
    assert scalar(fresh_database, "SELECT OBJECT_ID(N'deploy.SchemaHistory', N'U');") is None


def test_a_script_blocked_by_an_open_transaction_is_tried_again_and_readers_never_wait_past_the_claims_bound(
    fresh_database: Settings, sql_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """M3: the DDL waits at most DDL_LOCK_TIMEOUT_MS per try, so a reader queued behind it never waits 2 s.

    2 s is the lock bound the claim procedures set for themselves (SET LOCK_TIMEOUT 2000); the reader
    here sets the same, and a read that waited longer would fail with a lock timeout. The other
    session keeps its transaction open until the migrator has given up twice.
    """
    import logging
    import threading
    import time

    import pyodbc

    Migrator(fresh_database, root=sql_copy).migrate()
    query(fresh_database, "INSERT INTO dbo.Songs (Id, FileId, FileName) VALUES (NEWID(), N'held', N'a.mp3');")
    (sql_copy / "schema" / "0900_lock_probe.sql").write_text("ALTER TABLE dbo.Songs ADD LockProbe int NULL;\n")

    holder = pyodbc.connect(fresh_database.odbc(), autocommit=True, timeout=30)
    holder.cursor().execute("BEGIN TRANSACTION; UPDATE dbo.Songs SET Title = N'held' WHERE FileId = N'held';")
    gave_up = threading.Event()
    done = threading.Event()
    reads: list[float] = []
    failures: list[BaseException] = []

    class GaveUp(logging.Handler):
        seen = 0

        def emit(self, record: logging.LogRecord) -> None:
            if "lost a lock" in record.getMessage():
                self.seen += 1
                if self.seen >= 2:
                    gave_up.set()

    def release() -> None:
        gave_up.wait(timeout=90)  # after two tries; the previous code waited 30 s in one
        holder.cursor().execute("ROLLBACK TRANSACTION;")

    def reader() -> None:
        conn = pyodbc.connect(fresh_database.odbc(), autocommit=True, timeout=30)
        try:
            cursor = conn.cursor()
            cursor.execute("SET LOCK_TIMEOUT 2000;")
            while not done.is_set():
                started = time.monotonic()
                try:
                    cursor.execute("SELECT COUNT(*) FROM dbo.Songs;").fetchall()
                    reads.append(time.monotonic() - started)
                except pyodbc.Error as exc:  # a lock timeout: the reader waited 2 s
                    failures.append(exc)
                time.sleep(0.05)
        finally:
            conn.close()

    handler = GaveUp()
    logger = logging.getLogger("songsdb.migrate")
    logger.addHandler(handler)
    threads = [threading.Thread(target=release), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    try:
        with caplog.at_level(logging.WARNING, logger="songsdb.migrate"):
            report = Migrator(fresh_database, root=sql_copy).migrate()
    finally:
        done.set()
        gave_up.set()
        for thread in threads:
            thread.join(timeout=60)
        logger.removeHandler(handler)
        holder.close()

    assert report.applied == ("schema/0900_lock_probe.sql",)
    retries = [r.getMessage() for r in caplog.records if "lost a lock" in r.getMessage()]
    assert len(retries) >= 2 and all(m.startswith("schema/0900_lock_probe.sql: batch 1 (line 1) lost a lock") for m in retries)
    assert [(n, ok) for n, _, ok in history(fresh_database) if n == "schema/0900_lock_probe.sql"] == [
        ("schema/0900_lock_probe.sql", True)  # the tries that lost the lock are not recorded
    ]
    assert scalar(fresh_database, "SELECT COL_LENGTH(N'dbo.Songs', N'LockProbe');") is not None
    assert failures == [] and len(reads) >= 5
    print(f"reads {len(reads)}, longest {max(reads):.2f} s, retries {len(retries)}")


# ----- the DBA's second reading of the migrator (session 8) ------------------------------------------


def history_rows(settings: Settings, name: str) -> list[tuple[bool, object]]:
    """(Success, Attempts) of every row of ``name``, oldest first."""
    return [
        (bool(ok), attempts)
        for ok, attempts in query(settings, "SELECT Success, Attempts FROM deploy.SchemaHistory WHERE ScriptName = ? ORDER BY Id;", name)
    ]


def test_what_a_script_sets_on_the_session_does_not_carry_over_to_the_next_script(fresh_database: Settings, sql_copy: Path) -> None:
    """IMPLICIT_TRANSACTIONS ON left by one script opened a transaction around its history row that nobody
    committed, and every later script nested in it: at the end of the session all of it was rolled back."""
    Migrator(fresh_database, root=sql_copy).migrate()
    (sql_copy / "schema" / "0900_session_changes.sql").write_text(
        "-- songsdb:no-transaction\n/* changes the session, as a careless script may (past the linter, with a lint-ok) */\n"
        + "".join(
            f"{setting} -- songsdb:lint-ok session-setting-in-versioned-script what this test is about\n"
            for setting in ("SET IMPLICIT_TRANSACTIONS ON;", "SET XACT_ABORT OFF;", "SET LOCK_TIMEOUT -1;")
        )
    )
    (sql_copy / "schema" / "0901_after_session_changes.sql").write_text("CREATE TABLE dbo.AfterSessionChanges (Id int NOT NULL);\n")
    report = Migrator(fresh_database, root=sql_copy).migrate()
    assert report.applied == ("schema/0900_session_changes.sql", "schema/0901_after_session_changes.sql")
    assert scalar(fresh_database, "SELECT OBJECT_ID(N'dbo.AfterSessionChanges', N'U');") is not None  # committed, seen by another session
    assert history_rows(fresh_database, "schema/0900_session_changes.sql") == [(True, 1)]
    assert history_rows(fresh_database, "schema/0901_after_session_changes.sql") == [(True, 1)]
    assert Migrator(fresh_database, root=sql_copy).migrate().applied == ()


@pytest.mark.parametrize("transactional", [True, False], ids=["in-a-transaction", "no-transaction"])
def test_a_lock_lost_on_the_history_row_rolls_the_script_back_and_it_is_applied_and_recorded_once_with_its_tries(
    fresh_database: Settings, sql_copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, transactional: bool
) -> None:
    """Another session holds deploy.SchemaHistory (an open ALTER TABLE) when the script's row is written, once.

    In a transaction the first try is rolled back whole and run again; without one its batches ran and
    are committed, so only the row is tried again (the unguarded CREATE TABLE would fail "already exists")."""
    import logging

    import pyodbc

    import songsdb.migrator
    from songsdb.migrator import DdlRetry

    Migrator(fresh_database, root=sql_copy).migrate()
    name = "schema/0900_history_probe.sql"
    (sql_copy / "schema" / "0900_history_probe.sql").write_text(
        ("" if transactional else "-- songsdb:no-transaction\n")
        + "CREATE TABLE dbo.HistoryProbe (Id int NOT NULL);\nGO\nINSERT INTO dbo.HistoryProbe (Id) VALUES (1);\n"
    )
    holder = pyodbc.connect(fresh_database.odbc(), autocommit=True, timeout=30)
    held: list[bool] = []
    original = songsdb.migrator.history_insert

    def holding(item, success, *args, **kwargs):  # type: ignore[no-untyped-def]
        if item.name == name and success:
            if not held:  # the first try's row: the table is taken just before it is written
                holder.cursor().execute("BEGIN TRANSACTION; ALTER TABLE deploy.SchemaHistory ADD HolderProbe int NULL;")
                held.append(True)
            elif len(held) == 1:  # the retry's: let go first
                holder.cursor().execute("ROLLBACK TRANSACTION;")
                held.append(False)
        return original(item, success, *args, **kwargs)

    monkeypatch.setattr(songsdb.migrator, "history_insert", holding)
    try:
        with caplog.at_level(logging.WARNING, logger="songsdb.migrate"):
            report = Migrator(fresh_database, root=sql_copy, ddl_retry=DdlRetry(attempts=3, base_delay=0.2, max_delay=0.2)).migrate()
    finally:
        if len(held) == 1:
            holder.cursor().execute("ROLLBACK TRANSACTION;")
        holder.close()
    assert report.applied == (name,) and held == [True, False]
    retries = [r.getMessage() for r in caplog.records if "lost a lock" in r.getMessage()]
    what = "its history row and COMMIT" if transactional else "its history row"
    assert len(retries) == 1 and retries[0].startswith(f"{name}: {what} (after its 2 batches) lost a lock")
    assert ("rolled back" in retries[0]) is transactional and ("its batches ran and are kept" in retries[0]) is not transactional
    # the first try rolled back whole (in a transaction), or its body run once (without one)
    assert scalar(fresh_database, "SELECT COUNT(*) FROM dbo.HistoryProbe;") == 1
    assert history_rows(fresh_database, name) == [(True, 2)]
    assert scalar(fresh_database, "SELECT COL_LENGTH(N'deploy.SchemaHistory', N'HolderProbe');") is None


def test_a_history_made_by_an_earlier_release_gets_its_attempts_column_during_the_deploy(
    fresh_database: Settings, sql_copy: Path
) -> None:
    Migrator(fresh_database, root=sql_copy).migrate()
    query(fresh_database, "ALTER TABLE deploy.SchemaHistory DROP COLUMN Attempts;")  # as the previous release made it
    (sql_copy / "schema" / "0900_after_upgrade.sql").write_text("CREATE TABLE dbo.AfterUpgrade (Id int NOT NULL);\n")
    states = {s.name: s.state for s in Migrator(fresh_database, root=sql_copy).status()[1]}  # read-only: works without it
    assert states["schema/0900_after_upgrade.sql"] == "pending" and states["schema/0001_create_interface_schema_and_role.sql"] == "applied"
    assert Migrator(fresh_database, root=sql_copy).migrate().applied == ("schema/0900_after_upgrade.sql",)
    assert history_rows(fresh_database, "schema/0900_after_upgrade.sql") == [(True, 1)]
    assert history_rows(fresh_database, "schema/0001_create_interface_schema_and_role.sql") == [(True, None)]  # not known then


def test_a_pending_dba_script_stopped_by_a_maintenance_step_leaves_this_releases_procedures_in_place(
    fresh_database: Settings, sql_copy: Path
) -> None:
    """With sqlcmd a refusal exits the script: the procedures must not wait behind it (the DBA's item 6)."""
    import pyodbc

    from songsdb.errors import MaintenanceStepRequired

    Migrator(fresh_database, root=sql_copy).migrate()
    (sql_copy / "schema" / "0900_window_step.sql").write_text(
        "-- songsdb:maintenance-step\n/* refuses, as 0045 does on a large table */\n"
        "RAISERROR (N'0900: dbo.Songs is too large to change online: run it in a maintenance window', 16, 1);\nRETURN;\n"
    )
    (sql_copy / "schema" / "0901_after_window_step.sql").write_text("CREATE TABLE dbo.AfterWindowStep (Id int NOT NULL);\n")
    proc = sql_copy / "procs" / "ops.GetQueueStatus.sql"
    proc.write_text(proc.read_text() + "\n-- this release's version\n")
    text, _, items = Migrator(fresh_database, root=sql_copy).script()
    names = [i.name for i in items]
    # the procedure comes before the step (what a refusal leaves), and again after the versioned scripts
    assert names.index("procs/ops.GetQueueStatus.sql") < names.index("schema/0900_window_step.sql")
    assert names.count("procs/ops.GetQueueStatus.sql") == 2 and names[-1] == "procs/ops.GetQueueStatus.sql"
    with pytest.raises(pyodbc.Error, match="0900: dbo.Songs is too large"):
        run_script(fresh_database, text)  # as sqlcmd -b: the refusal exits
    states = {s.name: s.state for s in Migrator(fresh_database, root=sql_copy).status()[1]}
    assert states["procs/ops.GetQueueStatus.sql"] == "applied"  # this release's procedure, in place and recorded
    assert states["schema/0900_window_step.sql"] == "pending" and states["schema/0901_after_window_step.sql"] == "pending"
    assert scalar(fresh_database, "SELECT OBJECT_ID(N'dbo.AfterWindowStep', N'U');") is None
    with pytest.raises(MaintenanceStepRequired):  # and migrate agrees: the step is next, nothing else is
        Migrator(fresh_database, root=sql_copy).migrate()
