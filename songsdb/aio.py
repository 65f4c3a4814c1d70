"""AsyncSongsDatabase: the songsdb client for asyncio services (FastAPI, Starlette, aiohttp).

    from songsdb.aio import AsyncSongsDatabase

    async with AsyncSongsDatabase() as adb:                  # the settings SongsDatabase() takes
        song_id = await adb.create_song("file-1", "a.mp3", title="Intro")
        async with adb.transaction() as tx:                  # one connection and one thread
            job_id = await tx.create_job(song_id, "demucs", "separation")
            await tx.update_job_status(job_id, "running")

Every public method of :class:`~songsdb.database.SongsDatabase` is here, with the same parameters,
as a coroutine (``transaction`` is an async context manager, ``with_timeout`` a view sharing the
threads and pool, ``close`` is ``aclose``; tests/unit/test_aio.py compares the signatures). pyodbc
blocks, so each call runs the sync client's method in a thread and the event loop waits for none
of them:

- **Calls** run on one ``concurrent.futures.ThreadPoolExecutor`` of ``pool_size`` threads, as many
  as the connection pool holds connections: at most that many calls are in flight, and the rest
  wait in the executor's queue, costing no thread and no connection.
- **A transaction** (``async with adb.transaction() as tx``) gets a thread of its own for its whole
  life, a single-thread executor: the sync ``db.transaction()``'s enter, every call made on ``tx``
  and its exit run on that one thread, in the order they were made, on the transaction's one
  connection. So it is pinned to one connection and one thread by construction, whatever tasks
  use ``tx``. At most ``pool_size`` transactions are open at once; one more waits for a slot
  (in the event loop, without a thread) for ``pool_timeout`` seconds, then raises PoolTimeout as
  the pool would. A call on ``adb`` inside the block raises, as one on ``db`` does in the sync block.
- **Request ids**: each call runs in a copy of the caller's context
  (``contextvars.copy_context().run``), so the id a middleware bound in
  :data:`songsdb.context.request_id_var` is on the rows and audit rows it writes, as with the
  sync client.
- **Cancellation**: a thread cannot be interrupted. A cancelled call that has started runs to its
  end and gives its connection back; one still queued never starts. A transaction whose task is
  cancelled ends all the same, rolled back on its thread after the call in flight: its connection
  is never left borrowed.

Why the standard library's executor rather than ``anyio.to_thread.run_sync`` with a
``CapacityLimiter(pool_size)``: both bound the threads and run a copied context, but songsdb does
not depend on anyio (FastAPI brings it; a plain asyncio or aiohttp service has no need of it),
and ``loop.run_in_executor`` is what asyncio services already use. What it does not do is run
under trio.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from songsdb.config import Settings
from songsdb.database import SongsDatabase, Transaction
from songsdb.errors import PoolTimeout, SongsDbError
from songsdb.pool import PoolStats
from songsdb.retry import RetryPolicy

__all__ = ["AsyncSongsDatabase", "AsyncTransaction"]

P = ParamSpec("P")
R = TypeVar("R")


class _AsyncCalls:
    """Every public call of SongsDatabase as a coroutine; a subclass says which thread runs it."""

    _db: SongsDatabase

    async def _run(self, name: str, call: Callable[[], R]) -> R:
        """Run ``call`` (the sync method, its arguments and the caller's context) in a thread."""
        raise NotImplementedError


def _async(method: Callable[Concatenate[SongsDatabase, P], R]) -> Callable[Concatenate[_AsyncCalls, P], Coroutine[Any, Any, R]]:
    """``method`` of SongsDatabase as a coroutine method: same parameters and types, run by ``_run``."""
    name = method.__name__

    @functools.wraps(method)  # its name, docstring and signature (inspect.signature follows __wrapped__)
    async def call(self: _AsyncCalls, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = cast(Callable[P, R], getattr(self._db, name))  # the instance's own: a Transaction's on tx
        context = contextvars.copy_context()  # the caller's, taken now: its request id goes with the call
        return await self._run(name, lambda: context.run(bound, *args, **kwargs))

    return call


class _Methods(_AsyncCalls):
    """The wrapped methods, one line each (tests/unit/test_aio.py checks none is missing or differs)."""

    # songs
    create_song = _async(SongsDatabase.create_song)
    import_songs = _async(SongsDatabase.import_songs)  # rows are read and on_progress called in the worker thread
    get_song = _async(SongsDatabase.get_song)
    get_song_by_id = _async(SongsDatabase.get_song_by_id)
    list_songs = _async(SongsDatabase.list_songs)
    update_song = _async(SongsDatabase.update_song)
    delete_song = _async(SongsDatabase.delete_song)
    # jobs and results
    create_job = _async(SongsDatabase.create_job)
    get_job = _async(SongsDatabase.get_job)
    list_jobs = _async(SongsDatabase.list_jobs)
    update_job_status = _async(SongsDatabase.update_job_status)
    add_separated_tracks = _async(SongsDatabase.add_separated_tracks)
    add_transcription = _async(SongsDatabase.add_transcription)
    add_chroma_analysis = _async(SongsDatabase.add_chroma_analysis)
    get_song_results = _async(SongsDatabase.get_song_results)
    # the work queue
    enqueue_jobs = _async(SongsDatabase.enqueue_jobs)
    claim_next_job = _async(SongsDatabase.claim_next_job)
    claim_next_jobs = _async(SongsDatabase.claim_next_jobs)
    heartbeat = _async(SongsDatabase.heartbeat)
    complete_job = _async(SongsDatabase.complete_job)
    fail_job = _async(SongsDatabase.fail_job)
    cancel_job = _async(SongsDatabase.cancel_job)
    retry_job = _async(SongsDatabase.retry_job)
    sweep_expired_leases = _async(SongsDatabase.sweep_expired_leases)
    queue_status = _async(SongsDatabase.queue_status)
    cancel_job_by_operator = _async(SongsDatabase.cancel_job_by_operator)
    retry_jobs = _async(SongsDatabase.retry_jobs)
    cancel_jobs = _async(SongsDatabase.cancel_jobs)
    failed_jobs = _async(SongsDatabase.failed_jobs)
    held_jobs = _async(SongsDatabase.held_jobs)
    request_trail = _async(SongsDatabase.request_trail)
    job_detail = _async(SongsDatabase.job_detail)
    find_songs = _async(SongsDatabase.find_songs)
    throughput = _async(SongsDatabase.throughput)
    queue_metrics = _async(SongsDatabase.queue_metrics)
    # audit, reports, maintenance
    log_audit = _async(SongsDatabase.log_audit)
    get_audit_trail = _async(SongsDatabase.get_audit_trail)
    job_summary = _async(SongsDatabase.job_summary)
    cleanup_old_data = _async(SongsDatabase.cleanup_old_data)
    server_info = _async(SongsDatabase.server_info)
    server_version = _async(SongsDatabase.server_version)


class _Shared:
    """What a client and its ``with_timeout`` views share: the call threads, the transaction slots, the
    variable that marks a transaction block, and whether ``aclose`` closes the pool."""

    def __init__(self, size: int, timeout: float, owns: bool) -> None:
        self.size = size
        self.timeout = timeout
        self.owns = owns
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.executor: ThreadPoolExecutor | None = None  # made on the first call, again after aclose() or a fork
        self.slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        # only to refuse a call on the client inside its own transaction block (as SongsDatabase does)
        self.block: ContextVar[AsyncTransaction | None] = ContextVar(f"songsdb_async_tx_{id(self)}", default=None)

    def calls(self) -> ThreadPoolExecutor:
        if os.getpid() != self.pid:  # a forked child (gunicorn --preload): the parent's threads are not here
            self.after_fork()
        executor = self.executor
        if executor is None:
            with self.lock:
                if self.executor is None:
                    self.executor = ThreadPoolExecutor(self.size, thread_name_prefix="songsdb-aio")
                executor = self.executor
        return executor

    def after_fork(self) -> None:
        """Forget the parent's threads, lock and slots (the pool forgets its connections itself)."""
        self.lock = threading.Lock()
        self.executor = None
        self.slots = None
        self.pid = os.getpid()

    def transaction_slots(self) -> asyncio.Semaphore:
        """The running loop's semaphore of ``size`` transaction slots (asyncio primitives belong to one loop)."""
        loop = asyncio.get_running_loop()
        slots = self.slots
        if slots is None or slots[0] is not loop:
            slots = self.slots = (loop, asyncio.Semaphore(self.size))
        return slots[1]


class AsyncSongsDatabase(_Methods):
    """The songsdb client for asyncio: ``await adb.create_song(...)``; ``async with adb.transaction() as tx``.

    Takes what :class:`SongsDatabase` takes and makes one; :meth:`wrapping` gives an existing
    client an async face instead (same pool, so sync and async code share its connections).
    Use it as an async context manager or call :meth:`aclose`. Safe to share between tasks.
    """

    _shared: _Shared

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        role: str = "web",
        pool_size: int = 8,
        pool_timeout: float = 30.0,
        max_idle: float = 30.0,
        max_lifetime: float = 1800.0,
        retry: RetryPolicy | None = None,
        connect: Callable[[Settings], Any] | None = None,
        configure: Callable[[Any], None] | None = None,
        **overrides: Any,
    ) -> None:
        """As :class:`SongsDatabase` (a unit test keeps the two parameter lists equal)."""
        self._db = SongsDatabase(
            settings,
            role=role,
            pool_size=pool_size,
            pool_timeout=pool_timeout,
            max_idle=max_idle,
            max_lifetime=max_lifetime,
            retry=retry,
            connect=connect,
            configure=configure,
            **overrides,
        )
        self._shared = _Shared(pool_size, pool_timeout, owns=True)

    @classmethod
    def wrapping(cls, db: SongsDatabase) -> AsyncSongsDatabase:
        """The async face of ``db``: its pool, settings and retry policy. :meth:`aclose` leaves ``db`` open."""
        if isinstance(db, Transaction):
            raise SongsDbError("wrap the client, not a transaction: use `async with adb.transaction() as tx:`")
        adb = cls.__new__(cls)
        adb._db = db
        adb._shared = _Shared(db._pool.max_size, db._pool._timeout, owns=False)
        return adb

    def with_timeout(self, seconds: int) -> AsyncSongsDatabase:
        """This client with its own time limit per call (SongsDatabase.with_timeout), sharing its pool and
        threads: ``await adb.with_timeout(600).import_songs(rows)``."""
        view = copy.copy(self)
        view._db = self._db.with_timeout(seconds)
        return view

    def __repr__(self) -> str:
        return f"Async{self._db!r}"  # the sync repr, password redacted

    @property
    def sync(self) -> SongsDatabase:
        """The SongsDatabase underneath (for a sync dependency or a thread); it shares the pool."""
        return self._db

    @property
    def role(self) -> str:
        return self._db.role

    @property
    def pool_stats(self) -> PoolStats:
        """The shared pool's counts now (see SongsDatabase.pool_stats)."""
        return self._db.pool_stats

    @property
    def settings(self) -> Settings:
        return self._db.settings

    @property
    def retry(self) -> RetryPolicy:
        return self._db.retry

    # ----- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> AsyncSongsDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Let the calls in flight finish, stop the threads and close the pool (not a :meth:`wrapping` client's).

        As with SongsDatabase.close(), later calls start again (new threads, new connections).
        """
        shared = self._shared
        with shared.lock:
            executor, shared.executor = shared.executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown)
        if shared.owns:
            await asyncio.to_thread(self._db.close)

    close = aclose  # SongsDatabase's name for it

    # ----- calls -------------------------------------------------------------------------------
    async def _run(self, name: str, call: Callable[[], R]) -> R:
        shared = self._shared
        block = shared.block.get()
        if block is not None and block.open:
            raise SongsDbError(
                f"{name} was called on the client inside `async with adb.transaction() as tx:`, where it would run "
                f"outside the transaction: call it on tx (await tx.{name}(...)) to join it, or after the block"
            )
        # a call that waits for a thread longer than pool_timeout gives up as a borrower would, before it
        # sends anything: under overload the service sheds load (PoolTimeout -> 503) instead of queueing
        deadline = time.monotonic() + shared.timeout

        def bounded() -> R:
            if time.monotonic() > deadline:
                raise PoolTimeout(
                    f"{name}: no free connection within {shared.timeout:.0f} s (pool of {shared.size}); nothing was sent"
                )
            return call()

        return await asyncio.get_running_loop().run_in_executor(shared.calls(), bounded)

    # ----- transactions ------------------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncTransaction]:
        """One transaction on one connection and one thread: ``async with adb.transaction() as tx:``.

        ``tx`` has every method of this client; its calls run one at a time on the transaction's
        thread, and it commits when the block ends normally and rolls back when it raises (or its
        task is cancelled), re-raising. Everything else is as for ``SongsDatabase.transaction()``:
        after a server error inside, every later call and the end of the block raise
        TransactionRolledBack; transactions do not nest; the claim and the cleanup refuse to run in one.
        """
        shared = self._shared
        current = shared.block.get()
        if current is not None and current.open:
            raise SongsDbError("transactions do not nest; finish the current one first")
        slots = shared.transaction_slots()
        if not slots.locked():
            await slots.acquire()  # free: taken at once, no task made for a timeout
        else:
            try:
                await asyncio.wait_for(slots.acquire(), shared.timeout)
            except asyncio.TimeoutError:
                raise PoolTimeout(
                    f"no transaction could start within {shared.timeout:.0f} s ({shared.size} open, one per pooled "
                    "connection); nothing was sent"
                ) from None
        block = _Block(ThreadPoolExecutor(1, thread_name_prefix="songsdb-aio-tx"))
        thread = block.thread
        try:
            manager = self._db.transaction()
            context = contextvars.copy_context()  # the enter and the exit run in this one, on the one thread
            entered = thread.submit(context.run, manager.__enter__)
            try:
                pinned = await asyncio.wrap_future(entered)
            except BaseException:  # the enter failed, or this task was cancelled while it waited for a connection
                thread.submit(_end_if_entered, entered, context, manager)
                raise
            tx = AsyncTransaction(pinned, block)
            token = shared.block.set(tx)
            try:
                yield tx
            except BaseException as exc:
                block.open = False
                if not await _finish(thread.submit(context.run, manager.__exit__, type(exc), exc, exc.__traceback__)):
                    raise
            else:
                block.open = False
                await _finish(thread.submit(context.run, manager.__exit__, None, None, None))
            finally:
                try:
                    shared.block.reset(token)
                except ValueError:  # ended in another context than it began: tx.open says it is over
                    pass
        finally:
            thread.shutdown(wait=False)  # what was submitted still runs; then the thread ends
            slots.release()


class _Block:
    """One transaction block: its thread, and whether it is still open (shared by tx and its views)."""

    __slots__ = ("thread", "open")

    def __init__(self, thread: ThreadPoolExecutor) -> None:
        self.thread = thread
        self.open = True


class AsyncTransaction(_Methods):
    """The async client inside one ``async with adb.transaction() as tx:`` block.

    Every call runs on the transaction's own thread and connection, one at a time, in the order
    the calls were made; any task may make them. It cannot open, nest or close transactions: the
    block does.
    """

    def __init__(self, tx: Transaction, block: _Block) -> None:
        self._db = tx
        self._block = block

    def __repr__(self) -> str:
        return f"Async{self._db!r}"

    @property
    def open(self) -> bool:
        """Whether the block is still running (calls are refused after it)."""
        return self._block.open

    @property
    def sync(self) -> Transaction:
        """The sync Transaction underneath; call it only from the transaction's thread (use the async methods)."""
        return cast(Transaction, self._db)

    def with_timeout(self, seconds: int) -> AsyncTransaction:
        """This transaction with its own time limit per call, on its connection and thread."""
        view = copy.copy(self)
        view._db = self._db.with_timeout(seconds)
        return view

    async def _run(self, name: str, call: Callable[[], R]) -> R:
        block = self._block
        if not block.open:
            raise SongsDbError(f"{name} not run: its transaction's with-block has ended")
        return await asyncio.wrap_future(block.thread.submit(call))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncTransaction]:
        raise SongsDbError("transactions do not nest; finish the current one first")
        yield self  # pragma: no cover (a generator, for asynccontextmanager)

    async def aclose(self) -> None:
        raise SongsDbError("a transaction is closed by its with-block, not by aclose()")

    close = aclose


async def _finish(ending: Future[R]) -> R:
    """The outcome of a transaction's exit, which runs to its end on its thread even when this task is cancelled.

    Shielded: cancelling the wait must not cancel the exit while it is still queued behind a call,
    or the transaction's connection would never be given back.
    """
    waiter = asyncio.wrap_future(ending)
    try:
        return await asyncio.shield(waiter)
    except asyncio.CancelledError:
        waiter.add_done_callback(_retrieved)
        raise


def _retrieved(done: asyncio.Future[Any]) -> None:
    """Read an outcome nobody awaits any more, so asyncio does not log it as never retrieved."""
    if not done.cancelled():
        done.exception()


def _end_if_entered(
    entered: Future[Transaction],
    context: contextvars.Context,
    manager: AbstractContextManager[Transaction],
) -> None:
    """On the transaction's thread, after its enter: end a block whose task left before using it (rolled back)."""
    if entered.cancelled() or entered.exception() is not None:
        return
    abandoned = asyncio.CancelledError()
    context.run(manager.__exit__, type(abandoned), abandoned, None)
