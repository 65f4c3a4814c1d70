"""Least privilege by duty on a real engine: each role's login runs its own schema and nothing else.

Each "refused" below sits next to a "works" on the same machinery (the same login, the same kind
of call), so nothing passes because, say, the login could not connect at all.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from songsdb.config import Settings, format_connection_string, parse_connection_string
from songsdb.container import generate_password
from songsdb.database import SongsDatabase
from songsdb.local import provision
from songsdb.migrations import discover

from .conftest import drop_database
from .helpers import query

ROLES = {"web": "api", "worker": "worker", "ops": "ops", "retention": None}  # role -> its interface schema
# the one interface procedure a role without a schema of its own may run (0047: the cleanup's door)
EXTRA = {"retention": {"ops.CleanupOldData"}}
PERMISSION = re.compile(r"\((229|230|262|297)\)|permission denied", re.IGNORECASE)
INTERFACE = sorted(
    name[len("procs/"):-len(".sql")]
    for name in (s.name for s in discover())
    if name.startswith(("procs/api.", "procs/worker.", "procs/ops."))
)
HELPERS = sorted(name[len("procs/"):-len(".sql")] for name in (s.name for s in discover()) if name.startswith("procs/core."))


def as_login(target: Settings, login: str, password: str) -> Settings:
    pairs = parse_connection_string(target.odbc())
    for key in list(pairs):
        if key.lower() in ("uid", "pwd", "user id", "password"):
            del pairs[key]
    pairs.update(UID=login, PWD=password)
    return replace(target, connection_string=format_connection_string(pairs))


@pytest.fixture(scope="module")
def duty(server: Settings, databases, engine: str) -> Iterator[tuple[Settings, dict[str, Settings]]]:
    """A freshly provisioned database and one login per duty role (unique names: logins are server-wide)."""
    target = databases.new(migrate=False)
    tag = uuid.uuid4().hex[:8]
    logins = {role: (f"songsdb_t{tag}_{role}", generate_password()) for role in ROLES}
    assert provision(target, logins)  # the migrations ran
    yield target, {role: as_login(target, *logins[role]) for role in ROLES}
    drop_database(server, target.target_database, engine)
    databases.names.remove(target.target_database)
    for login, _ in logins.values():
        query(server, f"IF SUSER_ID(N'{login}') IS NOT NULL DROP LOGIN [{login}];")


def outcome(settings: Settings, sql: str) -> str:
    """'refused' for a permission error, else 'ran' (it ran, even if it then failed validation)."""
    import pyodbc

    try:
        query(settings, sql)
    except pyodbc.Error as exc:
        return "refused" if PERMISSION.search(str(exc)) else "ran"
    return "ran"


def test_the_matrix_covers_every_interface_procedure() -> None:
    schemas = {name.split(".")[0] for name in INTERFACE}
    assert schemas == {"api", "worker", "ops"} and len(INTERFACE) >= 25
    assert "worker.ClaimNextJob" in INTERFACE and "ops.CleanupOldData" in INTERFACE and "api.CreateSong" in INTERFACE


def call_with_nulls(procedure: str) -> str:
    """EXEC with every parameter given as NULL: a procedure that runs answers with its own validation
    error (or its rows), and an engine cannot stop at a missing argument before checking the right."""
    from tests.unit.sql_catalog import procedures

    names = procedures()[procedure.lower()].parameters
    return f"EXEC {procedure} " + ", ".join(f"@{n} = NULL" for n in names) + ";"


@pytest.mark.parametrize("procedure", INTERFACE)
def test_each_role_runs_its_own_schema_and_is_refused_the_others(duty, procedure: str) -> None:
    _, login = duty
    schema = procedure.split(".")[0]
    for role, own in ROLES.items():
        expected = "ran" if own == schema or procedure in EXTRA.get(role, ()) else "refused"
        assert outcome(login[role], call_with_nulls(procedure)) == expected, f"{role} {call_with_nulls(procedure)}"


@pytest.mark.parametrize("helper", HELPERS)
def test_no_role_may_call_an_internal_helper_on_sql_server(duty, helper: str, engine: str) -> None:
    if engine == "babelfish":
        pytest.skip("Babelfish runs procedures with the caller's rights: 0009 grants EXECUTE on core to every role")
    target, login = duty
    for role in ROLES:
        assert outcome(login[role], call_with_nulls(helper)) == "refused", role
    assert outcome(target, call_with_nulls(helper)) == "ran"  # the owner may: the helper itself is fine


def test_only_the_retention_role_may_delete_audit_rows_and_no_role_may_update_one(duty, engine: str) -> None:
    target, login = duty
    for role in ("web", "worker"):
        assert outcome(login[role], "EXEC dbo.sp_CleanupOldData @DaysToKeep = 7;") == "refused", role
        assert outcome(login[role], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "refused", role
        assert outcome(login[role], "UPDATE dbo.AuditLog SET Details = NULL WHERE 1 = 0;") == "refused", role
    assert outcome(login["retention"], "EXEC ops.CleanupOldData @DaysToKeep = 7, @DryRun = 1;") == "ran"
    for role in ("web", "worker", "ops", "retention"):  # audit rows are append-only: nobody updates one
        assert outcome(login[role], "UPDATE dbo.AuditLog SET Details = NULL WHERE 1 = 0;") == "refused", role
    for role in ("web", "worker", "ops"):
        assert outcome(login[role], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "refused", role
    if engine == "babelfish":  # caller's rights: the cleanup's login holds DELETE on the audit log, and only it does
        assert outcome(login["retention"], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "ran"
    else:  # ownership chaining: nobody but the owner touches a table directly
        assert outcome(login["retention"], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "refused"
        assert outcome(target, "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "ran"


def test_on_sql_server_no_role_has_any_right_on_a_table(duty, engine: str) -> None:
    if engine == "babelfish":
        pytest.skip("Babelfish 4.2 has no ownership chaining: 0009 grants each role the table rights its procedures use")
    target, login = duty
    for role in ROLES:
        for statement in (
            "SELECT TOP (1) Id FROM dbo.Songs;",
            "INSERT INTO dbo.AuditLog (EntityType, Action) VALUES ('system', 'viewed');",
            "UPDATE dbo.ProcessingJobs SET Progress = 0 WHERE 1 = 0;",
        ):
            assert outcome(login[role], statement) == "refused", (role, statement)
    assert outcome(target, "SELECT TOP (1) Id FROM dbo.Songs;") == "ran"


def test_on_babelfish_the_worker_may_not_write_songs_or_delete_results(duty, engine: str) -> None:
    if engine != "babelfish":
        pytest.skip("on SQL Server no role has table rights at all (the test above)")
    _, login = duty
    assert outcome(login["worker"], "DELETE FROM dbo.Songs WHERE 1 = 0;") == "refused"
    assert outcome(login["worker"], "DELETE FROM dbo.SeparatedTracks WHERE 1 = 0;") == "refused"
    assert outcome(login["worker"], "SELECT COUNT(*) FROM dbo.SeparatedTracks;") == "ran"  # worker.AddSeparatedTracks
    assert outcome(login["web"], "DELETE FROM dbo.SeparatedTracks WHERE 1 = 0;") == "ran"  # api.DeleteSong


def test_each_role_does_its_duty_through_the_client(duty) -> None:
    _, login = duty
    with SongsDatabase(login["web"]) as web, SongsDatabase(login["worker"]) as worker, SongsDatabase(login["ops"]) as ops:
        song_id = web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
        job_id = web.create_job(song_id, "demucs-duty", "separation")
        job = worker.claim_next_job("gpu-1", model_names=["demucs-duty"])
        assert job is not None and job.id == job_id and job.held_by == "worker"
        worker.add_separated_tracks(job_id, [{"stem_name": "vocals", "file_path": "/v.wav"}], claim_token=job.claim_token)
        assert worker.complete_job(job_id, job.claim_token).status == "completed"
        assert [t.stem_name for t in web.get_song_results(song_id).tracks] == ["vocals"]
        assert any(q.model_name == "demucs-duty" for q in ops.queue_status()) or ops.queue_status() == []
        with SongsDatabase(login["retention"], role="retention") as retention:
            assert retention.cleanup_old_data(7, dry_run=True).dry_run is True
        from songsdb import errors

        with pytest.raises(errors.PermissionDenied, match="worker.ClaimNextJob"):
            web.claim_next_job("web-1")
        with pytest.raises(errors.PermissionDenied, match="ops.CleanupOldData"):
            worker.cleanup_old_data(7)
        with pytest.raises(errors.PermissionDenied, match="api.CreateSong"):
            ops.create_song(f"file-{uuid.uuid4()}", "a.mp3")


def test_the_retention_login_runs_the_runbooks_cleanup_and_ops_reads_both_views_on_every_engine(duty) -> None:
    """README's promise for songsdb_retention and songsdb_ops, on SQL Server as on Babelfish: the grants are made on every engine."""
    target, login = duty
    rows = query(login["retention"], "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;")
    assert {str(r[0]) for r in rows} == {
        "dbo.Songs", "dbo.ProcessingJobs", "dbo.SeparatedTracks", "dbo.Transcriptions", "dbo.ChromaAnalysis", "dbo.AuditLog",
    }
    for view in ("dbo.vw_JobSummary", "dbo.vw_QueueStatus"):
        assert outcome(login["ops"], f"SELECT TOP (1) * FROM {view};") == "ran", view
        for role in ("web", "worker", "retention"):
            assert outcome(login[role], f"SELECT TOP (1) * FROM {view};") == "refused", (role, view)
    for role in ("web", "worker"):
        assert outcome(login[role], "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;") == "refused", role


