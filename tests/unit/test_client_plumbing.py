"""SongsDatabase's plumbing, with a recording fake connection (not evidence about any server):
the EXEC text, parameters, result sets, retries, pooling, transactions and request ids."""

from __future__ import annotations

import time

import math
import threading
import uuid
from datetime import datetime
from typing import Any

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.context import request_context
from songsdb.database import SongsDatabase
from songsdb.models import columns, Song
from songsdb.pool import ConnectionPool
from songsdb.retry import RetryPolicy

from .fake_odbc import FakeConnection, server_error

SONG_ID = uuid.uuid4()
SONG_ROW = (str(SONG_ID), "f", None, None, None, "a.mp3", None, None, None, None, datetime(2026, 1, 1), datetime(2026, 1, 1), None, "uploaded")


def make_db(respond, attempts: int = 3) -> tuple[SongsDatabase, list[FakeConnection]]:
    made: list[FakeConnection] = []
    db = SongsDatabase(
        Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=hunter2;"),
        retry=RetryPolicy(attempts=attempts, base_delay=0, max_delay=0),
    )

    def connect() -> FakeConnection:
        made.append(FakeConnection(respond))
        return made[-1]

    db._connect = connect  # type: ignore[method-assign]
    db._pool = ConnectionPool(connect, max_size=4, timeout=1)
    return db, made


def song_result(sql: str, params: list[Any]):
    return [(list(columns(Song)), [SONG_ROW])]


def test_a_method_is_one_exec_with_named_parameters() -> None:
    db, made = make_db(song_result)
    assert db.create_song("f", "a.mp3", title="T", metadata={"k": "ü"}, request_id="r-1") == SONG_ID
    [(sql, params)] = made[0].executed
    # None arguments are not sent: the procedure defaults them, and no driver has to describe them
    assert sql == "EXEC api.CreateSong @FileId = ?, @FileName = ?, @Title = ?, @Metadata = ?, @RequestId = ?;"
    assert params == ["f", "a.mp3", "T", '{"k": "ü"}', "r-1"]


def test_a_connection_prepares_each_exec_text_once_and_reuses_its_cursor() -> None:
    db, made = make_db(song_result)
    for _ in range(3):
        db.get_song("f")
    db.create_song("f", "a.mp3")
    db.get_song("g")
    assert len(made) == 1 and made[0].cursors_made == 2  # one per distinct EXEC text


def test_the_context_request_id_is_used_when_none_is_given() -> None:
    db, made = make_db(song_result)
    with request_context("from-header"):
        db.create_song("f", "a.mp3")
    db.create_song("f", "a.mp3")
    assert made[0].executed[0][1][-1] == "from-header"
    assert made[0].executed[1][0].endswith("@FileName = ?;")  # no request id: not sent at all


def test_ids_are_validated_and_sent_as_text() -> None:
    db, made = make_db(song_result)
    db.get_song_by_id(SONG_ID)
    assert made[0].executed[0][1] == [str(SONG_ID)]
    with pytest.raises(errors.ValidationError, match="song_id must be a UUID"):
        db.get_song_by_id("not-a-uuid")


def test_non_finite_numbers_and_unserialisable_json_are_refused_before_any_call() -> None:
    db, made = make_db(song_result)
    with pytest.raises(errors.ValidationError, match="@Duration"):
        db.create_song("f", "a.mp3", duration=math.nan)
    with pytest.raises(errors.ValidationError, match="metadata"):
        db.create_song("f", "a.mp3", metadata={"x": object()})
    with pytest.raises(errors.ValidationError, match="@FileId must not contain NUL"):
        db.create_song("f\x00", "a.mp3")
    assert made == [] or made[0].executed == []


def test_a_missing_row_is_none() -> None:
    db, _ = make_db(lambda sql, p: [(list(columns(Song)), [])])
    assert db.get_song("nope") is None


def test_server_errors_become_typed_errors_naming_the_procedure() -> None:
    db, _ = make_db(lambda sql, p: server_error(50101, text="No song has @SongId = 'x'."))
    with pytest.raises(errors.SongNotFound, match=r"api.UpdateSong: No song has @SongId"):
        db.update_song(SONG_ID, title="x")


