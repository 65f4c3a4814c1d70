"""A small, bounded, thread-safe pool of pyodbc connections that never hands out a dead one.

pyodbc connections may move between threads but must not be used by two at once
(pyodbc.threadsafety == 1), so each call borrows one connection and gives it back.
At most ``max_size`` exist at a time; a borrower waits up to ``timeout`` seconds.

psycopg_pool's rules, applied here: a connection idle for more than ``max_idle`` seconds is
checked with a cheap round trip before it is handed out (a server restart or a killed session
shows up there, not in the caller's call); one older than ``max_lifetime`` seconds is closed
and replaced; one returned as broken, or after :meth:`ConnectionPool.close`, is closed instead
of kept. Each pooled connection keeps a few prepared statements (one cursor per EXEC text), so
a call is one ``sp_execute`` instead of ``sp_prepexec`` + ``sp_unprepare``.

Fork safety (SQLAlchemy's "Using Connection Pools with Multiprocessing or os.fork()"): a forked
child (gunicorn ``--preload``, Celery prefork, multiprocessing) inherits the parent's sockets, and
two processes talking on one TDS session interleave their requests. So in the child every pool
forgets what it inherited and opens connections of its own. It closes none of them, and keeps the
inherited objects referenced for the life of the process: closing, or letting pyodbc free one (it
disconnects and unprepares its statements when collected), would write on the session the parent
is still using. The child also gets a fresh lock, since another parent thread may have held the old
one at the moment of the fork. ``os.register_at_fork`` does this for every pool right after the
fork. Where it does not exist, or a server forks without telling Python (uWSGI unless
``py-call-uwsgi-fork-hooks`` or ``py-call-osafterfork`` is on), a process-id check does the same
first: at the top of every :meth:`ConnectionPool.acquire` (one ``os.getpid()`` per call), and in
``close()`` and before ``release()`` closes a connection.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from songsdb.errors import PoolTimeout

__all__ = ["ConnectionPool", "PooledConnection", "PoolStats", "limited", "ping", "quietly"]

STATEMENTS_PER_CONNECTION = 32
LIFETIME_JITTER = 0.05  # each connection lives 95-100 % of max_lifetime (psycopg_pool's -5 %): made together, not replaced together
PING_TIMEOUT = 5  # seconds the liveness check may take, whatever the query time limit (0 = none) is


@dataclass(frozen=True)
class PoolStats:
    """The pool now, and since it was made (psycopg_pool's get_stats() is the model)."""

    max_size: int
    idle: int
    borrowed: int
    waiting: int
    connections_made: int
    connections_closed: int
    connections_refused: int  # connects that failed
    discarded_broken: int  # given back broken (timed out, lost, interrupted), or still in a transaction
    waits: int  # acquires that found every connection out
    wait_seconds: float
    timeouts: int  # waits that ended in PoolTimeout


class PooledConnection:
    """One driver connection, its prepared-statement cursors, and when it was made and last used."""

    __slots__ = ("raw", "created", "last_used", "generation", "lifetime", "_cursors")

    def __init__(self, raw: Any, now: float, generation: int = 0, lifetime: float = float("inf")) -> None:
        self.raw = raw
        self.generation = generation
        self.created = now
        self.last_used = now
        self.lifetime = lifetime  # seconds it is kept after it was made
        self._cursors: OrderedDict[Any, Any] = OrderedDict()

    def cursor_for(self, sql: str, timeout: int | None = None) -> Any:
        """The cursor that last ran ``sql`` (pyodbc re-uses its prepared statement), or a new one.

        ``timeout`` (seconds, 0 = none) is a time limit of the call's own: pyodbc applies a
        connection's limit when it makes a cursor, so such a cursor is made under that limit and
        kept apart, per text and limit (a new one each call would prepare and unprepare: two requests).
        """
        key: Any = sql if timeout is None else (sql, timeout)
        cursor = self._cursors.get(key)
        if cursor is not None:
            self._cursors.move_to_end(key)
            return cursor
        if timeout is None:
            cursor = self.raw.cursor()
        else:
            previous = self.raw.timeout
            self.raw.timeout = timeout
            try:
                cursor = self.raw.cursor()
            finally:
                self.raw.timeout = previous
        self._cursors[key] = cursor
        if len(self._cursors) > STATEMENTS_PER_CONNECTION:
            _, oldest = self._cursors.popitem(last=False)
            quietly(oldest.close)
        return cursor

    def forget_statements(self) -> None:
        """Close every cached cursor (after an error, a cursor's state is not worth trusting)."""
        cursors, self._cursors = list(self._cursors.values()), OrderedDict()
        for cursor in cursors:
            quietly(cursor.close)

    def close(self) -> None:
        self.forget_statements()
        quietly(self.raw.close)


class ConnectionPool:
    """Borrow with :meth:`acquire`, give back with :meth:`release`."""

    def __init__(
        self,
        connect: Callable[[], Any],
        max_size: int = 8,
        timeout: float = 30.0,
        *,
        max_idle: float = 30.0,
        max_lifetime: float = 1800.0,
        check: Callable[[Any], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._connect = connect
        self._timeout = timeout
        self._max_idle = max_idle
        self._max_lifetime = max_lifetime
        self._check = check
        self._clock = clock
        # one lock guards the idle list and the count of borrowed connections; a borrower that finds
        # every connection out waits on the condition (a semaphore would cost a Python-level
        # condition on every call, not only when the pool is exhausted)
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)
        self._borrowed = 0
        self._waiting = 0
        self._idle: list[PooledConnection] = []
        self._generation = 0  # close() and a fork start a new one: older connections are not pooled again
        self._first_generation = 0  # connections of an older one were made by a parent process
        self._inherited: list[PooledConnection] = []  # the parent's, never used, closed nor freed here
        self._pid = os.getpid()
        self.max_size = max_size
        self._made = self._closed = self._refused = self._discarded = self._waits = self._timeouts = 0
        self._waited = 0.0
        # called with the seconds one acquire waited for a connection, when it had to (songsdb.telemetry)
        self.on_wait: Callable[[float], None] | None = None
        _POOLS.add(self)

    def stats(self) -> PoolStats:
        """Counts for metrics: connections by state, and what borrowing cost."""
        with self._lock:
            return PoolStats(
                self.max_size, len(self._idle), self._borrowed, self._waiting, self._made, self._closed,
                self._refused, self._discarded, self._waits, round(self._waited, 6), self._timeouts,
            )

    @property
    def idle(self) -> int:
        """How many open connections wait in the pool."""
        if os.getpid() != self._pid:
            self._after_fork()
        with self._lock:
            return len(self._idle)

    def acquire(self) -> PooledConnection:
        """A live connection: a checked idle one, or a new one. Connection errors propagate unchanged."""
        if os.getpid() != self._pid:  # forked, and no at-fork hook ran: uWSGI by default (see _after_fork)
            self._after_fork()
        waited = 0.0
        with self._lock:
            if self._borrowed >= self.max_size:
                waited = self._wait_for_one()
            self._borrowed += 1
            conn = self._idle.pop() if self._idle else None
        if waited and self.on_wait is not None:  # outside the lock: the hook is the caller's code
            self.on_wait(waited)
        if conn is not None:  # the common case, kept short: it runs on every call
            now = self._clock()
            if now - conn.created <= conn.lifetime and (self._check is None or now - conn.last_used <= self._max_idle):
                return conn
        try:
            while conn is not None:
                if self._usable(conn):
                    return conn
                self._close(conn)
                conn = self._pop_idle()
            try:
                raw = self._connect()
            except BaseException:
                with self._lock:
                    self._refused += 1
                raise
        except BaseException:
            with self._lock:
                self._give_back()
            raise
        with self._lock:  # a connect is slow anyway; the counts stay exact under threads
            self._made += 1
        lifetime = self._max_lifetime * (1 - LIFETIME_JITTER * random.random())
        return PooledConnection(raw, self._clock(), self._generation, lifetime)

    def release(self, conn: PooledConnection, broken: bool = False) -> None:
        """Give ``conn`` back; a broken one, or one returned after :meth:`close`, is closed.

        One borrowed before a fork and returned in the child is the parent's: it is dropped, never
        closed (see :meth:`_after_fork`).
        """
        conn.last_used = self._clock()
        if not broken and getattr(conn.raw, "autocommit", True) is not True:  # a transaction left open: never hand it out again
            broken = True
        with self._lock:
            if broken:
                self._discarded += 1
            keep = not broken and conn.generation == self._generation
            if keep:
                self._idle.append(conn)
            elif conn.generation < self._first_generation:  # not counted in this process's borrowed
                self._inherited.append(conn)
                return
            self._borrowed -= 1  # as _give_back does, written out: this runs on every call
            if self._waiting:
                self._returned.notify()
        if not keep:
            if os.getpid() != self._pid:  # forked, no at-fork hook ran, no acquire since: the parent's
                self._after_fork()
                self._inherited.append(conn)
            else:
                self._close(conn)

    def _wait_for_one(self) -> float:
        """Called holding the lock: wait until a connection comes back (returns the seconds waited), or raise after ``timeout``."""
        started = time.monotonic()
        deadline = started + self._timeout
        self._waiting += 1
        self._waits += 1
        try:
            while self._borrowed >= self.max_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._timeouts += 1
                    raise PoolTimeout(f"no free connection within {self._timeout:.0f} s (pool of {self.max_size}); nothing was sent")
                self._returned.wait(left)
        finally:
            self._waiting -= 1
            waited = time.monotonic() - started
            self._waited += waited
        return waited

    def _give_back(self) -> None:
        """Called holding the lock: one borrowed connection less; wake a waiting borrower."""
        self._borrowed -= 1
        if self._waiting:
            self._returned.notify()

    def close(self) -> None:
        """Close the idle connections; borrowed ones are closed when they come back."""
        if os.getpid() != self._pid:  # in a child, what is idle here is the parent's: set aside, not closed
            self._after_fork()
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn in idle:
            self._close(conn)

    def _close(self, conn: PooledConnection) -> None:
        with self._lock:
            self._closed += 1
        conn.close()

    def _after_fork(self) -> None:
        """In a forked child: start empty, with a fresh lock, sending nothing on the parent's sessions.

        The idle connections are the parent's sockets: they are set aside, not closed (a close
        would log the parent's session out, a collected pyodbc connection disconnects itself) and
        never handed out. Those borrowed at the fork are not counted here and are set aside too
        when they come back. Runs with no lock held: the old one may belong to a thread that does
        not exist in the child, and the child has one thread when the at-fork hook calls this.
        """
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)
        self._inherited.extend(self._idle)
        self._idle = []
        self._borrowed = 0
        self._waiting = 0
        self._generation += 1
        self._first_generation = self._generation
        self._pid = os.getpid()

    def _pop_idle(self) -> PooledConnection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _usable(self, conn: PooledConnection) -> bool:
        now = self._clock()
        if now - conn.created > conn.lifetime:
            return False
        if self._check is not None and now - conn.last_used > self._max_idle:
            try:
                self._check(conn.raw)
            except Exception:
                return False
        return True


_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork, and the pid check covers the rest
    os.register_at_fork(after_in_child=_after_fork_in_child)


def ping(raw: Any) -> None:
    """The cheapest round trip there is; raises when the session is gone, or after PING_TIMEOUT seconds
    (a black-holed peer must not hold a borrower for as long as the query limit, or forever when it is 0)."""
    with limited(raw, PING_TIMEOUT):
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT 1;").fetchall()
        finally:
            quietly(cursor.close)


@contextmanager
def limited(raw: Any, seconds: int) -> Iterator[None]:
    """``raw``'s time limit is ``seconds`` inside the block, then what it was.

    pyodbc's ``Connection.timeout`` is two limits: the query limit each new cursor gets, and the
    connection's own (``SQL_ATTR_CONNECTION_TIMEOUT``). Microsoft's ODBC Driver 18 waits up to twice
    the connection's limit for the server to acknowledge the cancel it sends when a query limit
    passes (measured: a 1 s query limit on a connection whose limit is 30 s returned after 61 s when
    nothing answered, and never with 0 = none); FreeTDS waits one query limit more. So a call with a
    limit of its own (and the liveness check) holds the connection's limit at it while it runs.
    Setting it is local to the driver: nothing is sent. Restoring it on a session that broke is
    skipped quietly: that connection is discarded anyway.
    """
    previous = raw.timeout
    if previous == seconds:
        yield
        return
    raw.timeout = seconds
    try:
        yield
    finally:
        quietly(lambda: setattr(raw, "timeout", previous))


def quietly(action: Callable[[], Any]) -> bool:
    """Run ``action`` (a close, a rollback); False when it raised, e.g. because the session is gone."""
    try:
        action()
        return True
    except Exception:  # already gone
        return False
