"""dbo.sp_CleanupOldData deletes old finished data and nothing else, audits as it goes, and can be
told to count only (@DryRun) or to stop in time (@TimeLimitSeconds)."""

from __future__ import annotations

import uuid

import pytest

from songsdb.config import Settings

from .helpers import query, scalar

pytestmark = pytest.mark.usefixtures("clean_tables")


@pytest.fixture
def clean_tables(migrated: Settings) -> None:
    for table in ("SeparatedTracks", "Transcriptions", "ChromaAnalysis", "JobAttempts", "ProcessingJobs", "Songs", "AuditLog"):
        query(migrated, f"DELETE FROM dbo.{table};")


def add_song(db: Settings, status: str, days_old: int) -> str:
    song_id = str(uuid.uuid4())
    query(
        db,
        "INSERT INTO dbo.Songs (Id, FileId, FileName, Status, UploadedAt, LastModified) "
        "VALUES (?, ?, N'a.mp3', ?, DATEADD(DAY, -?, SYSUTCDATETIME()), DATEADD(DAY, -?, SYSUTCDATETIME()));",
        song_id, f"f-{song_id}", status, days_old, days_old,
    )
    return song_id


def add_job(db: Settings, song_id: str, status: str, days_old: int) -> str:
    job_id = str(uuid.uuid4())
    completed = "DATEADD(DAY, -?, SYSUTCDATETIME())" if status in ("completed", "failed", "cancelled") else "NULL"
    params = [job_id, song_id, status, days_old] + ([days_old] if completed != "NULL" else [])
    query(
        db,
        "INSERT INTO dbo.ProcessingJobs (JobId, SongId, ModelName, JobType, Status, CreatedAt, CompletedAt) "
        f"VALUES (?, ?, N'demucs', 'separation', ?, DATEADD(DAY, -?, SYSUTCDATETIME()), {completed});",
        *params,
    )
    query(
        db,
        "INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath) VALUES (?, ?, N'vocals', N'/s/v.wav');",
        song_id, job_id,
    )
    return job_id


def cleanup(db: Settings, days: int, batch_size: int = 1000, audit_days: int = 365) -> dict[str, int]:
    rows = query(
        db, "EXEC dbo.sp_CleanupOldData @DaysToKeep = ?, @AuditDaysToKeep = ?, @BatchSize = ?;", days, audit_days, batch_size
    )
    assert all(bool(finished) for _, _, finished in rows)
    return {str(name): int(count) for name, count, _ in rows}


def add_audit(db: Settings, days_old: int) -> None:
    query(
        db,
        "INSERT INTO dbo.AuditLog (EntityType, Action, [Timestamp]) VALUES ('song', 'created', DATEADD(DAY, -?, SYSUTCDATETIME()));",
        days_old,
    )


def count(db: Settings, table: str) -> int:
    return int(scalar(db, f"SELECT COUNT(*) FROM dbo.{table};"))


def test_old_finished_jobs_their_results_and_their_finished_songs_are_deleted(migrated: Settings) -> None:
    song = add_song(migrated, "completed", 90)
    add_job(migrated, song, "completed", 90)
    add_job(migrated, song, "failed", 80)
    counts = cleanup(migrated, days=30, batch_size=1)  # batch size 1 exercises the loops
    assert counts["dbo.ProcessingJobs"] == 2
    assert counts["dbo.SeparatedTracks"] == 2
    assert counts["dbo.Songs"] == 1
    assert count(migrated, "Songs") == count(migrated, "ProcessingJobs") == count(migrated, "SeparatedTracks") == 0