def test_a_deadlocked_write_is_retried_on_a_fresh_try() -> None:
    answers = [server_error(1205, "40001"), song_result("", [])]
    db, made = make_db(lambda sql, p: answers.pop(0))
    assert db.create_song("f", "a.mp3") == SONG_ID
    assert sum(len(c.executed) for c in made) == 2


def test_a_write_is_not_retried_when_the_connection_dropped_mid_call() -> None:
    db, made = make_db(lambda sql, p: server_error(10054, "08S01"))
    with pytest.raises(errors.DatabaseUnavailable):
        db.create_song("f", "a.mp3")
    assert sum(len(c.executed) for c in made) == 1
    assert made[0].closed  # a dropped connection is not pooled again


def test_a_read_is_retried_when_the_connection_dropped() -> None:
    answers = [server_error(10054, "08S01"), song_result("", [])]
    db, made = make_db(lambda sql, p: answers.pop(0))
    assert db.get_song("f") is not None
    assert len(made) == 2


def test_a_read_whose_connection_failed_after_its_whole_time_limit_is_a_query_timeout_not_a_retry() -> None:
    """FreeTDS reports a timed-out call whose cancel went unanswered as a lost connection (08S01)."""

    def slow_then_lost(sql: str, params: list[Any]) -> Any:
        time.sleep(1.05)
        return server_error(20004, "08S01", "Read from the server failed")

    db, made = make_db(slow_then_lost)
    with pytest.raises(errors.QueryTimeout, match="past its limit of 1 s"):
        db.with_timeout(1).get_song("f")
    assert len(made) == 1 and made[0].closed  # not sent again; the connection is not pooled again


def test_retries_stop_after_the_configured_attempts() -> None:
    db, made = make_db(lambda sql, p: server_error(1205, "40001"), attempts=3)
    with pytest.raises(Exception, match="1205"):
        db.get_song("f")
    assert sum(len(c.executed) for c in made) == 3


def test_transaction_commits_on_success_and_shares_one_connection() -> None:
    db, made = make_db(song_result)
    with db.transaction() as tx:
        tx.create_song("a", "a.mp3")
        tx.create_song("b", "b.mp3")
    assert len(made) == 1 and made[0].commits == 1 and made[0].rollbacks == 0
    assert made[0].autocommit is True


def test_transaction_rolls_back_and_reraises_on_any_exception() -> None:
    db, made = make_db(song_result)
    with pytest.raises(KeyError):
        with db.transaction() as tx:
            tx.create_song("a", "a.mp3")
            raise KeyError("boom")
    assert made[0].rollbacks == 1 and made[0].commits == 0


def test_calls_inside_a_transaction_are_not_retried() -> None:
    db, made = make_db(lambda sql, p: server_error(1205, "40001"))
    with pytest.raises(Exception, match="1205"):
        with db.transaction() as tx:
            tx.get_song("f")
    assert len(made[0].executed) == 1


def test_transactions_do_not_nest() -> None:
    db, _ = make_db(song_result)
    with db.transaction() as tx:
        with pytest.raises(errors.SongsDbError, match="do not nest"):
            with db.transaction():
                pass
        with pytest.raises(errors.SongsDbError, match="do not nest"):
            with tx.transaction():
                pass


def test_the_password_is_not_in_the_repr() -> None:
    db, _ = make_db(song_result)
    assert "hunter2" not in repr(db) and "***" in repr(db)


def test_many_threads_share_a_bounded_pool() -> None:
    db, made = make_db(song_result)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                db.get_song("f")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert 1 <= len(made) <= 4
    assert sum(len(c.executed) for c in made) == 400
    db.close()
    assert all(c.closed for c in made)


def test_an_exhausted_pool_waits_then_says_so() -> None:
    pool = ConnectionPool(lambda: object(), max_size=1, timeout=0.05)
    held = pool.acquire()
    with pytest.raises(errors.DatabaseUnavailable, match="no free connection"):
        pool.acquire()
    pool.release(held)
    assert pool.acquire() is held


def duplicate_then_songs(sql: str, params: list[Any]):
    if params and params[0] == "dup":
        return server_error(50102, text="A song with @FileId = 'dup' already exists.")
    return song_result(sql, params)


