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


def test_a_call_on_the_client_where_its_transaction_is_visible_is_refused_and_the_transaction_commits(migrated: Settings) -> None:
    import contextvars

    with SongsDatabase(migrated) as db:
        file_id = f"file-{uuid.uuid4()}"
        seen: list[BaseException] = []
        with db.transaction() as tx:
            tx.create_song(file_id, "a.mp3")
            context = contextvars.copy_context()

            def elsewhere() -> None:
                try:
                    context.run(db.get_song, file_id)
                except BaseException as exc:
                    seen.append(exc)

            worker = threading.Thread(target=elsewhere)
            worker.start()
            worker.join()
        assert len(seen) == 1 and "call it on tx" in str(seen[0])
        assert db.get_song(file_id) is not None


def test_asyncio_to_thread_runs_a_transactions_calls_on_its_connection_one_at_a_time(migrated: Settings) -> None:
    async def scenario(db: SongsDatabase, file_ids: list[str]) -> list[object]:
        with db.transaction() as tx:
            await asyncio.gather(*(asyncio.to_thread(tx.create_song, f, "a.mp3") for f in file_ids))
            refused = await asyncio.gather(asyncio.to_thread(db.get_song, file_ids[0]), return_exceptions=True)
            seen = await asyncio.gather(*(asyncio.to_thread(tx.get_song, f) for f in file_ids))
            return [*refused, *seen]

    with SongsDatabase(migrated) as db:
        file_ids = [f"file-{uuid.uuid4()}" for _ in range(4)]
        refused, *seen = asyncio.run(scenario(db, file_ids))
        assert isinstance(refused, errors.SongsDbError) and "call it on tx" in str(refused)
        assert all(song is not None for song in seen)  # the transaction's own rows, seen inside it
        assert all(db.get_song(f) is not None for f in file_ids)  # and committed with it


def test_a_fastapi_style_dependency_transaction_commits_atomically_and_never_leaks(migrated: Settings) -> None:
    """Setup, endpoint and teardown of a sync generator dependency run in three contexts and threads."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with SongsDatabase(migrated, pool_size=2) as db, ThreadPoolExecutor(3) as pool:
        for request in range(5):  # more requests than the pool has connections
            manager = db.transaction()
            tx = pool.submit(contextvars.copy_context().run, manager.__enter__).result()
            first, second = f"file-{uuid.uuid4()}", f"file-{uuid.uuid4()}"
            pool.submit(contextvars.copy_context().run, tx.create_song, first, "a.mp3").result()
            if request % 2:  # a failing endpoint: the teardown sees its exception, nothing is committed
                error = RuntimeError("endpoint failed")
                with pytest.raises(RuntimeError):
                    pool.submit(contextvars.copy_context().run, manager.__exit__, RuntimeError, error, None).result()
                    raise error
                assert db.get_song(first) is None
            else:
                pool.submit(contextvars.copy_context().run, tx.create_song, second, "b.mp3").result()
                pool.submit(contextvars.copy_context().run, manager.__exit__, None, None, None).result()
                assert db.get_song(first) is not None and db.get_song(second) is not None
        assert db._pool._borrowed == 0
