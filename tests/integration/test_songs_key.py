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
from songsdb.migrations import sql_root
from songsdb.migrator import Migrator

from .conftest import DatabaseFactory
from .helpers import query, scalar

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