def test_an_error_caught_inside_a_transaction_dooms_it_and_nothing_more_is_sent_or_committed() -> None:
    db, made = make_db(duplicate_then_songs)
    with pytest.raises(errors.TransactionRolledBack, match=r"DuplicateSong\) rolled the whole transaction back"):
        with db.transaction() as tx:
            tx.create_song("a", "a.mp3")
            with pytest.raises(errors.DuplicateSong):
                tx.create_song("dup", "a.mp3")
            with pytest.raises(errors.TransactionRolledBack, match="api.GetSongByFileId not run"):
                tx.get_song("c")
    conn = made[0]
    assert [p[0] for _, p in conn.executed] == ["a", "dup"]  # the doomed call after them never left the client
    assert (conn.commits, conn.rollbacks, conn.autocommit) == (0, 1, True)


def test_a_call_on_the_client_where_its_transaction_is_visible_is_refused_not_run_outside_it() -> None:
    import contextvars

    db, made = make_db(song_result)
    seen: list[BaseException] = []
    with db.transaction() as tx:
        context = contextvars.copy_context()

        def elsewhere() -> None:
            try:
                context.run(db.get_song, "f")
            except BaseException as exc:
                seen.append(exc)

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join()
        tx.get_song("f")  # calls on the transaction work
        with pytest.raises(errors.SongsDbError, match="call it on tx"):
            db.get_song("f")  # here too: it would run outside the transaction
    assert len(seen) == 1 and isinstance(seen[0], errors.SongsDbError) and "call it on tx" in str(seen[0])
    assert made[0].commits == 1 and len(made) == 1 and len(made[0].executed) == 1


def test_a_transaction_entered_and_left_in_other_contexts_runs_its_calls_and_releases_its_connection() -> None:
    """FastAPI runs a sync generator dependency's setup, the endpoint and the teardown in three contexts."""
    import contextvars

    db, made = make_db(song_result)
    for _ in range(6):  # more requests than the pool has connections: none may leak
        manager = db.transaction()
        tx = contextvars.copy_context().run(manager.__enter__)
        contextvars.copy_context().run(tx.create_song, "a", "a.mp3")  # the endpoint
        contextvars.copy_context().run(manager.__exit__, None, None, None)
    assert db._pool._borrowed == 0
    assert len(made) == 1 and made[0].commits == 6 and made[0].autocommit is True
    assert [p[0] for _, p in made[0].executed] == ["a"] * 6  # every call ran on the transaction's connection