# issue #18 section 4: what each role may not do directly, on every engine (on SQL Server no role has any table
# right; on Babelfish 0048 narrowed each role to the tables and columns its procedures use). Each statement
# touches no row (WHERE 1 = 0, or a read): it is the right that is checked, before any row is.
REFUSED = {
    "web": (
        "UPDATE dbo.ProcessingJobs SET Priority = 100 WHERE 1 = 0;",  # jump the queue
        "UPDATE dbo.ProcessingJobs SET SongId = SongId WHERE 1 = 0;",
        "UPDATE dbo.Songs SET FileId = FileId WHERE 1 = 0;",
        "SELECT TOP (1) ClaimToken FROM dbo.JobAttempts;",  # an attempt's token
        "UPDATE dbo.AuditLog SET Details = NULL WHERE 1 = 0;",
        "DELETE FROM dbo.AuditLog WHERE 1 = 0;",
    ),
    "worker": (
        "UPDATE dbo.Songs SET Title = N'x' WHERE 1 = 0;",
        "SELECT TOP (1) Title FROM dbo.Songs;",
        "UPDATE dbo.ProcessingJobs SET Priority = 100 WHERE 1 = 0;",
        "UPDATE dbo.ProcessingJobs SET ModelName = ModelName, JobType = JobType WHERE 1 = 0;",
        "UPDATE dbo.JobAttempts SET WorkerId = N'x' WHERE 1 = 0;",
        "DELETE FROM dbo.ProcessingJobs WHERE 1 = 0;",
        "DELETE FROM dbo.AuditLog WHERE 1 = 0;",
    ),
    "ops": (
        "DELETE FROM dbo.AuditLog WHERE 1 = 0;",
        "UPDATE dbo.AuditLog SET Details = NULL WHERE 1 = 0;",
        "DELETE FROM dbo.ProcessingJobs WHERE 1 = 0;",
        "DELETE FROM dbo.Songs WHERE 1 = 0;",
        "UPDATE dbo.Songs SET Title = N'x' WHERE 1 = 0;",
        "UPDATE dbo.ProcessingJobs SET Priority = 100 WHERE 1 = 0;",
        "DELETE FROM dbo.JobAttempts WHERE 1 = 0;",
        "SELECT TOP (1) ClaimToken FROM dbo.JobAttempts;",
        "DELETE FROM dbo.SeparatedTracks WHERE 1 = 0;",
        "SELECT TOP (1) FilePath FROM dbo.SeparatedTracks;",
    ),
    "retention": (
        "SELECT TOP (1) Title FROM dbo.Songs;",
        "SELECT TOP (1) Details FROM dbo.AuditLog;",
        "SELECT TOP (1) ClaimToken FROM dbo.ProcessingJobs;",
        "SELECT TOP (1) FullText FROM dbo.Transcriptions;",
        "UPDATE dbo.ProcessingJobs SET Status = 'queued' WHERE 1 = 0;",
        "UPDATE dbo.AuditLog SET Details = NULL WHERE 1 = 0;",
        "INSERT INTO dbo.Songs (FileId, FileName) SELECT N'x', N'x' WHERE 1 = 0;",
        "EXEC ops.RetryJob @JobId = NULL;",
    ),
}
# the same login, the same kind of call, allowed: so a refusal above is the right, not a broken login
ALLOWED = {
    "web": "EXEC api.ListJobs @Limit = 1;",
    "worker": "EXEC worker.Heartbeat @JobId = NULL, @ClaimToken = NULL;",
    "ops": "EXEC ops.GetQueueStatus;",
    "retention": "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;",
}


