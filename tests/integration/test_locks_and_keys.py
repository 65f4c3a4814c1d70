"""Locks and keys on a real engine (issue #18, section 4): import chunks and cleanup statements stay
below SQL Server's lock escalation, malformed @Jobs elements get the catalogue's 50004, JSON may
start with whitespace, the queue dashboard reads an index of open work, api.DeleteSong waits for a
worker instead of failing, and the indexes nothing read are gone."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pyodbc
import pytest

from songsdb import errors
from songsdb.bulk import MAX_CHUNK
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import query, scalar

DIGITS = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"


def new_song(db: Settings, status: str = "uploaded") -> str:
    song = str(uuid.uuid4())
    query(
        db,
        "INSERT INTO dbo.Songs (Id, FileId, FileName, Status, LastModified) VALUES (?, ?, N'a.mp3', ?, DATEADD(DAY, -90, SYSUTCDATETIME()));",
        song, f"f-{song}", status,
    )
    return song


# ----- 1. import chunks -----------------------------------------------------------------------


def test_an_import_chunk_is_at_most_4000_rows_on_the_server_and_in_the_client(
    songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    assert MAX_CHUNK == 4000
    too_many = json.dumps([{"fileId": f"f-{i}", "fileName": "a.mp3"} for i in range(4001)])
    with pytest.raises(pyodbc.Error, match=r"@Songs is not supported\. Supported values are a JSON array of 1 to 4000 songs.*\(50002\)"):
        query(songsdb_database, "EXEC api.ImportSongs @Songs = ?;", too_many)
    with pytest.raises(errors.ValidationError, match=r"chunk_size must be a whole number from 1 to 4000"):
        songsdb_web.import_songs([{"file_id": "x", "filename": "a.mp3"}], chunk_size=4001)
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs;") == 0
    summary = songsdb_web.import_songs(({"file_id": f"bulk-{i}", "filename": "a.mp3"} for i in range(4000)), chunk_size=4000)
    assert summary.created == 4000 and not summary.failed


# ----- 2. the cleanup's batches ----------------------------------------------------------------


def add_finished_jobs_with_stems(db: Settings, song: str, jobs: int, stems: int) -> None:
    query(
        db,
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, CompletedAt) "
        f"SELECT TOP (?) ?, N'demucs', 'separation', 'completed', DATEADD(DAY, -90, SYSUTCDATETIME()) FROM {DIGITS} AS a (n) CROSS JOIN {DIGITS} AS b (n);",
        jobs, song,
    )
    query(
        db,
        "INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath) "
        "SELECT j.SongId, j.JobId, CONCAT(N'stem-', s.n), N'/s/x.wav' FROM dbo.ProcessingJobs AS j "
        f"CROSS JOIN (SELECT TOP (?) a.n * 10 + b.n AS n FROM {DIGITS} AS a (n) CROSS JOIN {DIGITS} AS b (n)) AS s "
        "WHERE j.SongId = ?;",
        stems, song,
    )


def cleanup_steps(db: Settings, batch_size: int, request_id: str) -> tuple[dict[str, int], dict[str, dict[str, object]]]:
    rows = query(db, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @BatchSize = ?, @RequestId = ?;", batch_size, request_id)
    counts = {str(n): int(c) for n, c, f in rows if f}
    details = [json.loads(str(r[0])) for r in query(db, "SELECT Details FROM dbo.AuditLog WHERE RequestId = ? ORDER BY Id;", request_id)]
    return counts, {str(d["step"]): d for d in details}


def test_a_cleanup_batch_holds_at_most_batch_size_stems_as_well_as_jobs(songsdb_database: Settings) -> None:
    song = new_song(songsdb_database, "completed")
    add_finished_jobs_with_stems(songsdb_database, song, jobs=10, stems=32)  # 320 stems, 32 a job (the most a call adds)
    counts, steps = cleanup_steps(songsdb_database, 100, "req-stems")
    # batches of 3 jobs (96 stems), not one batch of 10 jobs and 320 stems
    assert (counts["dbo.ProcessingJobs"], counts["dbo.SeparatedTracks"], counts["dbo.Songs"]) == (10, 320, 1)
    assert (steps["jobs"]["batches"], steps["jobs"]["processingJobs"], steps["jobs"]["separatedTracks"]) == (4, 10, 320)
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.SeparatedTracks;") == 0


def test_a_job_with_more_stems_than_a_batch_is_a_batch_of_its_own_deleted_in_batch_size_statements(
    songsdb_database: Settings,
) -> None:
    song = new_song(songsdb_database, "completed")
    add_finished_jobs_with_stems(songsdb_database, song, jobs=3, stems=25)
    query(  # results of other kinds, more than one statement's worth too
        songsdb_database,
        "INSERT INTO dbo.Transcriptions (SongId, JobId, FullText) SELECT j.SongId, j.JobId, N't' FROM dbo.ProcessingJobs AS j "
        f"CROSS JOIN {DIGITS} AS d (n) CROSS JOIN (VALUES (0), (1)) AS e (n) WHERE j.SongId = ?;",
        song,
    )
    counts, steps = cleanup_steps(songsdb_database, 10, "req-big-job")
    assert (counts["dbo.ProcessingJobs"], counts["dbo.SeparatedTracks"], counts["dbo.Transcriptions"]) == (3, 75, 60)
    assert steps["jobs"]["batches"] == 3 and steps["jobs"]["finished"] is True
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.SeparatedTracks;") == 0
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Transcriptions;") == 0


def test_the_dry_run_counts_the_stems_and_audit_rows_the_run_deletes(songsdb_database: Settings) -> None:
    song = new_song(songsdb_database, "completed")
    add_finished_jobs_with_stems(songsdb_database, song, jobs=4, stems=5)
    for days in (400, 380, 30):  # two older than the audit trail's 365 days
        query(songsdb_database, "INSERT INTO dbo.AuditLog (EntityType, Action, [Timestamp]) VALUES ('song', 'created', DATEADD(DAY, -?, SYSUTCDATETIME()));", days)
    dry = {str(n): int(c) for n, c, _ in query(songsdb_database, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;")}
    counts, _ = cleanup_steps(songsdb_database, 3, "req-dry")
    assert dry == counts
    assert (dry["dbo.SeparatedTracks"], dry["dbo.AuditLog"]) == (20, 2)


def test_old_audit_rows_go_in_id_order_up_to_the_first_row_that_is_not_old(songsdb_database: Settings) -> None:
    for days in (400, 380, 10, 390):  # the last is an old row after a newer one: a clock set back
        query(songsdb_database, "INSERT INTO dbo.AuditLog (EntityType, Action, [Timestamp]) VALUES ('song', 'created', DATEADD(DAY, -?, SYSUTCDATETIME()));", days)
    counts, steps = cleanup_steps(songsdb_database, 1, "req-audit-order")
    assert counts["dbo.AuditLog"] == 2 and (steps["audit"]["auditLog"], steps["audit"]["batches"]) == (2, 2)
    kept = [int(r[0]) for r in query(songsdb_database, "SELECT DATEDIFF(DAY, [Timestamp], SYSUTCDATETIME()) FROM dbo.AuditLog WHERE RequestId IS NULL ORDER BY Id;")]
    assert kept == [10, 390]  # the out-of-order one waits until the row before it is old too


# ----- 4. malformed JSON arrays and leading whitespace ----------------------------------------------


@pytest.mark.parametrize("jobs", ['[1]', '["x"]', '[[1]]', '[null]', '[true]', '[{"modelName": "demucs", "jobType": "separation"}, 2]'])
def test_enqueue_jobs_refuses_an_element_that_is_not_an_object_with_50004_naming_jobs(songsdb_database: Settings, jobs: str) -> None:
    song = new_song(songsdb_database)
    with pytest.raises(pyodbc.Error) as raised:
        query(songsdb_database, "EXEC api.EnqueueJobs @SongId = ?, @Jobs = ?;", song, jobs)
    text = str(raised.value)
    assert "(50004)" in text and "@Jobs" in text and "every job must be a JSON object" in text, text
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs;") == 0
    good = query(songsdb_database, "EXEC api.EnqueueJobs @SongId = ?, @Jobs = ?;", song, '[{"modelName": "demucs", "jobType": "separation"}]')
    assert len(good) == 1


@pytest.mark.parametrize("lead", ["\n", "\t", "\r\n", " \n\t "])
def test_json_that_starts_with_whitespace_is_accepted_and_still_checked_for_its_shape(
    songsdb_web: SongsDatabase, songsdb_database: Settings, lead: str
) -> None:
    song = new_song(songsdb_database)
    jobs = query(songsdb_database, "EXEC api.EnqueueJobs @SongId = ?, @Jobs = ?;", song, lead + '[{"modelName": "demucs", "jobType": "chroma"}]')
    assert len(jobs) == 1
    updated = songsdb_web.update_song(uuid.UUID(song), metadata=lead + '{"bpm": 120}')
    assert updated.metadata == {"bpm": 120}
    entry = songsdb_web.log_audit("song", song, "viewed", details=lead + '{"page": 1}')
    assert entry.details == {"page": 1}
    with pytest.raises(errors.ValidationError) as raised:  # an array where an object belongs, whitespace or not
        songsdb_web.log_audit("song", song, "viewed", details=lead + "[1]")
    assert raised.value.number == 50004 and raised.value.server_parameter == "@Details"


# ----- 5. the queue dashboard's index, and DeleteSong's lock order ----------------------------------------


def index_names(db: Settings, table: str) -> set[str]:
    # Babelfish names a T-SQL index <name><table><hash> in lower case in its catalog
    rows = query(db, "SELECT i.name FROM sys.indexes AS i WHERE i.object_id = OBJECT_ID(?) AND i.name IS NOT NULL;", table)
    return {str(r[0]).lower() for r in rows}


def has_index(names: set[str], name: str) -> bool:
    # ... and cuts the name part to 31 characters where the whole would pass PostgreSQL's 63
    return any(n == name.lower() or n.startswith(name.lower()[:31]) for n in names)


def test_a_queue_status_poll_reads_the_open_work_index_not_the_job_table(songsdb_ops: SongsDatabase, songsdb_database: Settings, engine: str) -> None:
    song = new_song(songsdb_database)
    query(
        songsdb_database,
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, CompletedAt) "
        f"SELECT TOP (20000) ?, N'demucs', 'separation', 'completed', SYSUTCDATETIME() FROM {DIGITS} AS a (n) "
        f"CROSS JOIN {DIGITS} AS b (n) CROSS JOIN {DIGITS} AS c (n) CROSS JOIN {DIGITS} AS d (n) CROSS JOIN (VALUES (0), (1)) AS e (n);",
        song,
    )
    query(songsdb_database, "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType) VALUES (?, N'demucs', 'separation'), (?, N'whisper', 'transcription');", song, song)
    assert has_index(index_names(songsdb_database, "dbo.ProcessingJobs"), "IX_ProcessingJobs_OpenWork")
    status = {(q.model_name, q.job_type): q.queued for q in songsdb_ops.queue_status()}
    assert status == {("demucs", "separation"): 1, ("whisper", "transcription"): 1}
    if engine != "babelfish":
        return  # SQL Server: the plan is checked in the B1 run (no SQL Server here); the index exists
    query(songsdb_database, "EXEC sp_updatestats;")
    conn = pyodbc.connect(songsdb_database.odbc(), autocommit=True, timeout=30)
    try:
        cursor = conn.cursor()
        cursor.execute("SET BABELFISH_SHOWPLAN_ALL ON;")
        cursor.execute("SELECT * FROM dbo.vw_QueueStatus;")
        lines: list[str] = []
        while True:
            if cursor.description is not None:
                lines.extend(str(r[0]) for r in cursor.fetchall())
            if not cursor.nextset():
                break
        plan = "\n".join(lines)
        cursor.execute("SET BABELFISH_SHOWPLAN_ALL OFF;")
    finally:
        conn.close()
    # the open work only: the covering filtered index, or (PostgreSQL's choice when its statistics make
    # them equal; seen under MS ODBC 18 after 0028) a seek on another index keyed on Status first
    assert "using ix_processingjobs_openwork" in plan or "Index Cond: (status = ANY" in plan, plan
    assert "Seq Scan on processingjobs" not in plan, plan


def test_delete_song_waits_for_a_worker_completing_its_job_then_deletes_the_new_results_too(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_database: Settings
) -> None:
    song = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    songsdb_web.create_job(song, "demucs", "separation")
    job = songsdb_worker.claim_next_job("gpu-1")
    assert job is not None and job.claim_token is not None
    outcome: list[object] = []
    deleting = threading.Event()

    def delete() -> None:
        deleting.set()
        try:
            outcome.append(songsdb_web.delete_song(song))
        except Exception as exc:  # reported below
            outcome.append(exc)

    with songsdb_worker.transaction() as tx:  # the worker's completion is in flight, uncommitted
        tx.complete_job(job.id, job.claim_token, tracks=[{"stem_name": n, "file_path": f"/s/{n}.wav"} for n in ("vocals", "drums")])
        deleter = threading.Thread(target=delete)
        deleter.start()
        deleting.wait(5)
        time.sleep(1.5)
        assert deleter.is_alive() and outcome == []  # it waits for the worker's job, not for nothing
    deleter.join(30)
    [deleted] = outcome
    assert not isinstance(deleted, BaseException), deleted
    assert (deleted.jobs_deleted, deleted.tracks_deleted) == (1, 2)  # the stems committed meanwhile went too
    for table in ("Songs", "ProcessingJobs", "SeparatedTracks"):
        assert scalar(songsdb_database, f"SELECT COUNT(*) FROM dbo.{table};") == 0


def test_delete_song_racing_a_new_job_either_takes_it_along_or_is_a_conflict_that_deletes_nothing(
    songsdb_web: SongsDatabase, songsdb_settings: dict[str, Settings], songsdb_database: Settings, engine: str
) -> None:
    song = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    other = SongsDatabase(songsdb_settings["web"], role="web")  # another web request, on its own connection
    outcome: list[object] = []

    def delete() -> None:
        try:
            outcome.append(songsdb_web.delete_song(song))
        except Exception as exc:
            outcome.append(exc)

    try:
        with other.transaction() as tx:  # a job for the song, not committed yet
            tx.create_job(song, "demucs", "separation")
            deleter = threading.Thread(target=delete)
            deleter.start()
            time.sleep(1.5)
        deleter.join(30)
    finally:
        other.close()
    [result] = outcome
    if engine == "sqlserver":  # the key-range lock waited for the new job, which is deleted with the song
        assert not isinstance(result, BaseException), result
        assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs;") == 0
    else:  # hints ignored: the new job makes the delete a conflict, and nothing is deleted
        assert isinstance(result, errors.ConcurrencyConflict), result
        assert result.number == 50901 and "Try again" in str(result)
        assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs;") == 1
        assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs;") == 1
        assert songsdb_web.delete_song(song).jobs_deleted == 1  # called again, it goes through


# ----- 6. indexes nothing reads ------------------------------------------------------------------------


def test_the_indexes_nothing_read_are_gone_and_the_cleanup_still_finds_old_audit_rows(songsdb_database: Settings) -> None:
    jobs, audit = index_names(songsdb_database, "dbo.ProcessingJobs"), index_names(songsdb_database, "dbo.AuditLog")
    assert not has_index(jobs, "IX_ProcessingJobs_RequestId") and not has_index(audit, "IX_AuditLog_Timestamp")
    assert has_index(jobs, "IX_ProcessingJobs_SongId_CreatedAt") and has_index(audit, "IX_AuditLog_RequestId_Id")
    query(songsdb_database, "INSERT INTO dbo.AuditLog (EntityType, Action, [Timestamp]) VALUES ('song', 'created', DATEADD(DAY, -400, SYSUTCDATETIME()));")
    counts, _ = cleanup_steps(songsdb_database, 1000, "req-no-timestamp-index")
    assert counts["dbo.AuditLog"] == 1


# ----- 7. PAGE compression of the audit trail, online only -------------------------------------------------

AUDIT_INDEXES = ("PK_AuditLog", "IX_AuditLog_EntityType_EntityId", "IX_AuditLog_RequestId_Id")


def test_the_audit_trails_indexes_are_page_compressed_only_where_they_can_be_rebuilt_online(
    songsdb_database: Settings, engine: str
) -> None:
    from songsdb.lint import lint
    from songsdb.migrations import discover, render, template_context

    scripts = {s.name: s for s in discover()}
    names = ("schema/0019_compress_audit_log_clustered_index.sql", "schema/0020_compress_audit_log_entity_index.sql",
             "schema/0021_compress_audit_log_request_index.sql")
    for name, index in zip(names, AUDIT_INDEXES):
        script = scripts[name]
        assert not script.transactional  # a RESUMABLE rebuild cannot run in a transaction
        sqlserver = render(script, template_context("sqlserver", "SongsDB")).text
        code = sqlserver.split("*/", 1)[1]  # after the header comment
        rebuilds = [line for line in code.splitlines() if "REBUILD" in line and not line.lstrip().startswith(("--", "PRINT"))]
        assert rebuilds == [f"        EXEC (N'ALTER INDEX {index} ON dbo.AuditLog REBUILD WITH ("]  # the online one only
        assert "DATA_COMPRESSION = PAGE" in sqlserver and "RESUMABLE = ON" in sqlserver
        assert "ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF))" in sqlserver
        assert "SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)" in sqlserver
        assert lint(script, sqlserver, engine="sqlserver") == []  # no offline rebuild to excuse
        assert "REBUILD" not in render(script, template_context("babelfish", "SongsDB")).text.split("*/", 1)[1]
    applied = {str(r[0]) for r in query(songsdb_database, "SELECT ScriptName FROM deploy.SchemaHistory WHERE Success = 1;")}
    assert set(names) <= applied
    if engine != "sqlserver":
        return
    online = scalar(
        songsdb_database,
        "SELECT CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8) OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 "
        "AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 15) THEN 1 ELSE 0 END;",
    )
    rows = query(
        songsdb_database,
        "SELECT i.name, p.data_compression_desc FROM sys.partitions AS p INNER JOIN sys.indexes AS i "
        "ON i.object_id = p.object_id AND i.index_id = p.index_id WHERE i.object_id = OBJECT_ID(N'dbo.AuditLog') AND i.name IS NOT NULL;",
    )
    compression = {str(n): str(c) for n, c in rows}
    assert {compression[i] for i in AUDIT_INDEXES} == ({"PAGE"} if online else {"NONE"})