def test_a_transaction_is_usable_from_another_thread_one_call_at_a_time() -> None:
    db, made = make_db(song_result)
    with db.transaction() as tx:
        threads = [threading.Thread(target=tx.get_song, args=(f"f{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(made) == 1 and len(made[0].executed) == 4 and made[0].commits == 1


def test_a_call_that_times_out_inside_a_transaction_gets_its_connection_discarded_not_pooled() -> None:
    db, made = make_db(lambda sql, p: server_error(0, "HYT00", "Query timeout expired"))
    with pytest.raises(errors.TransactionRolledBack):
        with db.transaction() as tx:
            with pytest.raises(errors.WriteTimeout) as info:
                tx.create_song("a", "a.mp3")
            assert isinstance(info.value, errors.OutcomeUnknown) and info.value.procedure == "api.CreateSong"
    assert db._pool.idle == 0 and made[0].closed


def test_a_lost_connection_during_a_write_is_outcome_unknown_and_during_a_read_is_retried() -> None:
    lost = server_error(10054, "08S01", "Communication link failure")
    db, made = make_db(lambda sql, p: lost)
    with pytest.raises(errors.OutcomeUnknown, match="may or may not have been committed"):
        db.create_song("a", "a.mp3")
    assert len(made) == 1  # a write is never repeated after the request left
    with pytest.raises(errors.DatabaseUnavailable) as info:
        db.get_song("f")
    assert not isinstance(info.value, errors.OutcomeUnknown) and len(made) == 1 + 3  # a read is retried


def test_a_host_that_never_answers_the_login_is_not_connected_never_the_drivers_error() -> None:
    from .fake_odbc import FakeError

    def hang() -> Any:  # MS ODBC Driver 18 on Linux: the first diagnostic record only
        raise FakeError("HYT00", "[HYT00] [Microsoft][ODBC Driver 18 for SQL Server]Login timeout expired (0) (SQLDriverConnect)")

    db = SongsDatabase(
        Settings(connection_string="DRIVER={ODBC Driver 18 for SQL Server};SERVER=10.255.255.1;UID=u;PWD=p;"),
        retry=RetryPolicy(attempts=2, base_delay=0, max_delay=0),
    )
    db._pool = ConnectionPool(hang, max_size=1, timeout=1)
    with pytest.raises(errors.NotConnected, match="nothing answered") as info:
        db.get_song("f")
    assert info.value.__cause__ is not info.value and isinstance(info.value.__cause__, FakeError)
    assert info.value.sqlstate == "HYT00"


def test_a_validation_error_names_the_parameter_as_the_client_spells_it() -> None:
    text = "The value for the parameter @FileName is too long (300 characters). Supported values are text of up to 260 characters."
    db, _ = make_db(lambda sql, p: server_error(50002, "42000", text))
    with pytest.raises(errors.ValidationError) as info:
        db.create_song("f", "x" * 300)
    error = info.value
    assert (error.parameter, error.server_parameter, error.number, error.procedure) == ("filename", "@FileName", 50002, "api.CreateSong")
    assert error.sqlstate == "42000"


def test_errors_keep_their_data_through_pickling() -> None:
    import pickle

    error = errors.ValidationError("bad", parameter="file_id", server_parameter="@FileId", number=50002, procedure="api.CreateSong")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.parameter, copy.number, copy.procedure) == (
        errors.ValidationError, "bad", "file_id", 50002, "api.CreateSong"
    )
    assert isinstance(errors.LeaseLost("x"), errors.Conflict) and isinstance(errors.DuplicateSong("x"), errors.Conflict)


def test_a_context_copied_inside_a_finished_transaction_uses_the_pool_afterwards() -> None:
    import contextvars

    db, made = make_db(song_result)
    with db.transaction():
        context = contextvars.copy_context()
    context.run(db.get_song, "f")
    assert made[0].autocommit is True and len(made[0].executed) == 1  # a pooled call, not a pinned one


def test_an_unknown_driver_error_becomes_a_database_error_with_the_driver_error_as_cause() -> None:
    db, _ = make_db(lambda sql, p: server_error(8114, text="Error converting data type"))
    with pytest.raises(errors.DatabaseError, match=r"api.GetSongByFileId: Error converting data type \(error 8114\)") as info:
        db.get_song("f")
    assert type(info.value.__cause__).__module__ == "pyodbc"


def test_a_failed_commit_is_a_songsdb_error() -> None:
    db, made = make_db(song_result)

    def broken_commit() -> None:
        raise server_error(3902, "25000", "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")

    with pytest.raises(errors.DatabaseError, match="COMMIT"):
        with db.transaction() as tx:
            tx.get_song("f")
            made[0].commit = broken_commit  # type: ignore[method-assign]


def test_with_freetds_a_call_is_the_odbc_call_escape_with_trailing_nones_left_to_their_defaults() -> None:
    db, made = make_db(song_result)
    db._driver.style = "call"  # what _connect picks when the driver is FreeTDS (libtdsodbc)
    db.create_song("f", "a.mp3", title="T")
    db.create_song("f", "a.mp3", artist="A", request_id="r")
    db.get_song("f")
    (first, p1), (second, p2), (third, p3) = made[0].executed
    assert first == "{CALL api.CreateSong (?, ?, ?)}" and p1 == ["f", "a.mp3", "T"]
    assert second == "{CALL api.CreateSong (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)}"
    assert p2[:4] == ["f", "a.mp3", None, "A"] and p2[-1] == "r"  # a None before the last given one is NULL
    assert third == "{CALL api.GetSongByFileId (?)}" and p3 == ["f"]


def test_nothing_listening_is_one_clear_line_tried_once_without_the_password() -> None:
    from songsdb.pool import ConnectionPool

    attempts: list[int] = []

    def refuse() -> Any:
        attempts.append(1)
        raise server_error(20009, "08S01", "Unable to connect: Adaptive Server is unavailable or does not exist")

    db = SongsDatabase(
        Settings(connection_string="DRIVER={FreeTDS};SERVER=db.local;PORT=1444;DATABASE=SongsDB;UID=u;PWD=hunter2;"),
        retry=RetryPolicy(attempts=3, base_delay=0, max_delay=0),
    )
    db._pool = ConnectionPool(refuse, max_size=1, timeout=1)
    with pytest.raises(errors.DatabaseUnavailable) as info:
        db.get_song("f")
    message = str(info.value)
    assert message.startswith("cannot reach SQL Server at db.local:1444 (database SongsDB): nothing answered")
    assert "SONGSDB_SERVER" in message and "hunter2" not in message  # a remote host: no `songsdb up` hint
    assert len(attempts) == 1


def test_with_freetds_a_call_with_a_long_string_falls_back_to_the_exec_text() -> None:
    db, made = make_db(song_result)
    db._driver.style = "call"
    db.create_song("f", "a.mp3", metadata={"notes": "x" * 3000})
    [(sql, params)] = made[0].executed
    assert sql.startswith("EXEC api.CreateSong @FileId = ?, @FileName = ?, @Metadata = ?") and len(params[2]) > 2000


def test_an_unexplained_error_on_a_dead_session_retries_a_read_and_never_a_write() -> None:
    def respond(sql: str, params: list[Any]):
        if made and made[0].dead and len(made) == 1:  # the first connection's session is gone
            return server_error(0, "HY000", "Unknown error")
        return song_result(sql, params)

    db, made = make_db(respond)
    db.get_song("warm-up")
    made[0].dead = True
    assert db.get_song("f") is not None and len(made) == 2  # the read went again on a fresh connection
    assert made[0].closed
    made[1].dead = True
    made.pop(0)  # the remaining connection now fails the same way
    with pytest.raises(errors.DatabaseUnavailable, match="may or may not have been committed"):
        db.create_song("f", "a.mp3")
    writes = [sql for sql, _ in made[0].executed if "CreateSong" in sql]
    assert len(writes) == 1  # sent once, never repeated


def test_an_unreachable_remote_server_gets_no_development_hint() -> None:
    from .fake_odbc import FakeError

    def refuse() -> Any:
        raise FakeError("08001", "[08001] [FreeTDS][SQL Server]Unable to connect to data source (0) (SQLDriverConnect)")

    for server, hinted in (("db.prod.internal", False), ("localhost", True), ("127.0.0.1", True)):
        db = SongsDatabase(Settings(server=server, driver="FreeTDS", user="u", password="p"), retry=RetryPolicy(attempts=1))
        db._pool = ConnectionPool(refuse, max_size=1, timeout=1)
        with pytest.raises(errors.NotConnected) as info:
            db.get_song("f")
        assert ("songsdb up" in str(info.value)) is hinted, str(info.value)


def test_a_mistyped_override_is_a_type_error_and_a_bad_time_limit_a_validation_error() -> None:
    settings = Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;")
    with pytest.raises(TypeError, match="qurey_timeout"):
        SongsDatabase(settings, qurey_timeout=7)
    assert SongsDatabase(settings, query_timeout=5).settings.query_timeout == 5
    db, _ = make_db(song_result)
    for bad in (-1, 1.5, True):
        with pytest.raises(errors.ValidationError):
            db.with_timeout(bad)  # type: ignore[arg-type]
    view = db.with_timeout(600)
    assert view._pool is db._pool and view._timeout == 600 and db._timeout is None


def test_a_call_with_its_own_time_limit_runs_with_the_connections_limit_held_at_it_and_restored_after() -> None:
    """pyodbc's ``timeout`` is the query limit of new cursors and the connection's own limit, which bounds
    how long Microsoft's ODBC Driver 18 waits for the cancel it sends when the query limit passes (twice
    it): a 1 s call on a connection whose limit is 30 s waited 61 s on a server that stopped answering."""
    seen: list[int] = []

    def respond(sql: str, params: list[Any]):
        seen.append(made[-1].timeout)  # the connection's limit while the call runs
        return song_result(sql, params)

    db, made = make_db(respond)
    db.get_song("f")  # on a new connection: the fake's limit, 0
    made[-1].timeout = 30  # the client's default SONGSDB_QUERY_TIMEOUT
    db.with_timeout(1).get_song("f")
    db.with_timeout(0).create_song("g", "a.mp3")  # 0: no limit at all, the connection's included
    db.get_song("f")
    failing = db.with_timeout(2)
    made[-1].respond = lambda sql, params: (seen.append(made[-1].timeout), server_error(0, "HYT00", "Query timeout expired"))[1]
    with pytest.raises(errors.QueryTimeout):
        failing.get_song("f")
    assert seen == [0, 1, 0, 30, 2]
    assert made[0].timeout == 30  # restored after each call, also the one that timed out


def test_the_end_of_a_transaction_waits_for_a_call_still_running_on_another_thread() -> None:
    import time as _time

    log: list[str] = []

    def slow_song(sql: str, params: list[Any]):
        _time.sleep(0.3)
        log.append("call done")
        return song_result(sql, params)

    db, made = make_db(slow_song)
    original_commit = FakeConnection.commit

    def commit(self: FakeConnection) -> None:
        log.append("commit")
        original_commit(self)

    FakeConnection.commit = commit  # type: ignore[method-assign]
    try:
        with db.transaction() as tx:
            worker = threading.Thread(target=tx.get_song, args=("f",))
            worker.start()
            _time.sleep(0.05)  # the call is under way when the block ends
        worker.join()
    finally:
        FakeConnection.commit = original_commit  # type: ignore[method-assign]
    assert log == ["call done", "commit"]
    assert db._pool._borrowed == 0


def test_a_commit_that_loses_its_connection_is_outcome_unknown_and_a_refused_one_is_not() -> None:
    for error, expected in (
        (server_error(10054, "08S01", "Communication link failure"), errors.OutcomeUnknown),
        (server_error(3902, "25000", "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION."), errors.DatabaseError),
    ):
        db, made = make_db(song_result)

        def failing_commit(error: Exception = error) -> None:
            raise error

        with pytest.raises(expected) as info:
            with db.transaction() as tx:
                tx.get_song("f")
                made[0].commit = failing_commit  # type: ignore[method-assign]
        assert (type(info.value) is errors.OutcomeUnknown) == (expected is errors.OutcomeUnknown)


def test_a_dead_pooled_connection_found_when_a_transaction_begins_is_replaced_never_a_raw_error() -> None:
    from .fake_odbc import FakeError

    class DiesOnBegin(FakeConnection):
        def __setattr__(self, name: str, value: Any) -> None:
            if name == "autocommit" and value is False and getattr(self, "dead", False):
                raise FakeError("08S01", "[08S01] [FreeTDS][SQL Server]Write to the server failed (20006) (SQLSetConnectAttr)")
            super().__setattr__(name, value)

    made: list[FakeConnection] = []
    db = SongsDatabase(Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;"), retry=RetryPolicy(attempts=3, base_delay=0, max_delay=0))

    def connect() -> FakeConnection:
        made.append(DiesOnBegin(song_result))
        return made[-1]

    db._pool = ConnectionPool(connect, max_size=2, timeout=1)
    db.get_song("f")  # one pooled connection
    made[0].dead = True  # it died while idle
    with db.transaction() as tx:
        tx.get_song("f")
    assert len(made) == 2 and made[1].commits == 1 and db._pool._borrowed == 0


def test_an_argument_the_driver_cannot_bind_is_a_validation_error_and_keeps_the_connection() -> None:
    def overflow(sql: str, params: list[Any]):
        raise OverflowError("int too big to convert")

    db, made = make_db(overflow)
    with pytest.raises(errors.ValidationError, match="could not be sent"):
        db.get_song("f")
    assert db._pool.idle == 1 and not made[0].closed


def test_a_view_made_before_the_first_connection_writes_calls_as_the_driver_learnt_later_says() -> None:
    db, made = make_db(song_result)
    view = db.with_timeout(60)  # made before any connection: the style is not known yet
    db._driver.style = "call"  # what the first connect learns under FreeTDS
    view.get_song("f")
    assert made[0].executed[0][0] == "{CALL api.GetSongByFileId (?)}"


def test_a_bug_in_a_connect_hook_is_shown_as_it_is_not_as_an_outage() -> None:
    def broken_hook(settings: Settings) -> Any:
        raise TypeError("attrs_before wants a dict")

    db = SongsDatabase(Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;"), connect=broken_hook)
    with pytest.raises(TypeError, match="attrs_before"):
        db.get_song("f")


def test_pool_stats_show_the_connections_a_client_made_and_holds() -> None:
    db, made = make_db(song_result)
    assert db.pool_stats.connections_made == 0
    db.get_song("f")
    stats = db.pool_stats
    assert (stats.connections_made, stats.idle, stats.borrowed) == (1, 1, 0) and len(made) == 1
    db.close()
    assert (db.pool_stats.idle, db.pool_stats.connections_closed) == (0, 1)
    db.get_song("f")  # close() leaves the client usable: a later call opens a new connection
    assert db.pool_stats.connections_made == 2
