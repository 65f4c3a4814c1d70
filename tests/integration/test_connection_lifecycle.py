"""The client's connection lifecycle on a real engine: query timeouts, a server restarted between two
calls, and transactions used from other threads and from asyncio."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import uuid
from dataclasses import replace

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import scalar

RESTART = os.environ.get("SONGSDB_TEST_RESTART_COMMAND")


def test_a_call_past_the_query_timeout_is_a_typed_error_and_its_connection_is_discarded(migrated: Settings) -> None:
    import pyodbc

    with SongsDatabase(migrated) as owner:
        song_id = owner.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    blocker = pyodbc.connect(migrated.odbc(), autocommit=False)  # holds the song's row lock
    blocker.cursor().execute("UPDATE dbo.Songs SET Title = N'locked' WHERE Id = ?;", str(song_id))
    with SongsDatabase(replace(migrated, query_timeout=1), pool_size=1) as db:
        with pytest.raises(errors.QueryTimeout, match="SONGSDB_QUERY_TIMEOUT") as info:
            db.update_song(song_id, title="waits")
        assert type(info.value.__cause__).__module__ == "pyodbc"
        assert db._pool.idle == 0  # the timed-out connection was closed, not pooled
        blocker.close()  # ends the blocking transaction
        # The server may still finish the cancelled write after the lock is gone (Babelfish does: the
        # client only closed its socket), which is why a timed-out write is never retried. A fresh
        # connection works once it is through.
        with SongsDatabase(migrated) as patient:
            assert patient.update_song(song_id, title="after").title == "after"
    assert scalar(migrated, "SELECT Title FROM dbo.Songs WHERE Id = ?;", str(song_id)) == "after"


@pytest.mark.restarts_server
@pytest.mark.skipif(not RESTART, reason="set SONGSDB_TEST_RESTART_COMMAND to a command that restarts the test server")
def test_a_server_restart_between_two_calls(migrated: Settings) -> None:
    with SongsDatabase(migrated, pool_size=1, max_idle=0) as reader, SongsDatabase(migrated, pool_size=1, max_idle=3600) as writer:
        file_id = f"file-{uuid.uuid4()}"
        writer.create_song(file_id, "a.mp3")
        assert reader.get_song(file_id) is not None
        subprocess.run(RESTART, shell=True, check=True, timeout=120)
        # the reader's idle connection is checked before use: the next read just works
        assert reader.get_song(file_id) is not None
        # the writer's pooled connection is dead and not checked (max_idle): the write fails once,
        # typed, and is not retried (it might have committed); the next one gets a fresh connection
        second = f"file-{uuid.uuid4()}"
        try:
            writer.create_song(second, "a.mp3")
        except errors.DatabaseUnavailable:
            pass
        assert scalar(migrated, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId = ?;", second) in (0, 1)
        third = f"file-{uuid.uuid4()}"
        writer.create_song(third, "a.mp3")
        assert scalar(migrated, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId = ?;", third) == 1


def test_a_thread_that_inherited_a_transaction_gets_a_clear_error_and_the_owner_commits(migrated: Settings) -> None:
    import contextvars

    with SongsDatabase(migrated) as db:
        file_id = f"file-{uuid.uuid4()}"
        seen: list[BaseException] = []
        with db.transaction():
            db.create_song(file_id, "a.mp3")
            context = contextvars.copy_context()

            def elsewhere() -> None:
                try:
                    context.run(db.get_song, file_id)
                except BaseException as exc:
                    seen.append(exc)

            worker = threading.Thread(target=elsewhere)
            worker.start()
            worker.join()
        assert len(seen) == 1 and "another thread" in str(seen[0])
        assert db.get_song(file_id) is not None


def test_asyncio_to_thread_inside_a_transaction_is_refused_not_run_on_the_shared_connection(migrated: Settings) -> None:
    async def scenario(db: SongsDatabase, file_id: str) -> list[BaseException | None]:
        with db.transaction():
            db.create_song(file_id, "a.mp3")
            return await asyncio.gather(
                *(asyncio.to_thread(db.get_song, file_id) for _ in range(4)), return_exceptions=True
            )

    with SongsDatabase(migrated) as db:
        file_id = f"file-{uuid.uuid4()}"
        outcomes = asyncio.run(scenario(db, file_id))
        assert all(isinstance(o, errors.SongsDbError) and "another thread" in str(o) for o in outcomes)
        assert db.get_song(file_id) is not None  # the owner's transaction committed
