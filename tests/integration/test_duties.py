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

ROLES = {"web": "api", "worker": "worker", "ops": "ops"}
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
        expected = "ran" if own == schema else "refused"
        assert outcome(login[role], call_with_nulls(procedure)) == expected, f"{role} {call_with_nulls(procedure)}"


@pytest.mark.parametrize("helper", HELPERS)
def test_no_role_may_call_an_internal_helper_on_sql_server(duty, helper: str, engine: str) -> None:
    if engine == "babelfish":
        pytest.skip("Babelfish runs procedures with the caller's rights: 0009 grants EXECUTE on core to every role")
    target, login = duty
    for role in ROLES:
        assert outcome(login[role], call_with_nulls(helper)) == "refused", role
    assert outcome(target, call_with_nulls(helper)) == "ran"  # the owner may: the helper itself is fine


def test_the_web_and_worker_roles_cannot_run_the_cleanup_or_touch_the_audit_log(duty, engine: str) -> None:
    target, login = duty
    for role in ("web", "worker"):
        assert outcome(login[role], "EXEC dbo.sp_CleanupOldData @DaysToKeep = 7;") == "refused", role
        assert outcome(login[role], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "refused", role
        assert outcome(login[role], "UPDATE dbo.AuditLog SET Details = NULL WHERE 1 = 0;") == "refused", role
    assert outcome(login["ops"], "EXEC ops.CleanupOldData @DaysToKeep = 7, @DryRun = 1;") == "ran"
    if engine == "babelfish":  # caller's rights: ops holds DELETE on the audit log, and only ops does
        assert outcome(login["ops"], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "ran"
    else:  # ownership chaining: nobody but the owner touches a table directly
        assert outcome(login["ops"], "DELETE FROM dbo.AuditLog WHERE 1 = 0;") == "refused"
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
    assert outcome(login["worker"], "SELECT COUNT(*) FROM dbo.Songs;") == "ran"
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
        assert ops.cleanup_old_data(7, dry_run=True).dry_run is True
        from songsdb import errors

        with pytest.raises(errors.PermissionDenied, match="worker.ClaimNextJob"):
            web.claim_next_job("web-1")
        with pytest.raises(errors.PermissionDenied, match="ops.CleanupOldData"):
            worker.cleanup_old_data(7)
        with pytest.raises(errors.PermissionDenied, match="api.CreateSong"):
            ops.create_song(f"file-{uuid.uuid4()}", "a.mp3")


def test_the_ops_login_runs_the_runbooks_cleanup_and_reads_both_views_on_every_engine(duty) -> None:
    """README's promise for songsdb_ops, on SQL Server as on Babelfish: the grants are made on every engine."""
    target, login = duty
    rows = query(login["ops"], "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;")
    assert {str(r[0]) for r in rows} == {
        "dbo.Songs", "dbo.ProcessingJobs", "dbo.SeparatedTracks", "dbo.Transcriptions", "dbo.ChromaAnalysis", "dbo.AuditLog",
    }
    for view in ("dbo.vw_JobSummary", "dbo.vw_QueueStatus"):
        assert outcome(login["ops"], f"SELECT TOP (1) * FROM {view};") == "ran", view
        for role in ("web", "worker"):
            assert outcome(login[role], f"SELECT TOP (1) * FROM {view};") == "refused", (role, view)
    for role in ("web", "worker"):
        assert outcome(login[role], "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;") == "refused", role


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