# on Babelfish, the columns the role's procedures read stay readable (0048 narrowed by column, not too far)
BABELFISH_READS = {
    "web": "SELECT COUNT(JobId) FROM dbo.JobAttempts;",  # api.DeleteSong deletes attempts by JobId
    "worker": "SELECT TOP (1) ClaimToken FROM dbo.ProcessingJobs;",  # core.CheckLease compares it
    "ops": "SELECT COUNT(*) FROM dbo.JobAttempts WHERE Outcome IS NULL;",  # the sweep and the cancels end attempts
    "retention": "SELECT COUNT(*) FROM dbo.AuditLog WHERE [Timestamp] < SYSUTCDATETIME();",  # core.CleanupAuditLog
}


@pytest.mark.parametrize("role", sorted(REFUSED))
def test_each_role_is_refused_the_direct_reads_and_writes_its_procedures_never_make(duty, role: str, engine: str) -> None:
    _, login = duty
    assert outcome(login[role], ALLOWED[role]) == "ran"
    if engine == "babelfish":
        assert outcome(login[role], BABELFISH_READS[role]) == "ran"
    refused = {statement: outcome(login[role], statement) for statement in REFUSED[role]}
    assert refused == dict.fromkeys(REFUSED[role], "refused")


def _old_finished_song(target: Settings) -> str:
    song = str(uuid.uuid4())
    query(
        target,
        "INSERT INTO dbo.Songs (Id, FileId, FileName, Status, LastModified) "
        "VALUES (?, ?, N'a.mp3', 'completed', DATEADD(DAY, -90, SYSUTCDATETIME()));",
        song, f"f-{song}",
    )
    job = str(uuid.uuid4())
    query(
        target,
        "INSERT INTO dbo.ProcessingJobs (JobId, SongId, ModelName, JobType, Status, CompletedAt) "
        "VALUES (?, ?, N'demucs', 'separation', 'completed', DATEADD(DAY, -90, SYSUTCDATETIME()));",
        job, song,
    )
    query(target, "INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath) VALUES (?, ?, N'vocals', N'/v.wav');", song, job)
    query(
        target,
        "INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, EndedAt, Outcome) "
        "VALUES (?, 1, NEWID(), N'gpu-1', DATEADD(DAY, -90, SYSUTCDATETIME()), 'completed');",
        job,
    )
    return song


