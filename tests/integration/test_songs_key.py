"""dbo.Songs' internal key (issue #18, section 4; 0040-0046): a populated database upgraded through the
new scripts keeps every row, foreign key and lookup; songs get increasing keys automatically; songs
created while the upgrade runs are all kept."""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.errors import ConcurrencyConflict, MaintenanceStepRequired
from songsdb.migrations import sql_root
from songsdb.migrator import Migrator

from .conftest import DatabaseFactory
from .helpers import history, query, scalar

NEW_SCRIPTS = ("0040_", "0041_", "0042_", "0043_", "0044_", "0045_", "0046_")
RESULT_TABLES = ("ProcessingJobs", "SeparatedTracks", "Transcriptions", "ChromaAnalysis")
SONG_COLUMNS = (
    "Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration, FileExtension, "
    "UploadedAt, LastModified, Metadata, Status"
)


@pytest.fixture
def before_songs_key(databases: DatabaseFactory, tmp_path: Path) -> Settings:
    """A database migrated with everything but 0040-0046: the schema as production has it today."""
    root = tmp_path / "sql"
    shutil.copytree(sql_root(), root)
    for script in (root / "schema").iterdir():
        if script.name.startswith(NEW_SCRIPTS):
            script.unlink()
    target = databases.new(migrate=False)
    Migrator(target, root=root).migrate()
    assert scalar(target, "SELECT COL_LENGTH(N'dbo.Songs', N'SongKey');") is None
    return target


