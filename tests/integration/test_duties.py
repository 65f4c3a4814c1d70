"""Least privilege by duty on a real engine: each role's login runs its own schema and nothing else.

Each "refused" below sits next to a "works" on the same machinery (the same login, the same kind
of call), so nothing passes because, say, the login could not connect at all.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import songsdb
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
        "INSERT INTO dbo.AuditLog (EntityType, Action, RecordedBy) SELECT 'song', 'viewed', N'someone_else' WHERE 1 = 0;",  # forged writer
        # a job already running, with a holder, token and lease of its own (0053: a new job is 'queued', from the defaults)
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, HeldBy, ClaimToken, LeaseExpiresAt) "
        "SELECT NEWID(), N'm', 'chroma', 'running', 'web', NEWID(), SYSUTCDATETIME() WHERE 1 = 0;",
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Attempts) SELECT NEWID(), N'm', 'chroma', 3 WHERE 1 = 0;",
        "INSERT INTO dbo.Songs (FileId, FileName, SongKey) SELECT N'x', N'x', 1 WHERE 1 = 0;",  # a key the sequence hands out later
        "INSERT INTO dbo.Songs (Id, FileId, FileName) SELECT NEWID(), N'x', N'x' WHERE 1 = 0;",
    ),
    "worker": (
        "UPDATE dbo.Songs SET Title = N'x' WHERE 1 = 0;",
        "SELECT TOP (1) Title FROM dbo.Songs;",
        "UPDATE dbo.ProcessingJobs SET Priority = 100 WHERE 1 = 0;",
        "UPDATE dbo.ProcessingJobs SET ModelName = ModelName, JobType = JobType WHERE 1 = 0;",
        "UPDATE dbo.JobAttempts SET WorkerId = N'x' WHERE 1 = 0;",
        "DELETE FROM dbo.ProcessingJobs WHERE 1 = 0;",
        "DELETE FROM dbo.AuditLog WHERE 1 = 0;",
        "INSERT INTO dbo.AuditLog (EntityType, Action, RecordedBy) SELECT 'song', 'viewed', N'someone_else' WHERE 1 = 0;",  # forged writer
        # an attempt that already ended, and a result with a chosen time (0053: only what the claim and the reports insert)
        "INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, Outcome, EndedAt) "
        "SELECT NEWID(), 1, NEWID(), N'w', 'completed', SYSUTCDATETIME() WHERE 1 = 0;",
        "INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath, CreatedAt) "
        "SELECT NEWID(), NEWID(), N'v', N'/v.wav', SYSUTCDATETIME() WHERE 1 = 0;",
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
        "SELECT TOP (1) ClaimToken FROM dbo.ProcessingJobs;",  # a worker's claim token (0054; L3 of the attacker's reading)
        "INSERT INTO dbo.AuditLog (EntityType, Action, RecordedBy) SELECT 'song', 'viewed', N'someone_else' WHERE 1 = 0;",  # forged writer
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
        "INSERT INTO dbo.AuditLog (EntityType, Action, RecordedBy) SELECT 'song', 'viewed', N'someone_else' WHERE 1 = 0;",  # forged writer
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


# on Babelfish, the column lists the role's procedures insert stay insertable (0053/0054 narrowed by column, not too far)
_AUDIT = (
    "INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source) "
    "SELECT NULL, 'song', NULL, 'viewed', NULL, NULL, NULL, NULL, NULL WHERE 1 = 0;"
)
BABELFISH_INSERTS = {
    "web": (
        _AUDIT,
        "INSERT INTO dbo.Songs (FileId, FileName, Title, Artist, Album, FileSize, Duration, FileExtension, OriginalFileName, Metadata) "
        "SELECT N'x', N'x', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 1 = 0;",
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Priority, MaxAttempts, RequestId, JobKey) "
        "SELECT NEWID(), N'm', 'chroma', 0, 3, NULL, NULL WHERE 1 = 0;",
    ),
    "worker": (
        _AUDIT,
        "INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, ClaimedAt) "
        "SELECT NEWID(), 1, NEWID(), N'w', SYSUTCDATETIME() WHERE 1 = 0;",
        "INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration) "
        "SELECT NEWID(), NEWID(), N'v', N'/v.wav', NULL, NULL, NULL, NULL WHERE 1 = 0;",
        "INSERT INTO dbo.Transcriptions (SongId, JobId, Language, FullText, Segments, ModelName) "
        "SELECT NEWID(), NULL, NULL, NULL, NULL, NULL WHERE 1 = 0;",
        "INSERT INTO dbo.ChromaAnalysis (SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence, ChromaVector) "
        "SELECT NEWID(), NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 1 = 0;",
    ),
    "ops": (_AUDIT, "SELECT TOP (1) LeaseExpiresAt, HeldBy, JobKey, Delayed FROM dbo.ProcessingJobs;"),
    "retention": (_AUDIT,),
}


@pytest.mark.parametrize("role", sorted(REFUSED))
def test_each_role_is_refused_the_direct_reads_and_writes_its_procedures_never_make(duty, role: str, engine: str) -> None:
    _, login = duty
    assert outcome(login[role], ALLOWED[role]) == "ran"
    if engine == "babelfish":
        assert outcome(login[role], BABELFISH_READS[role]) == "ran"
        allowed = {statement: outcome(login[role], statement) for statement in BABELFISH_INSERTS[role]}
        assert allowed == dict.fromkeys(BABELFISH_INSERTS[role], "ran")
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


def test_on_babelfish_an_audit_row_a_login_inserts_directly_records_that_login(duty, engine: str) -> None:
    """M1 of the attacker's reading: a compromised login may still insert an audit row directly on Babelfish
    (caller's rights), but no longer choose who it says wrote it: RecordedBy comes from its default (0052)."""
    if engine != "babelfish":
        pytest.skip("on SQL Server no role has any right on a table (test_on_sql_server_no_role_has_any_right_on_a_table)")
    target, login = duty
    for role in ROLES:
        entity = f"direct-{role}-{uuid.uuid4().hex[:8]}"
        query(
            login[role],
            "INSERT INTO dbo.AuditLog (EntityType, EntityId, Action, Source) VALUES ('song', ?, 'viewed', N'api.createsong');",
            entity,
        )
        [(recorded,)] = query(target, "SELECT RecordedBy FROM dbo.AuditLog WHERE EntityId = ?;", entity)
        assert recorded == parse_connection_string(login[role].odbc())["UID"], role


def test_every_roles_procedures_record_the_login_from_the_default(duty) -> None:
    """The procedures no longer name RecordedBy (0052): each role's audit rows, written one by one
    (core.WriteAudit) and set-based (api.EnqueueJobs, worker.ClaimNextJobs, ops.CancelJobs), name its login."""
    target, login = duty
    request = f"req-default-{uuid.uuid4().hex[:8]}"
    with SongsDatabase(login["web"]) as web, SongsDatabase(login["worker"]) as worker, SongsDatabase(login["ops"]) as ops:
        song_id = web.create_song(f"file-{uuid.uuid4()}", "a.mp3", request_id=request)
        model = f"demucs-{uuid.uuid4().hex[:6]}"
        [job_id, other] = [j.id for j in web.enqueue_jobs(song_id, [(model, "separation")] * 2, request_id=request)]
        [claimed] = worker.claim_next_jobs("gpu-default", 1, model_names=[model], request_id=request)
        assert claimed.id in (job_id, other)
        ops.cancel_jobs([job_id, other], request_id=request)
    rows = query(target, "SELECT Source, RecordedBy FROM dbo.AuditLog WHERE RequestId = ? ORDER BY Id;", request)
    uid = {role: parse_connection_string(login[role].odbc())["UID"] for role in ROLES}
    by_source = {str(source).lower(): str(recorded) for source, recorded in rows}
    assert by_source == {
        "api.createsong": uid["web"],
        "api.enqueuejobs": uid["web"],
        "worker.claimnextjobs": uid["worker"],
        "ops.canceljobs": uid["ops"],
    }


def test_on_babelfish_the_previous_releases_audit_inserts_run_until_the_contract_step_after_the_procedures(
    databases, engine: str, tmp_path
) -> None:
    """Mixed versions during a deploy: 0053 runs before this release's procedures replace the previous
    release's, which name RecordedBy; 0054, which takes that right away, runs after them
    (-- songsdb:after-repeatables). A direct INSERT with the previous release's column list is what those
    procedures ran with the caller's rights."""
    if engine != "babelfish":
        pytest.skip("on SQL Server the grants are not changed (ownership chaining)")
    import shutil

    import pyodbc

    from songsdb.config import ROLES as ROLE_NAMES
    from songsdb.migrations import sql_root
    from songsdb.migrator import Migrator, drain

    contract = "schema/0054_babelfish_contract_recorded_by_and_ops_claim_tokens.sql"
    root = tmp_path / "sql"
    shutil.copytree(sql_root(), root)
    (root / contract).unlink()
    target = databases.new(migrate=False)
    Migrator(target, root=root).migrate()  # a deploy up to 0053, as if the procedures were not replaced yet
    batch = (Path(songsdb.__file__).parent / "local_sql" / "ensure_role_login.sql").read_text(encoding="utf-8")
    conn = pyodbc.connect(target.odbc(), autocommit=True, timeout=30)
    try:
        for role, (name, password) in databases.role_logins().items():
            drain(conn.cursor().execute(batch, name, password, ROLE_NAMES[role]))
    finally:
        conn.close()
    login = databases.role_settings(target)
    previous = (
        "INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, RecordedBy, Source) "
        "VALUES (N'req-previous', 'job', N'x', 'claimed', NULL, ORIGINAL_LOGIN(), N'worker.claimnextjobs');"
    )
    current = "INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Source) VALUES (N'req-current', 'job', N'x', 'claimed', N'x');"
    assert {role: outcome(login[role], previous) for role in login} == dict.fromkeys(login, "ran")
    assert outcome(login["ops"], "SELECT TOP (1) ClaimToken FROM dbo.ProcessingJobs;") == "ran"  # the previous core.ReturnJob

    assert Migrator(target).migrate().applied == (contract,)
    assert {role: outcome(login[role], previous) for role in login} == dict.fromkeys(login, "refused")
    assert {role: outcome(login[role], current) for role in login} == dict.fromkeys(login, "ran")
    assert outcome(login["ops"], "SELECT TOP (1) ClaimToken FROM dbo.ProcessingJobs;") == "refused"
