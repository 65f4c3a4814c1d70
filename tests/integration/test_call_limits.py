"""Time limits per call on the real engine: a call's own limit, the cleanup's and the import's, and the
connection hooks (connect=, configure=) a service uses to make and set up its connections."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import query, scalar
from .test_cleanup import add_job, add_song, clean_tables  # noqa: F401 (clean_tables: a fixture it uses)


def hold_row_lock(settings: Settings, sql: str, *params: Any, seconds: float) -> threading.Thread:
    """Lock a row from another session for ``seconds``, then roll back; returns once the lock is held."""
    import pyodbc

    blocker = pyodbc.connect(settings.odbc(), autocommit=False)
    blocker.cursor().execute(sql, *params)
    release = threading.Timer(seconds, lambda: (blocker.rollback(), blocker.close()))
    release.start()
    return release


def test_a_view_with_its_own_limit_outlasts_the_settings_limit_which_still_applies_elsewhere(migrated: Settings) -> None:
    with SongsDatabase(migrated) as owner:
        song_id = owner.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    with SongsDatabase(replace(migrated, query_timeout=1), pool_size=1) as db:
        lock = "UPDATE dbo.Songs SET Title = N'locked' WHERE Id = ?;"
        release = hold_row_lock(migrated, lock, str(song_id), seconds=3)
        with pytest.raises(errors.WriteTimeout):
            db.update_song(song_id, title="cut at 1 s")
        assert db.with_timeout(30).update_song(song_id, title="waited").title == "waited"
        release.join()
        release = hold_row_lock(migrated, lock, str(song_id), seconds=3)
        with pytest.raises(errors.WriteTimeout):  # the client itself keeps the settings' limit
            db.update_song(song_id, title="cut again")
        release.join()


@pytest.mark.usefixtures("clean_tables")
def test_a_cleanup_with_a_ten_minute_limit_is_not_cut_at_the_query_timeout(migrated: Settings) -> None:
    song_id = add_song(migrated, "completed", 100)
    job_id = add_job(migrated, song_id, "completed", 100)
    with SongsDatabase(replace(migrated, query_timeout=1), pool_size=1) as db:
        release = hold_row_lock(migrated, "UPDATE dbo.ProcessingJobs SET Progress = 1 WHERE JobId = ?;", job_id, seconds=3)
        report = db.cleanup_old_data(30, time_limit_seconds=600)  # waits ~3 s for the lock: longer than query_timeout
        release.join()
    assert report.finished and report.rows["dbo.ProcessingJobs"] == 1
    assert scalar(migrated, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE JobId = ?;", job_id) == 0


def test_the_connect_hook_makes_each_connection_and_configure_sets_up_each_session(migrated: Settings) -> None:
    import pyodbc

    made: list[str] = []
    configured: list[object] = []

    def connect(settings: Settings) -> Any:
        made.append(settings.target_database)
        return pyodbc.connect(settings.odbc(), timeout=settings.login_timeout)

    def configure(conn: Any) -> None:
        conn.cursor().execute("SET LOCK_TIMEOUT 1500;")
        configured.append(conn)

    with SongsDatabase(migrated, pool_size=2, connect=connect, configure=configure) as db:
        file_id = f"file-{uuid.uuid4()}"
        db.create_song(file_id, "a.mp3")
        assert db.get_song(file_id) is not None
        conn = db._pool.acquire()
        try:
            assert conn.raw.cursor().execute("SELECT @@LOCK_TIMEOUT;").fetchone()[0] == 1500
            assert conn.raw.autocommit is True  # the client's calls autocommit whatever the hook made
        finally:
            db._pool.release(conn)
    assert made == [migrated.target_database] and len(configured) == 1


def test_an_unknown_override_is_a_type_error_and_a_known_one_replaces_the_setting(migrated: Settings) -> None:
    with pytest.raises(TypeError, match="qurey_timeout"):
        SongsDatabase(migrated, query_timeout=5, qurey_timeout=7)
    with SongsDatabase(migrated, query_timeout=5) as db:
        assert db.settings.query_timeout == 5 and db.get_song("missing") is None
    assert query(migrated, "SELECT 1;") == [(1,)]
