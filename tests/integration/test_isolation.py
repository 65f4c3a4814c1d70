"""The isolation the design assumes (issue #18 §2): read committed snapshot, and claims that never wait long for a row.

On SQL Server, 0014 turns READ_COMMITTED_SNAPSHOT on and `songsdb check` reports it; on Babelfish it does
not apply (PostgreSQL's readers never wait for writers). Either way a claim that meets a job row another
transaction holds gives up after 2 s instead of stalling every claimer behind the queue lock.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from songsdb.cli import main
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import scalar


def test_check_reports_read_committed_snapshot_as_the_web_login_sees_it(
    songsdb_settings: dict[str, Settings], songsdb_database: Settings, engine: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    web = songsdb_settings["web"]
    assert main(["--env-file", str(tmp_path / "none"), "--connection-string", web.odbc(), "check"]) == 0
    out = capsys.readouterr().out
    assert "Database connection successful!" in out
    if engine == "babelfish":
        assert "Read committed snapshot: does not apply on Babelfish" in out
    else:  # 0014 turned it on when the session's database was migrated
        assert "Read committed snapshot: on" in out
        on = "SELECT is_read_committed_snapshot_on FROM sys.databases WHERE database_id = DB_ID();"
        assert scalar(songsdb_database, on) in (1, True)


def test_a_claim_that_meets_a_locked_job_row_gives_up_after_two_seconds(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_settings: dict[str, Settings],
    songsdb_database: Settings,
) -> None:
    import pyodbc

    model = f"lock-{uuid.uuid4().hex[:8]}"
    job_id = songsdb_web.create_job(songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3"), model, "separation")
    blocker = pyodbc.connect(songsdb_database.odbc(), autocommit=False, timeout=30)
    try:  # a writer holds the job's row in an open transaction (a web call inside transaction(), say)
        blocker.cursor().execute("UPDATE dbo.ProcessingJobs SET Progress = Progress WHERE JobId = ?;", job_id)
        worker = pyodbc.connect(songsdb_settings["worker"].odbc(), autocommit=True, timeout=30)
        worker.timeout = 20  # without the procedure's own limit, the call would wait until this
        started = time.monotonic()
        try:
            with pytest.raises(pyodbc.Error) as info:
                worker.cursor().execute(
                    "EXEC worker.ClaimNextJob @WorkerId = N'w-lock', @ModelNames = ?;", f'["{model}"]'
                ).fetchall()
            waited = time.monotonic() - started
            # the limit was the procedure's own: the session's is back to "wait forever" (-1)
            assert worker.cursor().execute("SELECT @@LOCK_TIMEOUT;").fetchone()[0] == -1
        finally:
            worker.close()
        # SQL Server: 1222 "Lock request time out period exceeded"; Babelfish: "canceling statement due to lock timeout"
        assert re.search(r"\(1222\)|lock timeout", str(info.value), re.IGNORECASE), info.value
        assert 1.5 < waited < 10, waited
    finally:
        blocker.rollback()
        blocker.close()
    job = songsdb_worker.claim_next_job("w-lock", model_names=[model])  # the same claim, once the row is free
    assert job is not None and job.id == job_id