def test_queued_and_running_jobs_and_their_songs_are_never_deleted(migrated: Settings) -> None:
    song = add_song(migrated, "completed", 400)
    add_job(migrated, song, "queued", 400)
    add_job(migrated, song, "running", 400)
    finished = add_job(migrated, song, "completed", 400)
    counts = cleanup(migrated, days=7)
    assert counts["dbo.ProcessingJobs"] == 1 and counts["dbo.Songs"] == 0
    assert scalar(migrated, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE JobId = ?;", finished) == 0
    assert count(migrated, "ProcessingJobs") == 2 and count(migrated, "Songs") == 1


def test_recent_data_is_kept(migrated: Settings) -> None:
    song = add_song(migrated, "completed", 2)
    add_job(migrated, song, "completed", 2)
    counts = cleanup(migrated, days=30)
    assert set(counts) == {
        "dbo.Songs", "dbo.ProcessingJobs", "dbo.SeparatedTracks", "dbo.Transcriptions", "dbo.ChromaAnalysis", "dbo.AuditLog",
    }
    assert all(v == 0 for v in counts.values())
    assert count(migrated, "Songs") == 1 and count(migrated, "ProcessingJobs") == 1


def test_unfinished_songs_without_jobs_are_kept_and_old_audit_rows_go_after_their_own_retention(migrated: Settings) -> None:
    add_song(migrated, "uploaded", 400)
    add_audit(migrated, 400)
    add_audit(migrated, 200)
    query(migrated, "INSERT INTO dbo.AuditLog (EntityType, Action) VALUES ('song', 'created');")
    counts = cleanup(migrated, days=30)  # the audit trail keeps 365 days by default
    assert counts["dbo.Songs"] == 0 and counts["dbo.AuditLog"] == 1
    assert cleanup(migrated, days=30, audit_days=100)["dbo.AuditLog"] == 1
    assert count(migrated, "Songs") == 1


def test_each_step_writes_one_audit_row_with_its_counts(migrated: Settings) -> None:
    song = add_song(migrated, "failed", 90)
    add_job(migrated, song, "cancelled", 90)
    add_job(migrated, song, "completed", 90)
    add_audit(migrated, 400)
    query(migrated, "INSERT INTO dbo.Transcriptions (SongId, FullText) VALUES (?, N'job-less');", song)
    query(migrated, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @BatchSize = 1, @RequestId = N'req-cleanup-1';")
    rows = query(migrated, "SELECT EntityType, Action, Details FROM dbo.AuditLog WHERE RequestId = N'req-cleanup-1' ORDER BY Id;")
    assert [r[:2] for r in rows] == [("system", "cleaned_up")] * 3
    jobs, songs, audit = (r[2] for r in rows)
    # two batches of one job each: the step's row was brought up to date in the second batch's transaction
    assert '"step":"jobs"' in jobs and '"processingJobs":2' in jobs and '"separatedTracks":2' in jobs
    assert '"finished":true' in jobs and '"songs":1' in songs and '"auditLog":1' in audit
    assert '"transcriptions":1' in songs  # the song's job-less results are recorded with it


def test_the_jobs_steps_audit_row_counts_the_attempts_it_deleted(migrated: Settings) -> None:
    """The DBA review's m3: the jobs' dbo.JobAttempts rows go with them, and the audit row says how many."""
    song = add_song(migrated, "failed", 90)
    jobs = [add_job(migrated, song, "failed", 90), add_job(migrated, song, "completed", 90)]
    for attempt, job in enumerate([jobs[0], jobs[0], jobs[1]], start=1):
        query(
            migrated,
            "INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, ClaimedAt, EndedAt, Outcome) "
            "VALUES (?, ?, NEWID(), N'gpu-1', DATEADD(DAY, -90, SYSUTCDATETIME()), DATEADD(DAY, -90, SYSUTCDATETIME()), 'failed');",
            job, attempt,
        )
    query(migrated, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @BatchSize = 1, @RequestId = N'req-cleanup-attempts';")
    assert count(migrated, "JobAttempts") == 0 and count(migrated, "ProcessingJobs") == 0
    rows = query(migrated, "SELECT Details FROM dbo.AuditLog WHERE RequestId = N'req-cleanup-attempts' ORDER BY Id;")
    [jobs_row] = [str(r[0]) for r in rows if '"step":"jobs"' in str(r[0])]
    assert '"processingJobs":2' in jobs_row and '"jobAttempts":3' in jobs_row


def test_a_dry_run_counts_what_a_run_deletes_and_deletes_nothing(migrated: Settings) -> None:
    song = add_song(migrated, "completed", 90)
    add_job(migrated, song, "completed", 90)
    add_job(migrated, song, "failed", 80)
    add_audit(migrated, 400)
    dry = {str(n): int(c) for n, c, _ in query(migrated, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1;")}
    assert count(migrated, "ProcessingJobs") == 2 and count(migrated, "Songs") == 1 and count(migrated, "AuditLog") == 1
    assert scalar(migrated, "SELECT COUNT(*) FROM dbo.AuditLog WHERE Action = 'cleaned_up';") == 0
    assert dry == cleanup(migrated, days=30)
    assert dry["dbo.ProcessingJobs"] == 2 and dry["dbo.Songs"] == 1 and dry["dbo.AuditLog"] == 1


DIGITS = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"


def add_old_jobs(db: Settings, song_id: str, how_many: int) -> None:
    """``how_many`` completed jobs finished 90 days ago, in one set-based INSERT (up to 10,000)."""
    query(
        db,
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, CreatedAt, CompletedAt) "
        "SELECT TOP (?) ?, N'demucs', 'separation', 'completed', DATEADD(DAY, -91, SYSUTCDATETIME()), "
        "DATEADD(DAY, -90, SYSUTCDATETIME()) "
        f"FROM {DIGITS} AS a (n) CROSS JOIN {DIGITS} AS b (n) CROSS JOIN {DIGITS} AS c (n) CROSS JOIN {DIGITS} AS d (n);",
        how_many, song_id,
    )


def test_a_run_out_of_time_stops_between_batches_and_has_audited_exactly_what_it_deleted(migrated: Settings) -> None:
    song = add_song(migrated, "completed", 90)
    add_old_jobs(migrated, song, 4000)
    # batches of one job: 4000 short transactions take well over the one-second limit
    rows = query(migrated, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @BatchSize = 1, @TimeLimitSeconds = 1, @RequestId = N'req-limit';")
    stopped = {str(n): (int(c), bool(f)) for n, c, f in rows}
    deleted, finished = stopped["dbo.ProcessingJobs"]
    assert not finished and 0 < deleted < 4000
    assert count(migrated, "ProcessingJobs") == 4000 - deleted
    assert not stopped["dbo.Songs"][1] and not stopped["dbo.AuditLog"][1]  # later steps were not reached
    [details] = [r[0] for r in query(migrated, "SELECT Details FROM dbo.AuditLog WHERE RequestId = N'req-limit';")]
    assert f'"processingJobs":{deleted},' in details and '"finished":false' in details
    rest = cleanup(migrated, days=30, batch_size=4000)
    assert rest["dbo.ProcessingJobs"] == 4000 - deleted and rest["dbo.Songs"] == 1
    assert count(migrated, "ProcessingJobs") == 0


def test_a_job_created_for_a_song_during_cleanup_keeps_the_song_and_the_run_succeeds(migrated: Settings) -> None:
    from songsdb.database import SongsDatabase

    song = add_song(migrated, "completed", 90)
    add_old_jobs(migrated, song, 3000)
    created: list[object] = []
    errors_seen: list[BaseException] = []

    def create_jobs() -> None:
        with SongsDatabase(migrated) as client:
            for _ in range(30):
                try:
                    created.append(client.create_job(uuid.UUID(song), "demucs", "separation"))
                except Exception as exc:  # the song may be gone: that must be SongNotFound
                    errors_seen.append(exc)

    import threading

    writer = threading.Thread(target=create_jobs)
    writer.start()
    rows = query(migrated, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @BatchSize = 100;")
    writer.join()
    counts = {str(n): int(c) for n, c, _ in rows}
    from songsdb import errors

    assert all(isinstance(e, errors.SongNotFound) for e in errors_seen), errors_seen
    if created:  # a job made before the song step keeps the song
        assert counts["dbo.Songs"] == 0 and count(migrated, "Songs") == 1
    else:
        assert counts["dbo.Songs"] == 1
    assert counts["dbo.ProcessingJobs"] == 3000


def test_cleanup_refuses_to_run_inside_a_transaction(migrated: Settings) -> None:
    import pyodbc

    with pytest.raises(pyodbc.Error, match=r"cannot run inside a transaction.*\(50005\)"):
        query(migrated, "BEGIN TRANSACTION; EXEC dbo.sp_CleanupOldData @DaysToKeep = 30;")
    assert query(migrated, "SELECT @@TRANCOUNT;")[0][0] == 0


@pytest.mark.parametrize(
    ("days", "audit_days", "batch", "name"),
    [
        (6, 365, 1000, "@DaysToKeep"),
        (-5, 365, 1000, "@DaysToKeep"),
        (36501, 365, 1000, "@DaysToKeep"),
        (30, 89, 1000, "@AuditDaysToKeep"),
        (30, 365, 0, "@BatchSize"),
        (30, 365, 5000, "@BatchSize"),
    ],
)
def test_bad_parameters_and_retention_below_the_floor_are_refused_by_name_and_delete_nothing(
    migrated: Settings, days: int, audit_days: int, batch: int, name: str
) -> None:
    import pyodbc

    song = add_song(migrated, "completed", 90)
    add_job(migrated, song, "completed", 90)
    add_audit(migrated, 400)
    with pytest.raises(pyodbc.Error, match=rf"{name}.*Supported values") as info:
        cleanup(migrated, days=days, batch_size=batch, audit_days=audit_days)
    assert "(50002)" in str(info.value)
    assert count(migrated, "Songs") == 1 and count(migrated, "ProcessingJobs") == 1 and count(migrated, "AuditLog") == 1
