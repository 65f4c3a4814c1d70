"""A client used before ``fork()`` in real processes on a real engine: gunicorn ``--preload``,
Celery prefork and ``multiprocessing`` (start method "fork") all work this way.

Each child must open its own session and leave the parent's alone, while the parent goes on
calling on that session at the same time: two processes on one TDS socket interleave their
requests (wrong rows, "Protocol error in TDS stream", or a read that waits forever).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import sys
import time
import traceback
import uuid
from typing import Any

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.pool import PooledConnection

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="fork is POSIX only")

CHILDREN = 4
CALLS = 20  # create_song + get_song pairs per process
DEADLINE = 90.0  # seconds for the whole exchange (a few here); a child stuck on a shared socket is killed after it


def session_id(conn: PooledConnection) -> int:
    """The server's id for the session behind one pooled connection (test-only: the raw handle)."""
    cursor = conn.raw.cursor()
    try:
        return int(cursor.execute("SELECT @@SPID;").fetchval())
    finally:
        cursor.close()


def pooled_session_id(db: SongsDatabase) -> int:
    """The session id of the connection the next call would use (the pool is LIFO)."""
    conn = db._pool.acquire()
    try:
        return session_id(conn)
    finally:
        db._pool.release(conn)


def calls(db: SongsDatabase, tag: str) -> list[str]:
    """CALLS create_song + get_song pairs; each mismatch as one line (empty when every row was right)."""
    wrong = []
    for i in range(CALLS):
        file_id = f"fork-{tag}-{os.getpid()}-{i}"
        title = f"{tag} {i}"
        song_id = db.create_song(file_id, f"{i}.mp3", title=title)
        song = db.get_song(file_id)
        if song is None or (song.id, song.file_id, song.title) != (song_id, file_id, title):
            wrong.append(f"{file_id}: created {song_id}, read {song!r}")
    return wrong


def test_forked_children_open_their_own_sessions_while_the_parent_keeps_calling(migrated: Settings) -> None:
    context = multiprocessing.get_context("fork")
    tag = uuid.uuid4().hex[:8]
    with SongsDatabase(migrated, pool_size=4) as db:
        db.server_info()  # warm-up, as create_app() under gunicorn --preload would: one idle connection
        assert db._pool.idle == 1
        parent_session = pooled_session_id(db)
        parent_raw = db._pool._idle[-1].raw
        reports: Any = context.Queue()
        start = context.Barrier(CHILDREN + 1, timeout=DEADLINE)

        def child(number: int) -> None:
            used: list[PooledConnection] = []
            try:
                acquire = db._pool.acquire

                def recording() -> PooledConnection:
                    conn = acquire()
                    used.append(conn)
                    return conn

                db._pool.acquire = recording  # type: ignore[method-assign]  # this child only
                first = db.server_info().database_name  # a session of its own, opened before the others start
                gc.collect()  # nothing inherited may be freed here: pyodbc disconnects what it frees
                start.wait()  # every child and the parent call at the same time from here
                wrong = calls(db, f"{tag}-child{number}")
                distinct = list({id(conn): conn for conn in used}.values())
                reports.put({
                    "number": number,
                    "database": first,
                    "wrong": wrong,
                    "calls": len(used),
                    "used_parents": any(conn.raw is parent_raw for conn in used),
                    "sessions": [session_id(conn) for conn in distinct],
                })
                db.close()  # closes the child's own connections only
            except BaseException:
                reports.put({"number": number, "error": traceback.format_exc()})

        processes = [context.Process(target=child, args=(n,), daemon=True) for n in range(CHILDREN)]
        for process in processes:
            process.start()
        try:
            start.wait()
            parent_wrong = calls(db, f"{tag}-parent")
            got: dict[int, dict[str, Any]] = {}
            deadline = time.monotonic() + DEADLINE
            while len(got) < CHILDREN:
                try:
                    report = reports.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    pytest.fail(f"only {sorted(got)} of {CHILDREN} children reported within {DEADLINE:.0f} s")
                got[report["number"]] = report
            for process in processes:
                process.join(max(0.1, deadline - time.monotonic()))
                assert process.exitcode == 0, f"a child exited with {process.exitcode}"
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
                    process.join(5)

        errors = {n: r["error"] for n, r in got.items() if "error" in r}
        assert not errors, "\n".join(f"child {n}:\n{e}" for n, e in errors.items())
        assert parent_wrong == []
        for number, report in got.items():
            assert report["database"].lower() == migrated.database.lower()
            assert report["wrong"] == [], f"child {number} read rows that were not its own"
            assert report["calls"] == 1 + 2 * CALLS
            assert not report["used_parents"], f"child {number} used the parent's connection"
            assert report["sessions"] and parent_session not in report["sessions"], (
                f"child {number} ran on the parent's session {parent_session}: {report['sessions']}"
            )
        sessions = [s for report in got.values() for s in report["sessions"]]
        assert len(sessions) == len(set(sessions)) == CHILDREN  # one session each, all alive at the barrier

        # the parent's pool still works, on the very session it had before the fork
        assert db._pool._idle[-1].raw is parent_raw
        assert pooled_session_id(db) == parent_session
        assert calls(db, f"{tag}-after") == []
        assert db._pool.idle == 1 and pooled_session_id(db) == parent_session
