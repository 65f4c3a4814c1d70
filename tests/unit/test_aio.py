"""songsdb.aio's plumbing with a recording fake connection (not evidence about any server): the
contract with SongsDatabase, the threads calls and transactions run on, request ids, cancellation,
and closing; then songsdb.fastapi's middleware and error answers, without a database."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from songsdb import errors
from songsdb.aio import AsyncSongsDatabase, AsyncTransaction
from songsdb.config import Settings
from songsdb.context import request_context, request_id_var
from songsdb.database import SongsDatabase, Transaction
from songsdb.models import Song, columns
from songsdb.pool import ConnectionPool
from songsdb.retry import RetryPolicy

from .fake_odbc import FakeConnection, server_error

SONG_ID = uuid.uuid4()
SONG_ROW = (str(SONG_ID), "f", None, None, None, "a.mp3", None, None, None, None, datetime(2026, 1, 1), datetime(2026, 1, 1), None, "uploaded")
DSN = "DRIVER={FreeTDS};SERVER=x;UID=u;PWD=hunter2;"


def song_result(sql: str, params: list[Any]) -> Any:
    return [(list(columns(Song)), [SONG_ROW])]


class ThreadRecordingConnection(FakeConnection):
    """The fake connection, also noting which thread ran each statement, commit and rollback, and the
    time limit each cursor was made with."""

    timeout = 30

    def __init__(self, respond: Callable[[str, list[Any]], Any]) -> None:
        super().__init__(lambda sql, params: self._answer(respond, sql, params))
        self.threads: list[tuple[str, str]] = []  # (what, thread name)
        self.cursor_timeouts: list[int] = []

    def cursor(self) -> Any:
        self.cursor_timeouts.append(self.timeout)
        return super().cursor()

    def _answer(self, respond: Callable[[str, list[Any]], Any], sql: str, params: list[Any]) -> Any:
        self.threads.append((sql.split()[1], threading.current_thread().name))
        return respond(sql, params)

    def commit(self) -> None:
        self.threads.append(("COMMIT", threading.current_thread().name))
        super().commit()

    def rollback(self) -> None:
        self.threads.append(("ROLLBACK", threading.current_thread().name))
        super().rollback()


def fake_client(
    respond: Callable[[str, list[Any]], Any] = song_result, pool_size: int = 4, pool_timeout: float = 1.0
) -> tuple[SongsDatabase, list[ThreadRecordingConnection]]:
    made: list[ThreadRecordingConnection] = []
    db = SongsDatabase(Settings(connection_string=DSN), retry=RetryPolicy(attempts=3, base_delay=0, max_delay=0))

    def connect() -> ThreadRecordingConnection:
        made.append(ThreadRecordingConnection(respond))
        return made[-1]

    db._connect = connect  # type: ignore[method-assign]
    db._pool = ConnectionPool(connect, max_size=pool_size, timeout=pool_timeout)
    return db, made


def slow(seconds: float, respond: Callable[[str, list[Any]], Any] = song_result) -> Callable[[str, list[Any]], Any]:
    def answer(sql: str, params: list[Any]) -> Any:
        time.sleep(seconds)
        return respond(sql, params)

    return answer


def public_methods() -> list[str]:
    return sorted(name for name, value in inspect.getmembers(SongsDatabase) if not name.startswith("_") and callable(value))


def parameters(function: Any) -> list[inspect.Parameter]:
    """The parameters after ``self`` (whose annotation, a self-type or none, says nothing to a caller)."""
    return [p for p in inspect.signature(function).parameters.values() if p.name != "self"]


# ----- the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [AsyncSongsDatabase, AsyncTransaction])
def test_every_public_method_of_the_sync_client_is_on_the_async_one_with_the_same_parameters(cls: type) -> None:
    names = public_methods()
    assert {"create_song", "claim_next_job", "complete_job", "cleanup_old_data", "transaction", "close"} <= set(names)
    missing = [name for name in names if not hasattr(cls, name)]
    assert missing == [], f"{cls.__name__} lacks {missing}: add them to songsdb/aio.py"
    for name in names:
        assert parameters(getattr(cls, name)) == parameters(getattr(SongsDatabase, name)), name
        # the two that send nothing stay plain: an async context manager, and a view of the client
        assert inspect.iscoroutinefunction(getattr(cls, name)) == (name not in NOT_COROUTINES), name


NOT_COROUTINES = {"transaction", "with_timeout"}


def test_each_wrapper_runs_the_sync_method_of_its_own_name() -> None:
    wrapped = [name for name in public_methods() if name not in NOT_COROUTINES | {"close"}]
    for name in wrapped:
        assert getattr(AsyncSongsDatabase, name).__wrapped__ is getattr(SongsDatabase, name), name


def test_the_async_client_takes_what_the_sync_client_takes() -> None:
    assert parameters(AsyncSongsDatabase.__init__) == parameters(SongsDatabase.__init__)


# ----- calls -------------------------------------------------------------------------------------
def test_a_call_sends_what_the_sync_call_sends_from_a_worker_thread_and_returns_its_value() -> None:
    db, made = fake_client()

    async def scenario() -> Any:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            return await adb.create_song("f", "a.mp3", title="T", request_id="r-1"), await adb.get_song("f")

    created, song = asyncio.run(scenario())
    assert created == SONG_ID and isinstance(song, Song) and song.id == SONG_ID
    [(create_sql, create_params), (get_sql, _)] = made[0].executed
    assert create_sql == "EXEC api.CreateSong @FileId = ?, @FileName = ?, @Title = ?, @RequestId = ?;"
    assert create_params == ["f", "a.mp3", "T", "r-1"]
    assert all(thread.startswith("songsdb-aio") for _, thread in made[0].threads)


def test_each_tasks_request_id_reaches_its_own_call_in_the_worker_thread() -> None:
    db, made = fake_client(slow(0.01))

    async def one(adb: AsyncSongsDatabase, n: int) -> None:
        with request_context(f"req-{n}"):
            await adb.create_song(f"f{n}", "a.mp3")

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            await asyncio.gather(*(one(adb, n) for n in range(12)))
            await adb.create_song("none", "a.mp3")  # outside any request: no id is sent

    asyncio.run(scenario())
    sent = {params[0]: params[-1] for conn in made for _, params in conn.executed}
    assert {f"f{n}": f"req-{n}" for n in range(12)}.items() <= sent.items()
    assert sent["none"] == "a.mp3" and request_id_var.get() is None


def test_calls_run_on_at_most_pool_size_threads_and_the_rest_wait_without_one() -> None:
    in_flight, most = 0, 0
    lock = threading.Lock()

    def counting(sql: str, params: list[Any]) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.01)
        with lock:
            in_flight -= 1
        return song_result(sql, params)

    db, made = fake_client(counting, pool_size=2)

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            await asyncio.gather(*(adb.get_song(f"f{n}") for n in range(20)))

    before = threading.active_count()
    asyncio.run(scenario())
    threads = {thread for conn in made for _, thread in conn.threads}
    assert most == 2 and len(threads) == 2 and len(made) == 2
    assert sum(len(conn.executed) for conn in made) == 20
    assert threading.active_count() <= before  # aclose() stopped them


def test_server_errors_arrive_as_the_same_typed_errors() -> None:
    db, _ = fake_client(lambda sql, p: server_error(50101, text="No song has @SongId = 'x'."))

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            await adb.update_song(SONG_ID, title="x")

    with pytest.raises(errors.SongNotFound, match="api.UpdateSong: No song has @SongId"):
        asyncio.run(scenario())


def test_the_password_is_not_in_the_repr() -> None:
    adb = AsyncSongsDatabase(Settings(connection_string=DSN))
    assert "hunter2" not in repr(adb) and "***" in repr(adb) and repr(adb).startswith("AsyncSongsDatabase(")


# ----- transactions ------------------------------------------------------------------------------
def test_a_transactions_enter_calls_and_exit_run_on_one_thread_and_one_connection() -> None:
    db, made = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async with adb.transaction() as tx:
                await tx.create_song("a", "a.mp3")
                await asyncio.gather(*(tx.get_song(f"f{n}") for n in range(4)))  # from several tasks
                await asyncio.create_task(tx.create_song("b", "b.mp3"))

    asyncio.run(scenario())
    [conn] = made
    assert [what for what, _ in conn.threads] == ["api.CreateSong", *["api.GetSongByFileId"] * 4, "api.CreateSong", "COMMIT"]
    [thread] = {thread for _, thread in conn.threads}
    assert thread.startswith("songsdb-aio-tx")
    assert (conn.commits, conn.rollbacks, conn.autocommit, db._pool._borrowed) == (1, 0, True, 0)


def test_an_async_transaction_rolls_back_reraises_and_gives_its_connection_back() -> None:
    db, made = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async with adb.transaction() as tx:
                await tx.create_song("a", "a.mp3")
                raise KeyError("boom")

    with pytest.raises(KeyError):
        asyncio.run(scenario())
    assert (made[0].commits, made[0].rollbacks, db._pool._borrowed) == (0, 1, 0)


def test_an_error_caught_inside_an_async_transaction_dooms_it() -> None:
    def duplicate(sql: str, params: list[Any]) -> Any:
        return server_error(50102, text="A song with @FileId = 'dup' already exists.") if params[0] == "dup" else song_result(sql, params)

    db, made = fake_client(duplicate)

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async with adb.transaction() as tx:
                await tx.create_song("a", "a.mp3")
                with pytest.raises(errors.DuplicateSong):
                    await tx.create_song("dup", "a.mp3")
                with pytest.raises(errors.TransactionRolledBack, match="not run"):
                    await tx.get_song("c")

    with pytest.raises(errors.TransactionRolledBack, match=r"DuplicateSong\) rolled the whole transaction back"):
        asyncio.run(scenario())
    assert [p[0] for _, p in made[0].executed] == ["a", "dup"]
    assert (made[0].commits, made[0].rollbacks, db._pool._borrowed) == (0, 1, 0)


def test_a_call_on_the_client_inside_its_async_transaction_is_refused_not_run_outside_it() -> None:
    db, made = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async with adb.transaction() as tx:
                with pytest.raises(errors.SongsDbError, match=r"call it on tx \(await tx.get_song"):
                    await adb.get_song("f")
                await tx.get_song("f")  # on tx it runs
            assert await adb.get_song("f") is not None  # and on the client after the block

    asyncio.run(scenario())
    assert sum(len(conn.executed) for conn in made) == 2


def test_async_transactions_do_not_nest_and_tx_cannot_close() -> None:
    db, _ = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async with adb.transaction() as tx:
                with pytest.raises(errors.SongsDbError, match="do not nest"):
                    async with adb.transaction():
                        pass
                with pytest.raises(errors.SongsDbError, match="do not nest"):
                    async with tx.transaction():
                        pass
                with pytest.raises(errors.SongsDbError, match="closed by its with-block"):
                    await tx.aclose()
            async with adb.transaction():  # after the block, a new one opens
                pass

    asyncio.run(scenario())
    assert db._pool._borrowed == 0


def test_a_call_on_tx_after_its_block_is_refused() -> None:
    db, made = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async with adb.transaction() as tx:
                await tx.get_song("f")
            with pytest.raises(errors.SongsDbError, match="get_song not run: its transaction's with-block has ended"):
                await tx.get_song("f")

    asyncio.run(scenario())
    assert len(made[0].executed) == 1


def test_a_task_cancelled_inside_its_transaction_rolls_it_back_and_gives_the_connection_back() -> None:
    db, made = fake_client(slow(0.2))

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            async def request() -> None:
                async with adb.transaction() as tx:
                    await tx.create_song("a", "a.mp3")
                    await tx.create_song("b", "b.mp3")  # cancelled while this one runs

            task = asyncio.create_task(request())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
    conn = made[0]
    assert [p[0] for _, p in conn.executed] == ["a", "b"]  # the call in flight ran to its end, on the thread
    assert (conn.commits, conn.rollbacks, db._pool._borrowed, db._pool.idle) == (0, 1, 0, 1)


def test_a_task_cancelled_while_its_transaction_waits_for_a_connection_never_leaks_it() -> None:
    db, made = fake_client(slow(0.2), pool_size=1, pool_timeout=5)

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            holder = asyncio.create_task(adb.get_song("held"))  # the one connection, for 0.2 s
            await asyncio.sleep(0.05)
            async def request() -> None:
                async with adb.transaction() as tx:
                    await tx.get_song("never")

            waiting = asyncio.create_task(request())
            await asyncio.sleep(0.05)
            waiting.cancel()  # its thread is still waiting in the pool for the connection
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await holder
            for _ in range(50):  # the abandoned enter gets the connection, then its block ends on its thread
                if made[0].rollbacks:
                    break
                await asyncio.sleep(0.02)
            async with adb.transaction() as tx:  # and the connection serves the next one
                await tx.get_song("next")

    asyncio.run(scenario())
    conn = made[0]
    assert [p[0] for _, p in conn.executed] == ["held", "next"]
    assert (conn.rollbacks, conn.commits, db._pool._borrowed) == (1, 1, 0)


def test_more_transactions_than_connections_wait_for_a_slot_then_raise_pool_timeout() -> None:
    db, made = fake_client(pool_size=1, pool_timeout=0.2)

    async def scenario() -> float:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            holding, done = asyncio.Event(), asyncio.Event()

            async def holder() -> None:  # another request, holding the one connection
                async with adb.transaction() as tx:
                    await tx.get_song("f")
                    holding.set()
                    await done.wait()

            task = asyncio.create_task(holder())
            await holding.wait()
            started = time.monotonic()
            with pytest.raises(errors.PoolTimeout, match="nothing was sent"):
                await _open(adb)
            waited = time.monotonic() - started
            done.set()
            await task
            await _open(adb)  # a slot is free again
        return waited

    waited = asyncio.run(scenario())
    assert 0.15 <= waited < 2
    assert len(made) == 1 and made[0].commits == 2 and db._pool._borrowed == 0


def test_a_transaction_whose_connection_never_comes_raises_pool_timeout_and_frees_its_slot() -> None:
    db, made = fake_client(pool_size=1, pool_timeout=0.2)

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            held = db._pool.acquire()  # sync code elsewhere holds the one connection
            with pytest.raises(errors.PoolTimeout):
                await _open(adb)
            db._pool.release(held)
            await _open(adb)  # the slot and the connection serve the next one

    asyncio.run(scenario())
    assert made[0].commits == 1 and db._pool._borrowed == 0


async def _open(adb: AsyncSongsDatabase) -> None:
    async with adb.transaction() as tx:
        await tx.get_song("g")


def test_with_timeout_is_a_view_with_its_own_limit_on_the_same_threads_and_pool() -> None:
    db, made = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            patient = adb.with_timeout(600)
            assert isinstance(patient, AsyncSongsDatabase) and patient._shared is adb._shared
            await patient.get_song("f")
            async with adb.transaction() as tx:
                slow_tx = tx.with_timeout(900)
                assert isinstance(slow_tx, AsyncTransaction) and slow_tx.open
                await slow_tx.get_song("g")
            assert not slow_tx.open

    asyncio.run(scenario())
    [conn] = made
    assert 600 in conn.cursor_timeouts and 900 in conn.cursor_timeouts and conn.commits == 1
    assert [thread.split("_")[0] for _, thread in conn.threads] == ["songsdb-aio", "songsdb-aio-tx", "songsdb-aio-tx"]


def test_a_transaction_cannot_be_wrapped() -> None:
    db, _ = fake_client()
    with db.transaction() as tx:
        with pytest.raises(errors.SongsDbError, match="wrap the client, not a transaction"):
            AsyncSongsDatabase.wrapping(tx)
    assert isinstance(tx, Transaction)


def test_an_async_generator_dependency_holding_an_async_transaction_commits_or_rolls_back() -> None:
    pytest.importorskip("fastapi", reason="fastapi is in the test extra (songsdb[fastapi])")
    from collections.abc import AsyncIterator

    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    db, made = fake_client(pool_size=2)
    adb = AsyncSongsDatabase.wrapping(db)
    app = FastAPI()

    async def transaction() -> AsyncIterator[AsyncTransaction]:
        async with adb.transaction() as tx:
            yield tx

    @app.post("/pair/{fail}")
    async def pair(fail: bool, tx: AsyncTransaction = Depends(transaction)) -> dict[str, str]:  # noqa: B008 (a local dependency: string annotations could not name it)
        await tx.create_song("a", "a.mp3")
        await tx.create_song("b", "b.mp3")
        if fail:
            raise RuntimeError("after both writes")
        return {"ok": "yes"}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/pair/false").status_code == 200
        assert client.post("/pair/true").status_code == 500
    commits = sum(conn.commits for conn in made)
    rollbacks = sum(conn.rollbacks for conn in made)
    assert (commits, rollbacks, db._pool._borrowed) == (1, 1, 0)


# ----- closing -----------------------------------------------------------------------------------
def test_aclose_closes_the_pool_it_owns_and_later_calls_start_again() -> None:
    made: list[ThreadRecordingConnection] = []

    def connect() -> ThreadRecordingConnection:
        made.append(ThreadRecordingConnection(song_result))
        return made[-1]

    adb = AsyncSongsDatabase(Settings(connection_string=DSN), pool_size=2, pool_timeout=1)
    adb.sync._connect = connect  # type: ignore[method-assign]
    adb.sync._pool = ConnectionPool(connect, max_size=2, timeout=1)

    async def scenario() -> None:
        async with adb:
            await adb.get_song("f")
        assert made[0].closed and adb._shared.executor is None
        await adb.get_song("g")  # as SongsDatabase after close(): new threads, a new connection
        await adb.close()

    asyncio.run(scenario())
    assert len(made) == 2 and made[1].closed


def test_aclose_of_a_wrapping_client_leaves_the_sync_client_open() -> None:
    db, made = fake_client()

    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(db) as adb:
            await adb.get_song("f")

    asyncio.run(scenario())
    assert not made[0].closed and db.get_song("f") is not None and len(made) == 1


# ----- songsdb.fastapi: the request-id middleware and the error answers ----------------------------
@pytest.fixture
def fastapi_app() -> Any:
    pytest.importorskip("fastapi", reason="fastapi is in the test extra (songsdb[fastapi])")
    from collections.abc import Iterator

    from fastapi import Depends, FastAPI

    from songsdb.fastapi import init_app, request_id

    app = FastAPI()
    init_app(app, errors=True)
    seen: list[tuple[str, str | None]] = []

    def sync_dependency() -> Iterator[str | None]:
        seen.append(("dependency setup", request_id_var.get()))
        yield request_id_var.get()
        seen.append(("dependency teardown", request_id_var.get()))

    @app.get("/async")
    async def in_the_loop(rid: str = Depends(request_id)) -> dict[str, str | None]:
        return {"bound": request_id_var.get(), "state": rid}

    @app.get("/sync")
    def in_a_thread(from_dependency: str | None = Depends(sync_dependency)) -> dict[str, str | None]:
        return {"bound": request_id_var.get(), "dependency": from_dependency}

    failures: dict[str, Exception] = {
        "validation": errors.ValidationError("The value for the parameter @JobType is not supported.", parameter="job_type", number=50003),
        "not-found": errors.SongNotFound("no song", number=50101),
        "duplicate": errors.DuplicateSong("dup", number=50102),
        "not-connected": errors.NotConnected("cannot reach SQL Server"),
        "outcome-unknown": errors.OutcomeUnknown("may have committed"),
        "other": errors.SongsDbError("returned no row"),
    }

    @app.get("/fail/{kind}")
    async def fail(kind: str) -> None:
        raise failures[kind]

    app.state.seen = seen
    return app


def test_the_middleware_binds_the_request_id_for_async_and_sync_code_and_answers_with_it(fastapi_app: Any) -> None:
    from fastapi.testclient import TestClient

    with TestClient(fastapi_app) as client:
        taken = client.get("/async", headers={"X-Request-ID": "req-1"})
        assert taken.headers["X-Request-ID"] == "req-1" and taken.json() == {"bound": "req-1", "state": "req-1"}
        threaded = client.get("/sync", headers={"X-Request-ID": "req-2"})
        assert threaded.json() == {"bound": "req-2", "dependency": "req-2"} and threaded.headers["X-Request-ID"] == "req-2"
        assert fastapi_app.state.seen == [("dependency setup", "req-2"), ("dependency teardown", "req-2")]
        generated = client.get("/async")
        assert uuid.UUID(generated.headers["X-Request-ID"]) and generated.json()["bound"] == generated.headers["X-Request-ID"]
        for unusable in ("has space", "x" * 101, "ü"):
            replaced = client.get("/async", headers={"X-Request-ID": unusable.encode()})
            assert uuid.UUID(replaced.headers["X-Request-ID"]) and replaced.json()["bound"] == replaced.headers["X-Request-ID"]
        missing = client.get("/nowhere", headers={"X-Request-ID": "req-404"})
        assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "req-404"
    assert request_id_var.get() is None


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("validation", 400, {"error": "The value for the parameter @JobType is not supported.", "field": "job_type", "number": 50003}),
        ("not-found", 404, {"error": "SongNotFound", "number": 50101}),
        ("duplicate", 409, {"error": "DuplicateSong", "number": 50102}),
        ("not-connected", 503, {"error": "database unavailable", "outcome_unknown": False}),
        ("outcome-unknown", 503, {"error": "database unavailable", "outcome_unknown": True}),
        ("other", 500, {"error": "internal error"}),
    ],
)
def test_songsdb_errors_are_answered_as_json_with_their_status_and_the_request_id(
    fastapi_app: Any, kind: str, status: int, body: dict[str, Any]
) -> None:
    from fastapi.testclient import TestClient

    with TestClient(fastapi_app) as client:
        response = client.get(f"/fail/{kind}", headers={"X-Request-ID": f"req-{kind}"})
    assert response.status_code == status
    assert response.json() == {**body, "request_id": f"req-{kind}"}
    assert response.headers["X-Request-ID"] == f"req-{kind}"
    assert ("Retry-After" in response.headers) == (status == 503)


def test_calls_queued_past_pool_timeout_give_up_with_pool_timeout_instead_of_queueing_forever() -> None:
    db, made = fake_client(slow(0.3), pool_size=1, pool_timeout=0.2)
    adb = AsyncSongsDatabase.wrapping(db)

    async def scenario() -> list[object]:
        return await asyncio.gather(*(adb.get_song(f"f{i}") for i in range(4)), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert not isinstance(outcomes[0], BaseException)  # the first one had a thread at once
    assert all(isinstance(o, errors.PoolTimeout) and "nothing was sent" in str(o) for o in outcomes[1:])
    assert sum(len(c.executed) for c in made) == 1  # the ones that gave up sent nothing


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork (POSIX)")
def test_after_fork_a_child_gets_threads_of_its_own_and_its_calls_run() -> None:
    import os

    db, _ = fake_client()
    adb = AsyncSongsDatabase.wrapping(db)
    asyncio.run(adb.get_song("parent"))  # the parent's call threads exist now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and always leave with os._exit
        code = 1
        try:
            os.close(read)
            import signal

            signal.alarm(10)  # a hang fails the test instead of blocking it
            song = asyncio.run(adb.get_song("child"))
            os.write(write, b"ok" if song is not None else b"none")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert said == b"ok" and os.waitstatus_to_exitcode(status) == 0
