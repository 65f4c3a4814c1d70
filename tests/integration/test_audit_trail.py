"""The audit trail on a real engine (issue #18, section 4): heartbeats audit changes, not beats;
api.LogAudit cannot write the database's own 'system' rows; every row says which login and which
procedure wrote it (0015); the cleanup appends its rows and never updates one."""

from __future__ import annotations

import json
import uuid

import pyodbc
import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import query, scalar


def login_of(settings: Settings) -> str:
    return str(scalar(settings, "SELECT ORIGINAL_LOGIN();"))


def claimed_job(web: SongsDatabase, worker: SongsDatabase) -> tuple[uuid.UUID, uuid.UUID]:
    song = web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    web.create_job(song, "demucs", "separation")
    job = worker.claim_next_job("gpu-1", lease_seconds=300)
    assert job is not None and job.claim_token is not None
    return job.id, job.claim_token


def heartbeat_rows(db: Settings, job_id: uuid.UUID) -> list[dict[str, object]]:
    rows = query(
        db,
        "SELECT Details FROM dbo.AuditLog WHERE EntityType = 'job' AND EntityId = ? AND Action = 'updated' ORDER BY Id;",
        str(job_id),
    )
    return [json.loads(str(r[0])) for r in rows]


def test_a_heartbeat_is_audited_only_when_it_changes_progress_or_message(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_database: Settings
) -> None:
    job_id, token = claimed_job(songsdb_web, songsdb_worker)
    beats: list[tuple[int | None, str | None, bool]] = [
        (10, None, True),  # progress 0 -> 10
        (10, None, False),  # the heartbeat thread resends the last progress
        (None, None, False),  # a bare lease extension
        (None, "separating", True),
        (10, "separating", False),  # both as stored
        (None, "Separating", True),  # case counts
        (None, "Separating ", True),  # so do trailing spaces
        (20, "Separating ", True),  # progress changed, message not
        (0, None, True),  # back to 0 is a change too
    ]
    expected: list[dict[str, object]] = []
    for progress, message, audited in beats:
        job = songsdb_worker.heartbeat(job_id, token, progress=progress, message=message)
        assert job.lease_expires_at is not None  # every beat renews the lease, audited or not
        if audited:
            expected.append({k: v for k, v in (("progress", progress), ("message", message)) if v is not None})
        assert heartbeat_rows(songsdb_database, job_id) == expected, (progress, message)
    assert len(expected) == 6