def populate(target: Settings, songs: int) -> list[str]:
    """Songs (created one by one and imported), each with a job, stems, a transcription and an analysis."""
    with SongsDatabase(target) as db:
        ids = [str(db.create_song(f"one-{i}", "a.mp3", title=f"Song {i}")) for i in range(songs // 2)]
        summary = db.import_songs([{"file_id": f"bulk-{i}", "filename": "b.mp3", "artist": "Art"} for i in range(songs - len(ids))])
        ids += [str(summary.song_ids[f"bulk-{i}"]) for i in range(songs - len(ids))]
        for song in ids:
            db.create_job(uuid.UUID(song), "demucs", "separation")
    query(
        target,
        "INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath) "
        "SELECT j.SongId, j.JobId, s.StemName, N'/stems/x.wav' FROM dbo.ProcessingJobs AS j "
        "CROSS JOIN (VALUES (N'vocals'), (N'drums')) AS s (StemName);"
        "INSERT INTO dbo.Transcriptions (SongId, JobId, FullText) SELECT j.SongId, j.JobId, N'la la' FROM dbo.ProcessingJobs AS j;"
        "INSERT INTO dbo.ChromaAnalysis (SongId, JobId, KeyName, Mode) SELECT j.SongId, j.JobId, 'C', 'major' FROM dbo.ProcessingJobs AS j;",
    )
    return ids


def snapshot(target: Settings) -> dict[str, Any]:
    return {
        "songs": sorted(tuple(str(v) for v in r) for r in query(target, f"SELECT {SONG_COLUMNS} FROM dbo.Songs;")),
        **{
            table: sorted(tuple(str(v) for v in r) for r in query(target, f"SELECT Id, SongId FROM dbo.{table};"))
            for table in RESULT_TABLES
        },
    }


def song_keys(target: Settings) -> dict[str, int]:
    return {str(i).lower(): int(k) for i, k in query(target, "SELECT Id, SongKey FROM dbo.Songs;")}


def key_columns(target: Settings, where: str) -> list[str]:
    rows = query(
        target,
        "SELECT COL_NAME(c.object_id, c.column_id) FROM sys.indexes AS i "
        "INNER JOIN sys.index_columns AS c ON c.object_id = i.object_id AND c.index_id = i.index_id "
        f"WHERE i.object_id = OBJECT_ID(N'dbo.Songs') AND {where} AND c.key_ordinal > 0 ORDER BY c.key_ordinal;",
    )
    return [str(r[0]).lower() for r in rows]


def test_a_populated_database_upgraded_to_the_songs_key_keeps_every_row_foreign_key_and_lookup(
    before_songs_key: Settings, engine: str
) -> None:
    target = before_songs_key
    ids = populate(target, 40)
    before = snapshot(target)

    applied = Migrator(target).migrate().applied
    assert [a for a in applied if a.startswith("schema/")] == [
        "schema/0040_songs_key_sequence.sql", "schema/0041_songs_key_column.sql", "schema/0042_songs_key_backfill.sql",
        "schema/0043_songs_key_not_null.sql", "schema/0044_songs_public_id_unique.sql",
        "schema/0045_songs_clustered_on_song_key.sql", "schema/0046_songs_foreign_keys_validated.sql",
    ]

    assert snapshot(target) == before  # every song and result row, with its ids
    keys = song_keys(target)
    assert len(keys) == 40 and len(set(keys.values())) == 40 and min(keys.values()) >= 1
    assert key_columns(target, "i.is_primary_key = 1") == ["songkey"]
    assert scalar(target, "SELECT COLUMNPROPERTY(OBJECT_ID(N'dbo.Songs'), N'SongKey', 'AllowsNull');") == 0
    assert scalar(target, "SELECT COUNT(*) FROM sys.key_constraints WHERE parent_object_id = OBJECT_ID(N'dbo.Songs') AND type = 'UQ' AND OBJECT_ID(N'dbo.UQ_Songs_Id', N'UQ') = object_id;") == 1
    if engine == "sqlserver":
        assert scalar(target, "SELECT type_desc FROM sys.indexes WHERE object_id = OBJECT_ID(N'dbo.Songs') AND is_primary_key = 1;") == "CLUSTERED"
        assert scalar(target, "SELECT COUNT(*) FROM sys.foreign_keys WHERE referenced_object_id = OBJECT_ID(N'dbo.Songs') AND is_not_trusted = 0;") == 4

    fks = query(
        target,
        "SELECT OBJECT_NAME(f.parent_object_id), f.name, COL_NAME(c.referenced_object_id, c.referenced_column_id) "
        "FROM sys.foreign_keys AS f INNER JOIN sys.foreign_key_columns AS c ON c.constraint_object_id = f.object_id "
        "WHERE f.referenced_object_id = OBJECT_ID(N'dbo.Songs');",
    )
    assert sorted((str(t).lower(), str(n).lower(), str(c).lower()) for t, n, c in fks) == sorted(
        (t.lower(), f"fk_{t.lower()}_songs", "id") for t in RESULT_TABLES
    )
    # the foreign keys still hold: no job for a song that does not exist, no song deleted under its results
    with pytest.raises(Exception, match=r"\(547\)"):
        query(target, "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType) VALUES (NEWID(), N'demucs', 'separation');")
    for table in RESULT_TABLES:
        with pytest.raises(Exception, match=r"\(547\)"):
            query(target, f"DELETE FROM dbo.Songs WHERE Id = (SELECT TOP (1) x.SongId FROM dbo.{table} AS x);")
    with pytest.raises(Exception, match=r"\((2627|2601)\)"):
        query(target, "INSERT INTO dbo.Songs (Id, FileId, FileName) VALUES (?, N'dup-id', N'a.mp3');", ids[0])

    with SongsDatabase(target) as db:  # every lookup answers as before
        for i, song in enumerate(ids):
            by_id = db.get_song_by_id(uuid.UUID(song))
            assert by_id is not None and str(by_id.id) == song
            file_id = f"one-{i}" if i < 20 else f"bulk-{i - 20}"
            assert str(db.get_song(file_id).id) == song  # type: ignore[union-attr]
        assert {str(s.id) for s in db.list_songs(limit=1000)} == set(ids)
        results = db.get_song_results(uuid.UUID(ids[0]))
        assert len(results.tracks) == 2 and len(results.transcriptions) == 1 and len(results.analyses) == 1
        assert "SongKey" not in db.get_song_by_id(uuid.UUID(ids[0])).__dict__  # type: ignore[union-attr]

        # songs created afterwards get increasing keys, above every key given before, with no change to the client
        newer = [str(db.create_song(f"after-{i}", "c.mp3")) for i in range(5)]
        summary = db.import_songs([{"file_id": f"after-bulk-{i}", "filename": "d.mp3"} for i in range(50)])
        newer += [str(summary.song_ids[f"after-bulk-{i}"]) for i in range(50)]
    after = song_keys(target)
    new_keys = [after[s.lower()] for s in newer]
    assert new_keys == sorted(new_keys) and len(set(new_keys)) == 55
    assert new_keys[0] > max(keys.values())


def test_songs_created_while_the_upgrade_runs_are_all_kept_with_keys(before_songs_key: Settings) -> None:
    target = before_songs_key
    populate(target, 20)
    created: list[str] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        with SongsDatabase(target) as db:
            i = 0
            while not done.is_set() or i < 5:
                try:
                    created.append(str(db.create_song(f"during-{i}", "w.mp3")))
                except BaseException as exc:  # every failure is the finding
                    failures.append(exc)
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        Migrator(target).migrate()
    finally:
        done.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert failures == []
    assert len(created) >= 5
    keys = song_keys(target)
    assert {c.lower() for c in created} <= set(keys)  # no write lost
    assert len(keys) == 20 + len(created) and len(set(keys.values())) == len(keys)  # every song keyed, no two alike


def test_the_web_role_creates_and_imports_songs_with_keys(songsdb_web: SongsDatabase, songsdb_database: Settings) -> None:
    first = songsdb_web.create_song(f"role-{uuid.uuid4()}", "a.mp3")
    summary = songsdb_web.import_songs([{"file_id": f"role-bulk-{uuid.uuid4()}", "filename": "b.mp3"} for _ in range(3)])
    assert summary.created == 3
    keys = song_keys(songsdb_database)
    assert keys[str(first).lower()] >= 1
    assert all(keys[str(s).lower()] > keys[str(first).lower()] for s in summary.song_ids.values())


# ----- a populated database: the deploy stops at a maintenance step with this release's procedures (M1) -----

PREVIOUS_RELEASE = Path(__file__).parent / "data" / "previous_release"
FIRST_OF_THIS_RELEASE = 40  # 0040 onwards were not in the release before this one
DIGITS = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"


@pytest.fixture
def previous_release(databases: DatabaseFactory, tmp_path: Path) -> Settings:
    """Before 0040, with the previous release's procedures where this release changed them.

    ``api.DeleteSong`` as it was released (567db82: it deletes a song's jobs without their
    ``dbo.JobAttempts`` rows) and no ``worker.ClaimNextJobs`` (new in this release).
    """
    root = tmp_path / "previous_sql"
    shutil.copytree(sql_root(), root)
    for script in (root / "schema").iterdir():
        if int(script.name[:4]) >= FIRST_OF_THIS_RELEASE:  # every versioned script of this release, not only 0040-0046
            script.unlink()
    (root / "procs" / "worker.ClaimNextJobs.sql").unlink()
    shutil.copy(PREVIOUS_RELEASE / "api.DeleteSong.sql", root / "procs" / "api.DeleteSong.sql")
    target = databases.new(migrate=False)
    Migrator(target, root=root).migrate()
    return target


def song_with_a_finished_attempt(db: SongsDatabase, file_id: str) -> uuid.UUID:
    """A song whose job a worker claimed and completed: the job has a dbo.JobAttempts row."""
    song = db.create_song(file_id, "a.mp3")
    job = db.create_job(song, "demucs", "separation")
    claimed = db.claim_next_job("w-m1", model_names=["demucs"])
    assert claimed is not None and claimed.id == job
    db.complete_job(job, claimed.claim_token)
    return song


def cancel_a_running_job(db: SongsDatabase, file_id: str, cancel: bool = True) -> uuid.UUID:
    """A song whose job a worker claimed (so it has an open dbo.JobAttempts row), cancelled by an operator."""
    song = db.create_song(file_id, "a.mp3")
    job = db.create_job(song, "demucs", "separation")
    claimed = db.claim_next_job("w-b1", model_names=["demucs"])
    assert claimed is not None and claimed.id == job
    if cancel:
        assert db.cancel_job_by_operator(job, user_id="op").status == "cancelled"
    return job


def attempt_outcomes(target: Settings, *jobs: uuid.UUID) -> list[str | None]:
    """The outcome of each job's attempts, in the order of ``jobs``."""
    return [
        row[0]
        for job in jobs
        for row in query(target, "SELECT Outcome FROM dbo.JobAttempts WHERE JobId = ? ORDER BY Id;", str(job))
    ]


def run_the_0045_block_by_hand(target: Settings, engine: str) -> None:
    """The runbook's step 2 for 0045: the statements of its IF block, rendered for the engine, in one transaction."""
    [step] = [i for i in Migrator(target).rendered(engine) if i.name == "schema/0045_songs_clustered_on_song_key.sql"]
    statements = [line.split(" -- ")[0].strip() for line in step.text.splitlines() if line.strip().startswith("ALTER TABLE")]
    assert len(statements) == 10
    query(target, "SET XACT_ABORT ON;\nBEGIN TRANSACTION;\n" + "\n".join(statements) + "\nCOMMIT TRANSACTION;")


def test_a_deploy_stopped_at_a_maintenance_step_has_this_releases_procedures_and_proceeds_after_the_step(
    previous_release: Settings, engine: str
) -> None:
    target = previous_release
    query(
        target,
        "INSERT INTO dbo.Songs (Id, FileId, FileName) "
        f"SELECT TOP (10001) NEWID(), CONCAT(N'm1-', a.d, b.d, c.d, d.d, e.d), N'b.mp3' "
        f"FROM {DIGITS} AS a (d) CROSS JOIN {DIGITS} AS b (d) CROSS JOIN {DIGITS} AS c (d) "
        f"CROSS JOIN {DIGITS} AS d (d) CROSS JOIN {DIGITS} AS e (d) ORDER BY a.d, b.d, c.d, d.d, e.d;",
    )
    with SongsDatabase(target) as db:
        before = song_with_a_finished_attempt(db, "m1-before")
        # M1: the previous release's DeleteSong does not know dbo.JobAttempts (547, which it reports as 50901)
        with pytest.raises(ConcurrencyConflict, match="nothing was deleted") as refused:
            db.delete_song(before)
        assert refused.value.number == 50901
        assert db.get_song_by_id(before) is not None
    assert scalar(target, "SELECT OBJECT_ID(N'worker.ClaimNextJobs', N'P');") is None

    # Standard and Express stop at 0043 (no online ALTER COLUMN); Enterprise, Azure and Babelfish at 0045
    edition = scalar(target, "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int);") if engine == "sqlserver" else None
    steps = ["0043", "0045"] if engine == "sqlserver" and edition not in (3, 5, 8) else ["0045"]
    with pytest.raises(MaintenanceStepRequired) as info:
        Migrator(target).migrate()
    # this release's procedures are in place although the versioned scripts stopped
    assert scalar(target, "SELECT OBJECT_ID(N'worker.ClaimNextJobs', N'P');") is not None
    stopped = info.value
    assert stopped.script.startswith(f"schema/{steps[0]}_")
    assert f"{steps[0]}: dbo.Songs holds more than 10,000 songs" in str(stopped) and "Songs' internal key" in str(stopped)
    assert "procs/api.DeleteSong.sql" in stopped.applied and "procs/worker.ClaimNextJobs.sql" in stopped.applied
    assert not any(name >= stopped.script for name in stopped.applied if name.startswith("schema/"))
    assert (stopped.script, False) in [(n, ok) for n, _, ok in history(target)]
    assert scalar(target, "SELECT COUNT(*) FROM deploy.SchemaHistory WHERE ScriptName = ? AND Note LIKE N'refused: %';", stopped.script) == 1

    # while the deploy waits for its window, this release's client works end to end
    with SongsDatabase(target) as db:
        deleted = db.delete_song(before)
        assert deleted.jobs_deleted == 1 and db.get_song_by_id(before) is None
        during = song_with_a_finished_attempt(db, "m1-during")
        db.enqueue_jobs(during, [("whisper", "transcription"), ("chroma", "chroma")])
        claimed = db.claim_next_jobs("w-m1", 2, model_names=["whisper", "chroma"])
        assert len(claimed) == 2
        for job in claimed:
            db.complete_job(job.id, job.claim_token)
        assert db.delete_song(during).jobs_deleted == 3
        # B1 of the DBA's reading of session 8: the previous release's CHECK on the attempts' outcome (0024) is still
        # there (0050 drops it after the step), so a running job's attempt cannot end 'cancelled' yet: the cancel
        # must still go through, the attempt left open as the previous release left it
        assert scalar(target, "SELECT COUNT(*) FROM sys.check_constraints WHERE name = N'CK_JobAttempts_Outcome';") == 1
        running = cancel_a_running_job(db, "m1-cancel")
        assert getattr(db.get_job(running), "status", None) == "cancelled"
        assert attempt_outcomes(target, running) == [None]
        both = [cancel_a_running_job(db, f"m1-cancels-{i}", cancel=False) for i in range(2)]
        assert [o.outcome for o in db.cancel_jobs(both, user_id="op")] == ["cancelled", "cancelled"]
        assert attempt_outcomes(target, *both) == [None, None]

    # the runbook's step 2, then deploy again: it proceeds
    if "0043" in steps:
        query(target, "ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL;")
        with pytest.raises(MaintenanceStepRequired, match="0045: dbo.Songs holds more than 10,000 songs"):
            Migrator(target).migrate()
    run_the_0045_block_by_hand(target, engine)
    applied = Migrator(target).migrate().applied
    rest = sorted(p.name for p in (sql_root() / "schema").iterdir() if int(p.name[:4]) >= 45)
    assert sorted(a for a in applied if a.startswith("schema/")) == [f"schema/{name}" for name in rest]
    assert applied[0] == "schema/0045_songs_clustered_on_song_key.sql"
    with SongsDatabase(target) as db:  # and now the attempt ends with its cancelled job
        running = cancel_a_running_job(db, "m1-cancel-after")
        assert attempt_outcomes(target, running) == ["cancelled"]
    assert key_columns(target, "i.is_primary_key = 1") == ["songkey"]
    assert Migrator(target).migrate().applied == ()
    assert scalar(target, "SELECT COUNT(*) FROM dbo.Songs WHERE SongKey IS NULL;") == 0
    assert scalar(target, "SELECT COUNT(*) FROM dbo.Songs;") == 10_001 + 4  # and the four songs of the cancelled jobs


def test_a_song_key_given_again_by_a_sequence_set_back_is_not_reported_as_a_duplicate_file_id(
    databases: DatabaseFactory,
) -> None:
    """The attacker's reading of session 8, H1: a web login on Babelfish can set dbo.SongKeys back (setval);
    the uploads that then collide on a SongKey must not be told their FileId exists already (50102)."""
    from songsdb.errors import DuplicateSong, SongsDbError

    target = databases.new(migrate=True)
    with SongsDatabase(target) as db:
        first = db.create_song("key-first", "a.mp3")
        key = scalar(target, "SELECT SongKey FROM dbo.Songs WHERE Id = ?;", str(first))
        query(target, f"ALTER SEQUENCE dbo.SongKeys RESTART WITH {int(key)};")
        with pytest.raises(SongsDbError) as created:
            db.create_song("key-second", "b.mp3")
        assert not isinstance(created.value, DuplicateSong) and getattr(created.value, "number", None) in (2601, 2627)
        query(target, f"ALTER SEQUENCE dbo.SongKeys RESTART WITH {int(key)};")
        with pytest.raises(SongsDbError) as imported:
            db.import_songs([{"file_id": "key-third", "filename": "c.mp3"}])
        cause = imported.value.__cause__ or imported.value  # the import says where it stopped, with the chunk's error as cause
        assert not isinstance(cause, DuplicateSong) and getattr(cause, "number", None) in (2601, 2627)
        assert db.get_song("key-second") is None and db.get_song("key-third") is None
        # a FileId that is taken is still reported as one
        with pytest.raises(DuplicateSong):
            db.create_song("key-first", "a.mp3")
