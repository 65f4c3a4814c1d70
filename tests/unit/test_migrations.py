"""Discovery, ordering, templating, checksums and plans: everything the migrator decides offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from songsdb.batches import split_batches
from songsdb.errors import MigrationError
from songsdb.migrations import (
    DDL_LOCK_TIMEOUT_MS,
    MAINTENANCE_STEPS,
    RCSI_SCRIPT,
    AppliedRow,
    Script,
    SESSION_OPTIONS,
    build_deployment_script,
    checksum,
    dependency_order,
    deployment_guards,
    references,
    strip_comments,
    discover,
    drift_message,
    plan,
    render,
    sql_root,
    template_context,
)

CTX = template_context("sqlserver", "SongsDB")


def make_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"schema/.keep": "", "views/.keep": "", "procs/.keep": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_versioned_scripts_run_in_number_order_then_views_then_procs(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "schema/0010_later.sql": "SELECT 10;",
            "schema/0002_earlier.sql": "SELECT 2;",
            "procs/api.B.sql": "SELECT 'b';",
            "procs/api.a.sql": "SELECT 'a';",
            "views/dbo.vw_X.sql": "SELECT 'v';",
        },
    )
    names = [s.name for s in discover(root)]
    assert names == [
        "schema/0002_earlier.sql",
        "schema/0010_later.sql",
        "views/dbo.vw_X.sql",
        "procs/api.a.sql",
        "procs/api.B.sql",
    ]
    assert [s.version for s in discover(root)][:2] == [2, 10]


def test_a_contract_step_marked_after_repeatables_runs_after_the_procedures_it_waits_for(tmp_path: Path) -> None:
    """A versioned script that cuts what only the previous release's procedures use (0054) comes after this
    release's repeatables, so no call of the previous release's procedures meets the cut during a deploy."""
    root = make_tree(
        tmp_path,
        {
            "schema/0001_a.sql": "SELECT 1;",
            "schema/0002_cut.sql": "-- songsdb:after-repeatables\n/* x */\nSELECT 2;\nGO\n",
            "schema/0003_c.sql": "SELECT 3;",
            "procs/api.P.sql": "SELECT 'p';",
        },
    )
    names = [s.name for s in discover(root)]
    assert names == ["schema/0001_a.sql", "schema/0003_c.sql", "procs/api.P.sql", "schema/0002_cut.sql"]
    assert [s.name for s in discover(root) if s.after_repeatables] == ["schema/0002_cut.sql"]
    assert not Script("procs/api.X.sql", "repeatable", None, "-- songsdb:after-repeatables\n").after_repeatables
    shipped = [s.name for s in discover()]
    contract = shipped.index("schema/0054_babelfish_contract_recorded_by_and_ops_claim_tokens.sql")
    for name in ("procs/core.WriteAudit.sql", "procs/core.ReturnJob.sql", "procs/api.EnqueueJobs.sql", "procs/ops.CancelJobs.sql"):
        assert shipped.index(name) < contract, name
    assert shipped.index("schema/0053_babelfish_insert_rights_by_column.sql") < shipped.index("procs/core.WriteAudit.sql")


def test_a_badly_named_versioned_script_is_refused_by_name(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"schema/create_songs.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="schema/create_songs.sql"):
        discover(root)


def test_two_scripts_with_one_version_are_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"schema/0001_a.sql": "", "schema/0001_b.sql": ""})
    with pytest.raises(MigrationError, match="0001_b.sql.*0001_a.sql"):
        discover(root)


def test_a_repeatable_script_must_be_named_after_its_object(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"procs/get song.sql": ""})
    with pytest.raises(MigrationError, match="procs/get song.sql"):
        discover(root)


def test_the_shipped_sql_folder_is_found_and_ordered() -> None:
    scripts = discover(sql_root())
    versions = [s.version for s in scripts if s.kind == "versioned"]
    assert versions == sorted(versions) and versions[0] == 1
    assert any(s.name == "views/dbo.vw_JobSummary.sql" for s in scripts)
    assert any(s.name == "procs/dbo.sp_CleanupOldData.sql" for s in scripts)


def test_checksums_ignore_bom_and_line_endings_but_not_content() -> None:
    assert checksum("\ufeffSELECT 1;\r\nGO\r\n") == checksum("SELECT 1;\nGO\n") == checksum("SELECT 1;\rGO\r")
    assert checksum("SELECT 1;\n") != checksum("SELECT 2;\n")
    assert len(checksum("")) == 64


def test_rendering_uses_the_engine_and_shows_it_in_the_text() -> None:
    script = Script("procs/api.X.sql", "repeatable", None, "{% if engine == 'sqlserver' %}A{% else %}B{% endif %}")
    assert render(script, template_context("sqlserver", "db")).text == "A"
    assert render(script, template_context("babelfish", "db")).text == "B"
    assert render(script, template_context("sqlserver", "db")).checksum != render(
        script, template_context("babelfish", "db")
    ).checksum


def test_an_unknown_template_variable_is_an_error_naming_the_file() -> None:
    script = Script("procs/api.X.sql", "repeatable", None, "SELECT {{ no_such_thing }};")
    with pytest.raises(MigrationError, match=r"procs/api.X.sql.*no_such_thing"):
        render(script, CTX)


def test_a_template_syntax_error_names_the_file_and_line() -> None:
    script = Script("procs/api.X.sql", "repeatable", None, "SELECT 1;\n{% if %}\n")
    with pytest.raises(MigrationError, match=r"procs/api.X.sql, line 2"):
        render(script, CTX)


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(MigrationError, match="sqlserver, babelfish"):
        template_context("postgres", "db")


def test_the_no_transaction_header_opts_a_script_out() -> None:
    assert not Script("schema/0009_x.sql", "versioned", 9, "-- songsdb:no-transaction\nALTER DATABASE x;\n").transactional
    assert Script("schema/0009_x.sql", "versioned", 9, "ALTER DATABASE x;\n").transactional
    body_mention = "SELECT 1;\nGO\n-- songsdb:no-transaction\n"
    assert Script("schema/0009_x.sql", "versioned", 9, body_mention).transactional


def rendered(name: str, text: str, kind: str = "versioned"):
    return render(Script(name, kind, 1 if kind == "versioned" else None, text), CTX)


def test_plan_marks_new_scripts_pending_and_matching_ones_applied() -> None:
    a, b = rendered("schema/0001_a.sql", "A"), rendered("schema/0002_b.sql", "B")
    states = plan([a, b], [AppliedRow(a.name, "versioned", a.checksum)])
    assert [(s.name, s.state) for s in states] == [(a.name, "applied"), (b.name, "pending")]
    assert [s.will_apply for s in states] == [False, True]


def test_plan_calls_an_edited_versioned_script_drift_with_both_checksums() -> None:
    a = rendered("schema/0001_a.sql", "A edited")
    states = plan([a], [AppliedRow(a.name, "versioned", "0" * 64)])
    assert states[0].state == "edited" and states[0].is_drift
    message = drift_message(states)
    assert message is not None and a.name in message and "0" * 64 in message and a.checksum in message


def test_plan_reapplies_a_changed_repeatable_script() -> None:
    p = rendered("procs/api.X.sql", "new body", kind="repeatable")
    states = plan([p], [AppliedRow(p.name, "repeatable", "f" * 64)])
    assert states[0].state == "changed" and states[0].will_apply and not states[0].is_drift
    assert drift_message(states) is None


def test_plan_reports_applied_scripts_that_left_the_disk() -> None:
    states = plan([], [AppliedRow("schema/0003_gone.sql", "versioned", "a" * 64)])
    assert [(s.name, s.state) for s in states] == [("schema/0003_gone.sql", "missing")]
    assert "no longer on disk" in (drift_message(states) or "")


def test_the_deployment_script_holds_every_batch_its_transactions_and_history_rows() -> None:
    a = rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\nGO\nINSERT INTO dbo.A VALUES (1);\nGO 2\n")
    out = build_deployment_script([a], "sqlserver")
    assert "CREATE TABLE deploy.SchemaHistory" in out
    assert out.index("BEGIN TRANSACTION;") < out.index("CREATE TABLE dbo.A") < out.index("COMMIT TRANSACTION;")
    assert "INSERT INTO dbo.A VALUES (1);\nGO 2\n" in out
    assert f"N'schema/0001_a.sql', 'versioned', 1, '{a.checksum}'" in out


def test_a_no_transaction_script_is_written_without_begin_and_commit() -> None:
    a = rendered("schema/0001_a.sql", "-- songsdb:no-transaction\nALTER DATABASE CURRENT SET RECOVERY SIMPLE;\n")
    out = build_deployment_script([a], "sqlserver")
    assert "BEGIN TRANSACTION" not in out and "WITHOUT a transaction" in out


def test_a_repeatable_script_that_left_the_disk_is_retired_not_drift() -> None:
    states = plan([], [AppliedRow("procs/api.ClaimNextJob.sql", "repeatable", "a" * 64)])
    assert [(s.name, s.state) for s in states] == [("procs/api.ClaimNextJob.sql", "retired")]
    assert not states[0].is_drift and not states[0].will_apply and drift_message(states) is None


def test_the_deployment_script_sets_the_session_options_before_its_first_object() -> None:
    a = rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\n")
    out = build_deployment_script([a], "sqlserver")
    header = out[: out.index("CREATE TABLE deploy.SchemaHistory")]
    assert SESSION_OPTIONS in header
    for option in ("ANSI_NULLS", "ANSI_PADDING", "ANSI_WARNINGS", "ARITHABORT", "CONCAT_NULL_YIELDS_NULL", "QUOTED_IDENTIFIER"):
        assert option in SESSION_OPTIONS.split("ON;")[0]
    assert "SET NUMERIC_ROUNDABORT OFF;" in header
    assert "CREATE DATABASE" not in out and "sqlcmd -b -I -d <database>" in out


def test_the_deployment_script_can_create_its_database_first() -> None:
    a = rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\n")
    out = build_deployment_script([a], "sqlserver", create_database="SongsDB")
    assert out.index(SESSION_OPTIONS) < out.index("IF DB_ID(N'SongsDB') IS NULL\n    CREATE DATABASE [SongsDB];")
    assert out.index("USE [SongsDB];\nGO\n") < out.index("CREATE TABLE deploy.SchemaHistory")
    assert "sqlcmd -b -I -i <this file>" in out
    with pytest.raises(MigrationError, match="letters, digits"):
        build_deployment_script([a], "sqlserver", create_database="x]; DROP DATABASE y; --")


def test_comments_and_strings_are_told_apart_when_looking_for_references() -> None:
    text = "/* calls api.A /* nested api.B */ still api.C */ EXEC core.D; -- api.E\nSELECT N'core.F -- not a comment', [x.y]"
    stripped = strip_comments(text)
    assert "api.A" not in stripped and "api.C" not in stripped and "api.E" not in stripped
    assert "EXEC core.D;" in stripped and "N'core.F -- not a comment'" in stripped and "[x.y]" in stripped


def repeatable(name: str, body: str) -> Script:
    return Script(f"procs/{name}.sql", "repeatable", None, body)


def test_repeatable_scripts_come_after_the_objects_their_code_uses() -> None:
    caller = repeatable("api.Caller", "/* uses nothing from worker.Later */ EXEC core.Helper; EXEC core.Other;")
    helper = repeatable("core.Helper", "EXEC core.Other; -- called by api.Caller")
    other = repeatable("core.Other", "SELECT 1 FROM dbo.Songs;")
    later = repeatable("worker.Later", "EXEC api.Caller;")
    assert references(caller, ["api.caller", "core.helper", "core.other", "worker.later"]) == {"core.helper", "core.other"}
    ordered = [s.name for s in dependency_order([caller, helper, other, later])]
    assert ordered == ["procs/core.Other.sql", "procs/core.Helper.sql", "procs/api.Caller.sql", "procs/worker.Later.sql"]


def test_a_name_inside_a_string_is_data_not_a_dependency() -> None:
    helper = repeatable("core.Step", "EXEC core.Write @EntityId = N'dbo.Cleanup', @Note = 'it''s dbo.Cleanup';")
    assert references(helper, ["core.step", "core.write", "dbo.cleanup"]) == {"core.write"}


def test_a_dependency_cycle_is_an_error_naming_its_scripts() -> None:
    a = repeatable("core.A", "EXEC core.B;")
    b = repeatable("core.B", "EXEC core.A;")
    with pytest.raises(MigrationError, match="cycle: procs/core.A.sql, procs/core.B.sql"):
        dependency_order([a, b])


# ----- guard rails of the deployment (issue #18 §2) --------------------------------------------------


def test_the_deployment_script_opens_with_on_error_exit_then_options_and_a_lock_timeout() -> None:
    out = build_deployment_script([rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\n")], "sqlserver")
    assert out.splitlines()[0] == ":on error exit"
    first = split_batches(out)[0]
    assert first.commands == (":on error exit",) and ":on error exit" not in first.sql
    assert SESSION_OPTIONS in first.sql and "SET XACT_ABORT ON;" in first.sql
    assert f"SET LOCK_TIMEOUT {DDL_LOCK_TIMEOUT_MS};" in first.sql and DDL_LOCK_TIMEOUT_MS == 1_500
    assert first.sql.index("SET LOCK_TIMEOUT") < first.sql.index("SET DEADLOCK_PRIORITY LOW;")


def test_the_deploy_waits_less_for_a_lock_than_the_claims_do_so_no_claim_times_out_behind_it() -> None:
    """M3: a waiting DDL request queues every later request on its table; the claims allow 2 s (SET LOCK_TIMEOUT 2000)."""
    for name in ("worker.ClaimNextJob.sql", "worker.ClaimNextJobs.sql"):
        assert "SET LOCK_TIMEOUT 2000;" in (sql_root() / "procs" / name).read_text()
    assert DDL_LOCK_TIMEOUT_MS < 2000


def test_the_deployment_script_is_the_deadlock_victim_on_sql_server_only() -> None:
    """M4; Babelfish 4.2 accepts SET DEADLOCK_PRIORITY and ignores it, so it is not rendered there."""
    item = rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\n")
    assert "SET DEADLOCK_PRIORITY LOW;" in split_batches(build_deployment_script([item], "sqlserver"))[0].sql
    assert "DEADLOCK_PRIORITY" not in build_deployment_script([item], "babelfish")


def test_the_deployment_script_marks_the_maintenance_window_steps() -> None:
    context = template_context("sqlserver", "SongsDB")
    items = [render(s, context) for s in discover() if s.kind == "versioned" and s.version in (42, 43, 45)]
    out = build_deployment_script(items, "sqlserver")
    marked = [line.split()[2] for line in out.splitlines() if line.startswith("-- =====")]
    notes = [i for i, line in enumerate(out.splitlines()) if line.startswith("-- a maintenance-window step")]
    assert marked == ["schema/0042_songs_key_backfill.sql", "schema/0043_songs_key_not_null.sql", "schema/0045_songs_clustered_on_song_key.sql"]
    assert len(notes) == 2
    assert [s.name for s in discover() if s.maintenance_step] == sorted(MAINTENANCE_STEPS)
    assert Script("schema/0099_x.sql", "versioned", 99, "-- songsdb:maintenance-step\n/* x */\nSELECT 1;\nGO\n").maintenance_step
    assert not Script("procs/api.X.sql", "repeatable", None, "-- songsdb:maintenance-step\n").maintenance_step


def test_a_client_that_skipped_the_first_batch_runs_nothing_after_the_second() -> None:
    out = build_deployment_script([rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\n")], "sqlserver")
    batches = [b for b in split_batches(out) if not b.is_empty]
    assert "sp_set_session_context @key = N'songsdb.deploy'" in batches[0].sql
    assert "IF SESSION_CONTEXT(N'songsdb.deploy') IS NULL" in batches[1].sql and "SET NOEXEC ON;" in batches[1].sql
    assert "SET NOEXEC OFF;" in batches[0].sql  # a rerun in the same session starts afresh
    assert "@value = NULL" in batches[-1].sql  # the mark is removed at the end


@pytest.mark.parametrize("engine", ["sqlserver", "babelfish"])
def test_the_guard_rails_come_before_anything_is_written(engine: str) -> None:
    out = build_deployment_script([rendered("schema/0001_a.sql", "CREATE TABLE dbo.A (Id int);\n")], engine)
    guard = out.index("IF @Database IN (N'master', N'model', N'msdb', N'tempdb')")
    assert guard < out.index("CREATE SCHEMA deploy") < out.index("CREATE TABLE dbo.A")
    with_create = build_deployment_script([], engine, create_database="SongsDB")
    assert with_create.index("USE [SongsDB];") < with_create.index("IF @Database IN (N'master'")


def test_the_sql_server_guards_check_level_owners_and_snapshot_and_babelfish_only_the_database() -> None:
    sqlserver = deployment_guards("sqlserver", enables_rcsi=False)
    for needle in ("IF @Level < 130", "IF @Level < 150", "DATABASE_PRINCIPAL_ID(N'dbo')", "o.principal_id IS NOT NULL",
                   "is_read_committed_snapshot_on", "RAISERROR"):
        assert needle in sqlserver, needle
    assert "is_read_committed_snapshot_on" not in deployment_guards("sqlserver", enables_rcsi=True)
    babelfish = deployment_guards("babelfish", enables_rcsi=False)
    assert "IF @Database IN (N'master', N'model', N'msdb', N'tempdb')" in babelfish
    for needle in ("compatibility_level", "principal_id", "is_read_committed_snapshot_on"):
        assert needle not in babelfish, needle
    assert "THROW" not in sqlserver  # RAISERROR 16: message 50000, not a number of the client's catalogue


def test_the_snapshot_guard_is_left_out_when_the_deployment_turns_it_on() -> None:
    scripts = {s.name: s for s in discover(sql_root())}
    rcsi = render(scripts[RCSI_SCRIPT], CTX)
    other = rendered("schema/0001_a.sql", "SELECT 1;\n")
    assert "READ_COMMITTED_SNAPSHOT is OFF" not in build_deployment_script([other, rcsi], "sqlserver")
    assert "READ_COMMITTED_SNAPSHOT is OFF" in build_deployment_script([other], "sqlserver")


def test_a_sqlcmd_command_in_a_script_under_sql_is_refused() -> None:
    with pytest.raises(MigrationError, match=r"schema/0009_x.sql, batch starting at line 3: sqlcmd command ':setvar x 1'"):
        rendered("schema/0009_x.sql", "SELECT 1;\nGO\n:setvar x 1\nSELECT 2;\n")


def test_0014_turns_read_committed_snapshot_on_outside_a_transaction_on_sql_server_only() -> None:
    script = {s.name: s for s in discover(sql_root())}[RCSI_SCRIPT]
    assert script.source.startswith("-- songsdb:no-transaction\n") and not script.transactional
    sqlserver = render(script, template_context("sqlserver", "SongsDB")).text
    assert "ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON WITH NO_WAIT;" in sqlserver
    assert "ROLLBACK IMMEDIATE;\n" not in strip_comments(sqlserver)  # it never kills the application's transactions
    assert "WHILE (SELECT d.is_read_committed_snapshot_on" in sqlserver  # a no-op where it is on (Azure SQL Database)
    babelfish = render(script, template_context("babelfish", "SongsDB"))
    assert strip_comments(babelfish.text).strip() == ""  # a comment only: nothing to turn on
    assert len(babelfish.batches) == 1  # still one batch, so the migrator records it like any other


@pytest.mark.parametrize("engine", ["sqlserver", "babelfish"])
def test_the_ops_role_is_granted_the_runbooks_objects_on_every_engine(engine: str) -> None:
    scripts = {s.name: s for s in discover(sql_root())}
    context = template_context(engine, "SongsDB")
    cleanup = render(scripts["procs/dbo.sp_CleanupOldData.sql"], context).text
    assert "GRANT EXECUTE ON dbo.sp_CleanupOldData TO songsdb_ops;" in strip_comments(cleanup)
    for view in ("dbo.vw_JobSummary", "dbo.vw_QueueStatus"):
        text = strip_comments(render(scripts[f"views/{view}.sql"], context).text)
        assert f"GRANT SELECT ON {view} TO songsdb_ops;" in text
        if engine == "sqlserver":  # altered in place: the grants a DBA added stay
            assert f"CREATE OR ALTER VIEW {view}" in text and "DROP VIEW" not in text
        else:  # Babelfish 4.2 has no CREATE OR ALTER / ALTER VIEW
            assert f"DROP VIEW IF EXISTS {view};" in text and "CREATE OR ALTER" not in text


def test_the_claim_bounds_its_row_waits_on_every_engine() -> None:
    script = {s.name: s for s in discover(sql_root())}["procs/worker.ClaimNextJob.sql"]
    for engine in ("sqlserver", "babelfish"):
        body = strip_comments(render(script, template_context(engine, "SongsDB")).text)
        assert body.index("SET LOCK_TIMEOUT 2000;") < body.index("sp_getapplock")


# ----- a sqlcmd deploy that stops at a maintenance step keeps this release's procedures (s8, DBA item 6) -----


def pending_items() -> list:
    def versioned_script(number: int, text: str) -> object:
        return render(Script(f"schema/{number:04d}_s.sql", "versioned", number, text), CTX)

    return [
        versioned_script(41, "CREATE TABLE dbo.Before (Id int);\n"),
        versioned_script(43, "-- songsdb:maintenance-step\nRAISERROR (N'0043: run it in a maintenance window', 16, 1);\n"),
        versioned_script(46, "CREATE TABLE dbo.After (Id int);\n"),
        rendered("procs/api.P.sql", "ALTER PROCEDURE api.P AS RETURN 0;\n", kind="repeatable"),
    ]


def banners(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("-- ===== ") and not line.startswith("-- ===== before")]


def test_a_pending_script_puts_the_procedures_before_the_first_maintenance_step() -> None:
    out = build_deployment_script(pending_items(), "sqlserver", pending=True)
    assert banners(out) == ["schema/0041_s.sql", "procs/api.P.sql", "schema/0043_s.sql", "schema/0046_s.sql", "procs/api.P.sql"]
    before = out.index("-- ===== before schema/0043_s.sql")
    assert out.index("ALTER PROCEDURE api.P") < before < out.index("RAISERROR (N'0043")
    printed = split_batches(out[before:])[0].sql
    assert printed.startswith("-- ===== before") and "PRINT N'songsdb: next is schema/0043_s.sql, a maintenance-window step." in printed
    assert "views, functions and procedures were applied just above" in printed and "songsdb script --pending" in printed


def test_a_pending_script_with_a_step_applies_the_procedures_again_after_the_versioned_scripts_before_the_contract_steps() -> None:
    from songsdb.migrations import pending_order

    contract = render(
        Script("schema/0050_cut.sql", "versioned", 50, "-- songsdb:after-repeatables\nREVOKE EXECUTE ON SCHEMA::api FROM x;\n"), CTX
    )
    items = pending_items() + [contract]
    out = build_deployment_script(items, "sqlserver", pending=True)
    # the copy before the step (what a refusal leaves), then migrate's order when nothing refuses
    assert banners(out) == [
        "schema/0041_s.sql", "procs/api.P.sql", "schema/0043_s.sql", "schema/0046_s.sql", "procs/api.P.sql", "schema/0050_cut.sql"
    ]
    assert out.count("ALTER PROCEDURE api.P AS RETURN 0;") == 2
    assert out.index("CREATE TABLE dbo.After") < out.rindex("ALTER PROCEDURE api.P") < out.index("REVOKE EXECUTE")
    second = out[out.rindex("-- ===== procs/api.P.sql"):]
    assert second.splitlines()[1].startswith("-- again, after the versioned scripts")
    assert out.count("INSERT INTO deploy.SchemaHistory (ScriptName, Kind, Version, Checksum, DurationMs, Attempts, Success, Note)\n"
                     "VALUES (N'procs/api.P.sql'") == 2  # one history row per copy, the same checksum
    assert "-- 5 script(s)." in out  # scripts, not copies
    assert pending_order(pending_order(items)) == pending_order(items)  # Migrator.script orders, then the builder again


def test_the_offline_script_and_a_pending_one_without_a_step_keep_migrates_order() -> None:
    items = pending_items()
    assert banners(build_deployment_script(items, "sqlserver")) == [i.name for i in items]  # --all: from an empty database
    without_step = [i for i in items if not i.script.maintenance_step]
    out = build_deployment_script(without_step, "sqlserver", pending=True)
    assert banners(out) == [i.name for i in without_step] and "PRINT N'songsdb: next is" not in out


def test_every_script_of_the_dba_script_starts_from_the_session_settings_and_ends_with_its_record_batch() -> None:
    from songsdb.migrations import session_settings

    out = build_deployment_script(pending_items(), "babelfish")
    for item in pending_items():
        block = out[out.index(f"-- ===== {item.name} "):]
        block = block[: block.index("\n-- =====", 10)] if "\n-- =====" in block[10:] else block
        assert session_settings("babelfish") in block and "DEADLOCK_PRIORITY" not in block
        assert f"IF @@TRANCOUNT <> {1 if item.script.transactional else 0}" in block
        assert "DurationMs, Attempts, Success, Note)" in block  # one try, recorded as such
