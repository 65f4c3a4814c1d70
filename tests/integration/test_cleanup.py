"""dbo.sp_CleanupOldData deletes old finished data and nothing else."""

from __future__ import annotations

import uuid

import pytest

from songsdb.config import Settings

from .helpers import query, scalar

pytestmark = pytest.mark.usefixtures("clean_tables")


@pytest.fixture
def clean_tables(migrated: Settings) -> None:
    for table in ("SeparatedTracks", "Transcriptions", "ChromaAnalysis", "ProcessingJobs", "Songs", "AuditLog"):
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


def cleanup(db: Settings, days: int, batch_size: int = 1000) -> dict[str, int]:
    rows = query(db, "EXEC dbo.sp_CleanupOldData @DaysToKeep = ?, @BatchSize = ?;", days, batch_size)
    return {str(name): int(count) for name, count in rows}


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
    counts = cleanup(migrated, days=1)
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


def test_unfinished_songs_without_jobs_are_kept_and_old_audit_rows_go(migrated: Settings) -> None:
    add_song(migrated, "uploaded", 400)
    query(migrated, "INSERT INTO dbo.AuditLog (EntityType, Action, [Timestamp]) VALUES ('song', 'created', DATEADD(DAY, -400, SYSUTCDATETIME()));")
    query(migrated, "INSERT INTO dbo.AuditLog (EntityType, Action) VALUES ('song', 'created');")
    counts = cleanup(migrated, days=30)
    assert counts["dbo.Songs"] == 0 and counts["dbo.AuditLog"] == 1
    assert count(migrated, "Songs") == 1


def test_each_run_writes_one_audit_row_with_its_counts(migrated: Settings) -> None:
    song = add_song(migrated, "failed", 90)
    add_job(migrated, song, "cancelled", 90)
    query(migrated, "EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @RequestId = N'req-cleanup-1';")
    rows = query(migrated, "SELECT EntityType, Action, Details FROM dbo.AuditLog WHERE RequestId = N'req-cleanup-1';")
    assert len(rows) == 1 and rows[0][:2] == ("system", "cleaned_up")
    assert '"processingJobs":1' in rows[0][2] and '"songs":1' in rows[0][2]


@pytest.mark.parametrize(("days", "batch"), [(0, 1000), (-5, 1000), (36501, 1000), (30, 0), (30, 5000)])
def test_bad_parameters_are_refused_by_name_and_delete_nothing(migrated: Settings, days: int, batch: int) -> None:
    import pyodbc

    song = add_song(migrated, "completed", 90)
    add_job(migrated, song, "completed", 90)
    with pytest.raises(pyodbc.Error, match=r"@(DaysToKeep|BatchSize).*Supported values") as info:
        cleanup(migrated, days=days, batch_size=batch)
    assert "(50002)" in str(info.value)
    assert count(migrated, "Songs") == 1 and count(migrated, "ProcessingJobs") == 1
