"""A long-lived pooled connection keeps seeking after a bulk load (Babelfish plan caching).

PostgreSQL, under Babelfish, moves a procedure's statements to a cached generic plan after five calls;
made while a table is small, that plan scans it, and it stays until the table is analysed again. The
client's session set-up (songsdb.statements.SESSION_SETUP) makes Babelfish plan each call with its
values instead. The test reads the plan that connection's session uses after the load; without the
set-up it is a sequential scan unless autovacuum happened to analyse the table during the load.
"""

from __future__ import annotations

import uuid

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import profiled, query, scalar

DIGITS = "(VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9))"
NUMBERS = " CROSS JOIN ".join(f"{DIGITS} AS d{i} (n)" for i in range(5))  # up to 100,000 rows


def add_songs(settings: Settings, n: int) -> None:
    query(
        settings,
        "INSERT INTO dbo.Songs (FileId, FileName, Status, UploadedAt, LastModified) "
        f"SELECT TOP (?) CONCAT(N'bulk-', CONVERT(nvarchar(36), NEWID())), N'a.mp3', 'uploaded', SYSUTCDATETIME(), SYSUTCDATETIME() FROM {NUMBERS};",
        n,
    )


def session_plan(db: SongsDatabase, song_id: uuid.UUID) -> str:
    """The plans of api.GetSong's statements as the pooled connection's session runs it (Babelfish)."""
    conn = db._pool.acquire()  # pool_size=1: the session every call of this client used
    try:
        return profiled(conn.raw.cursor(), f"EXEC api.GetSong @SongId = '{song_id}';")
    finally:
        db._pool.release(conn)


def test_lookups_on_a_connection_used_before_a_bulk_load_seek_after_it(engine: str, fresh_database: Settings, server: Settings) -> None:
    if engine != "babelfish":
        pytest.skip("SQL Server recompiles a cached plan when statistics change; this is Babelfish's plan cache")
    from songsdb.migrator import Migrator

    Migrator(fresh_database).migrate()
    add_songs(fresh_database, 100)
    query(fresh_database, "EXEC sp_updatestats;")  # the small table's statistics, as autovacuum makes them
    song_id = uuid.UUID(str(scalar(fresh_database, "SELECT TOP (1) Id FROM dbo.Songs;")))
    with SongsDatabase(fresh_database, pool_size=1, max_idle=3600, max_lifetime=3600) as db:
        for _ in range(20):  # past the five calls after which PostgreSQL may cache a generic plan
            assert db.get_song_by_id(song_id) is not None
        add_songs(fresh_database, 30_000)  # from other connections, no statistics refresh
        assert db.get_song_by_id(song_id) is not None
        plan = session_plan(db, song_id)
    # a seek on the public id's unique index (PK_Songs before 0045 moved the clustered key to SongKey)
    assert "Index Scan using pk_songs" in plan or "Index Scan using uq_songs_id" in plan, plan
    assert "Seq Scan on songs" not in plan, plan