def test_the_retention_login_deletes_old_data_and_on_babelfish_the_ops_login_no_longer_can(duty, engine: str) -> None:
    from songsdb import errors

    target, login = duty
    song = _old_finished_song(target)
    gone = "SELECT COUNT(*) FROM dbo.Songs WHERE Id = ?;"
    if engine == "babelfish":  # caller's rights: ops holds none of the cleanup's DELETE rights since 0048
        with SongsDatabase(login["ops"], role="ops") as ops, pytest.raises(errors.PermissionDenied):
            ops.cleanup_old_data(30)
        assert query(target, gone, song)[0][0] == 1  # refused before anything was deleted
    with SongsDatabase(login["retention"], role="retention") as retention:
        report = retention.cleanup_old_data(30, request_id="req-retention")
    assert report.finished and report["dbo.Songs"] >= 1 and report["dbo.ProcessingJobs"] >= 1
    assert query(target, gone, song)[0][0] == 0
    recorded = query(target, "SELECT DISTINCT RecordedBy FROM dbo.AuditLog WHERE RequestId = N'req-retention';")
    assert [str(r[0]) for r in recorded] == [parse_connection_string(login["retention"].odbc())["UID"]]


def test_on_sql_server_a_grant_a_dba_added_to_a_view_survives_a_redeploy(duty, engine: str, tmp_path) -> None:
    if engine == "babelfish":
        pytest.skip("Babelfish 4.2 has no CREATE OR ALTER / ALTER VIEW: its views are dropped and created again")
    import shutil

    from songsdb.migrations import sql_root
    from songsdb.migrator import Migrator

    target, _ = duty
    role = f"songsdb_t{uuid.uuid4().hex[:8]}_reports"
    query(target, f"CREATE ROLE [{role}];")
    try:
        query(target, f"GRANT SELECT ON dbo.vw_QueueStatus TO [{role}];")
        root = tmp_path / "sql"
        shutil.copytree(sql_root(), root)
        view = root / "views" / "dbo.vw_QueueStatus.sql"
        view.write_text(view.read_text() + "-- changed, so the migrator applies it again\n")
        assert "views/dbo.vw_QueueStatus.sql" in Migrator(target, root=root).migrate().applied
        granted = query(
            target,
            "SELECT COUNT(*) FROM sys.database_permissions AS p "
            "WHERE p.major_id = OBJECT_ID(N'dbo.vw_QueueStatus') AND p.grantee_principal_id = DATABASE_PRINCIPAL_ID(?) "
            "AND p.permission_name = N'SELECT' AND p.state = 'G';",
            role,
        )
        assert granted[0][0] == 1
    finally:
        query(target, f"REVOKE SELECT ON dbo.vw_QueueStatus FROM [{role}]; DROP ROLE [{role}];")
        Migrator(target).migrate()  # the shipped view again