def test_log_audit_refuses_system_rows_naming_the_parameter_and_writes_nothing(
    songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    before = scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.AuditLog;")
    for entity_type in ("system", "SYSTEM", "System"):
        with pytest.raises(errors.ValidationError) as raised:
            songsdb_web.log_audit(entity_type, "dbo.sp_CleanupOldData", "cleaned_up", details={"songs": 0})
        assert raised.value.number == 50003 and raised.value.server_parameter == "@EntityType"
        assert "Supported values are song, job, track, transcription, chroma." in str(raised.value)
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.AuditLog;") == before
    entry = songsdb_web.log_audit("song", "s-1", "viewed")  # the same call with an entity type it may write
    assert (entry.entity_type, entry.action) == ("song", "viewed")


def test_every_audit_row_records_the_login_and_the_procedure_that_wrote_it(
    songsdb_web: SongsDatabase,
    songsdb_worker: SongsDatabase,
    songsdb_ops: SongsDatabase,
    songsdb_settings: dict[str, Settings],
    songsdb_database: Settings,
) -> None:
    web_login, worker_login, ops_login = (login_of(songsdb_settings[r]) for r in ("web", "worker", "ops"))
    assert len({web_login, worker_login, ops_login}) == 3

    req = "req-who"
    song = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3", request_id=req)
    songsdb_web.update_song(song, title="Intro", request_id=req)
    songsdb_web.enqueue_jobs(song, [("whisper", "transcription")], request_id=req)
    songsdb_web.import_songs([{"file_id": f"file-{uuid.uuid4()}", "filename": "b.mp3"}], request_id=req)
    songsdb_web.log_audit("song", str(song), "viewed", request_id=req, user_id="someone-else")
    job_id = songsdb_web.create_job(song, "demucs", "separation", request_id=req, max_attempts=1)
    job = songsdb_worker.claim_next_job("gpu-1", job_types=["separation"], request_id=req)
    assert job is not None and job.id == job_id and job.claim_token is not None
    songsdb_worker.heartbeat(job.id, job.claim_token, progress=50, request_id=req)
    songsdb_worker.fail_job(job.id, job.claim_token, "CUDA out of memory", request_id=req)  # its only attempt
    songsdb_ops.retry_job(job.id, request_id=req)
    songsdb_web.update_job_status(job.id, "cancelled", request_id=req)

    rows = query(songsdb_database, "SELECT EntityType, Action, RecordedBy, Source FROM dbo.AuditLog WHERE RequestId = ? ORDER BY Id;", req)
    seen = [(str(t), str(a), str(by), str(src).lower()) for t, a, by, src in rows]
    assert seen == [
        ("song", "created", web_login, "api.createsong"),
        ("song", "updated", web_login, "api.updatesong"),
        ("job", "created", web_login, "api.enqueuejobs"),
        ("song", "created", web_login, "api.importsongs"),
        ("song", "viewed", web_login, "api.logaudit"),  # whatever user_id the caller claims
        ("job", "created", web_login, "api.createjob"),
        ("job", "claimed", worker_login, "worker.claimnextjob"),
        ("job", "updated", worker_login, "worker.heartbeat"),
        ("job", "failed", worker_login, "worker.failjob"),
        ("job", "retried", ops_login, "ops.retryjob"),
        ("job", "status_changed", web_login, "api.updatejobstatus"),
    ]
    trail = songsdb_web.get_audit_trail(request_id=req)  # the client reads the same two columns
    assert [(e.recorded_by, (e.source or "").lower()) for e in trail] == [(by, src) for _, _, by, src in seen]
    written = songsdb_web.log_audit("song", str(song), "viewed", request_id="req-who-2")
    assert (written.recorded_by, (written.source or "").lower()) == (web_login, "api.logaudit")


def test_the_cleanup_appends_one_final_row_per_step_and_never_updates_an_audit_row(
    songsdb_database: Settings, songsdb_retention: SongsDatabase, songsdb_settings: dict[str, Settings]
) -> None:
    song = str(uuid.uuid4())
    query(
        songsdb_database,
        "INSERT INTO dbo.Songs (Id, FileId, FileName, Status, LastModified) VALUES (?, ?, N'a.mp3', 'completed', DATEADD(DAY, -90, SYSUTCDATETIME()));",
        song, f"f-{song}",
    )
    for _ in range(3):
        query(
            songsdb_database,
            "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, CompletedAt) "
            "VALUES (?, N'demucs', 'separation', 'completed', DATEADD(DAY, -90, SYSUTCDATETIME()));",
            song,
        )
    query(songsdb_database, "INSERT INTO dbo.AuditLog (EntityType, Action, [Timestamp]) VALUES ('song', 'created', DATEADD(DAY, -400, SYSUTCDATETIME()));")
    # an audit row that is changed after it was written makes the change fail
    query(
        songsdb_database,
        "CREATE TRIGGER dbo.AuditLogIsAppendOnly ON dbo.AuditLog AFTER UPDATE AS "
        "BEGIN THROW 50002, N'audit rows are append-only', 1; END;",
    )
    try:
        report = songsdb_retention.cleanup_old_data(30, batch_size=1, request_id="req-append")  # the cleanup's login (0047)
    finally:
        query(songsdb_database, "DROP TRIGGER dbo.AuditLogIsAppendOnly;")
    assert report["dbo.ProcessingJobs"] == 3 and report.finished
    rows = query(
        songsdb_database,
        "SELECT EntityType, Action, Details, RecordedBy, Source FROM dbo.AuditLog WHERE RequestId = N'req-append' ORDER BY Id;",
    )
    steps = [json.loads(str(r[2])) for r in rows]
    assert [(r[0], r[1]) for r in rows] == [("system", "cleaned_up")] * 3
    assert [s["step"] for s in steps] == ["jobs", "songs", "audit"]
    assert (steps[0]["processingJobs"], steps[0]["batches"], steps[0]["finished"]) == (3, 3, True)
    assert (steps[1]["songs"], steps[2]["auditLog"]) == (1, 1)
    retention_login = login_of(songsdb_settings["retention"])
    assert {(str(r[3]), str(r[4]).lower()) for r in rows} == {(retention_login, "dbo.sp_cleanupolddata")}


def test_a_cleanup_stopped_by_an_error_has_recorded_what_its_committed_batches_deleted(
    songsdb_database: Settings,
) -> None:
    song = str(uuid.uuid4())
    query(songsdb_database, "INSERT INTO dbo.Songs (Id, FileId, FileName) VALUES (?, ?, N'a.mp3');", song, f"f-{song}")
    for model in ("demucs", "demucs", "poison"):  # deleted in this order, one job a batch
        query(
            songsdb_database,
            "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, CompletedAt) "
            "VALUES (?, ?, 'separation', 'completed', DATEADD(DAY, -90, SYSUTCDATETIME()));",
            song, model,
        )
    query(
        songsdb_database,
        "CREATE TRIGGER dbo.PoisonJobCannotGo ON dbo.ProcessingJobs AFTER DELETE AS "
        "BEGIN IF EXISTS (SELECT 1 FROM deleted WHERE ModelName = N'poison') THROW 50002, N'poison', 1; END;",
    )
    try:
        with pytest.raises(pyodbc.Error, match=r"poison"):
            query(songsdb_database, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @BatchSize = 1, @RequestId = N'req-stopped';")
    finally:
        query(songsdb_database, "DROP TRIGGER dbo.PoisonJobCannotGo;")
    [details] = [json.loads(str(r[0])) for r in query(songsdb_database, "SELECT Details FROM dbo.AuditLog WHERE RequestId = N'req-stopped';")]
    assert (details["step"], details["processingJobs"], details["batches"]) == ("jobs", 2, 2)
    assert details["finished"] is False and details["error"] == 50002
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs;") == 1  # the poison job stays
    # the cleanup let go of its lock: the next run goes through
    rows = query(songsdb_database, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @RequestId = N'req-after';")
    assert {str(n): int(c) for n, c, _ in rows}["dbo.ProcessingJobs"] == 1
