"""The client's plumbing, under every API class: pool, transactions, time limits, the call, retries and errors.

:class:`Executor` knows nothing of songs or jobs. It runs one procedure call, ``EXEC schema.Name
@Param = ?, ...`` (:mod:`songsdb.statements`, the only SQL the client writes), in three steps:
:func:`execute_once` sends it on one connection and reads every result set; :meth:`Executor._call_on`
is the retry loop (a pooled connection per attempt, or the transaction's); :meth:`Executor._classify`
decides what a failed attempt means (retry, or which songsdb error). The API classes
(:mod:`songsdb.api_web`, :mod:`songsdb.api_worker`, :mod:`songsdb.api_ops`) are one call of
:meth:`~Executor._one`, :meth:`~Executor._many` or :meth:`~Executor._sets` per method.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from songsdb import statements, telemetry
from songsdb.config import Settings, load_settings, redact
from songsdb.errors import (
    DatabaseError,
    DatabaseUnavailable,
    NotConnected,
    OutcomeUnknown,
    QueryTimeout,
    SongsDbError,
    TransactionRolledBack,
    ValidationError,
    WriteTimeout,
    map_database_error,
    native_error_number,
    server_message,
    sqlstate,
)
from songsdb.models import from_row, from_rows
from songsdb.pool import ConnectionPool, PooledConnection, PoolStats, limited, ping, quietly
from songsdb.retry import RetryPolicy, is_connection_lost, is_timeout
from songsdb.statements import statement

if TYPE_CHECKING:  # pragma: no cover
    from songsdb.telemetry import Observer

__all__ = ["Executor", "ResultSet", "execute_once"]

log = logging.getLogger("songsdb")
T = TypeVar("T")
E = TypeVar("E", bound="Executor")
ResultSet = tuple[tuple[str, ...], Sequence[Sequence[Any]]]  # column names, rows (pyodbc rows index like tuples)
_first = itemgetter(0)  # a column's name in a cursor description


class Executor:
    """A pool of connections as one role's login, and the one way a call reaches the server.

    Safe to share between threads; use as a context manager or call close(). The clients
    (:class:`~songsdb.SongsDatabase`, :class:`~songsdb.WebClient`, :class:`~songsdb.WorkerClient`,
    :class:`~songsdb.OpsClient`) are this plus their methods.
    """

    _bound: _Transaction | None = None  # set inside a transaction block: the connection every call runs on
    _timeout: int | None = None  # set by with_timeout(): this view's time limit per call, else the settings'
    _observer: Observer | None = None  # songsdb.telemetry: set when opentelemetry is installed; one check per call

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
        """``settings``, or ``SONGSDB_*`` settings for ``role``; ``overrides`` replace single settings
        (``query_timeout=5``), and a name that is no setting is a TypeError, never silently dropped.

        ``connect(settings)`` makes the driver connection instead of ``pyodbc.connect`` (an Entra ID
        access token per connection through ``attrs_before``, say); ``configure(connection)`` runs on
        every new connection before its first call (session options). Both run once per connection.
        """
        unknown = sorted(set(overrides) - {f.name for f in fields(Settings)})
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unknown setting(s) {', '.join(unknown)}; settings are: "
                            f"{', '.join(f.name for f in fields(Settings))}")
        self.role = role
        if settings is None:
            settings = load_settings(role=role, **overrides)
        elif overrides:
            settings = replace(settings, **overrides)
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._make = connect
        self._configure = configure
        self._odbc = self.settings.odbc()
        self._pool = ConnectionPool(
            self._connect,
            max_size=pool_size,
            timeout=pool_timeout,
            max_idle=max_idle,
            max_lifetime=max_lifetime,
            check=ping,
        )
        # only to refuse a call on the client inside its own transaction block (see transaction())
        self._pinned: ContextVar[_Transaction | None] = ContextVar(f"songsdb_tx_{id(self)}", default=None)
        # how calls are written for this driver (songsdb.statements), learnt at the first connect; one
        # holder shared with every view (with_timeout, transactions), so a view made earlier learns it too
        self._driver = _Driver()
        self._observer = telemetry.observer_for(self)

    def __repr__(self) -> str:
        if self._bound is not None:
            return f"{type(self).__name__}({redact(self._odbc)!r}, open={self._bound.open})"
        return f"{type(self).__name__}({redact(self._odbc)!r})"

    def with_timeout(self: E, seconds: int) -> E:
        """This client with its own time limit per call (0 = none), sharing its pool, as SQLAlchemy's
        ``execution_options(timeout=...)`` does: ``db.with_timeout(600).import_songs(rows)``.

        A call past it raises QueryTimeout (WriteTimeout for a write) and its connection is discarded.
        Inside a transaction, ``tx.with_timeout(...)`` runs on the transaction's connection.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValidationError(f"seconds must be a whole number from 0 (no limit) up (got {seconds!r})", parameter="seconds")
        view = copy.copy(self)
        view._timeout = seconds
        return view

    # ----- lifecycle ---------------------------------------------------------------------------
    def __enter__(self: E) -> E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pool_stats(self) -> PoolStats:
        """The connection pool's counts now: connections by state, waits and what they cost (psycopg_pool's get_stats())."""
        return self._pool.stats()

    def close(self) -> None:
        """Close every pooled connection; later calls open new ones."""
        if self._bound is not None:
            raise SongsDbError("a transaction is closed by its with-block, not by close()")
        self._pool.close()

    def _connect(self) -> Any:
        import pyodbc

        if self._make is not None:
            conn = self._make(self.settings)
        else:
            conn = pyodbc.connect(self._odbc, autocommit=True, timeout=self.settings.login_timeout)
        try:
            conn.autocommit = True  # what the hook made, too: the client's calls autocommit
            # part of connecting: bounded by the login's limit, not by a (possibly short) query limit
            conn.timeout = self.settings.login_timeout
            conn.cursor().execute(statements.SESSION_SETUP).close()
            if self._configure is not None:
                self._configure(conn)
            conn.timeout = self.settings.query_timeout  # every later cursor of it: 0 = no limit
            driver = str(conn.getinfo(pyodbc.SQL_DRIVER_NAME)).lower()
        except BaseException:
            conn.close()
            raise
        self._driver.style = "call" if "tdsodbc" in driver else "exec"
        return conn

    @contextmanager
    def transaction(self: E) -> Iterator[E]:
        """One transaction on one connection: ``with db.transaction() as tx: tx.create_song(...)``.

        The block gets this client bound to the transaction (``SongsDatabase`` gives a
        :class:`~songsdb.database.Transaction`), with every method of this client; calls made on it run on the transaction's connection, whatever thread or context makes them (one at a
        time: it serialises them), and the procedures join the transaction. It commits when the
        block ends normally and rolls back when it raises. Any server error inside rolls the whole
        transaction back (the procedures run with ``XACT_ABORT ON``): the error is raised, every
        later call on ``tx`` raises :class:`TransactionRolledBack`, and so does leaving the block
        normally, so nothing of it is ever half-committed. A call made on this client itself
        inside the block, in a context that can see the block, raises instead of silently running
        outside the transaction. Calls are not retried inside a transaction; transactions do not
        nest. The connection is released on every path, also when the block ends in another
        context than it began (a framework's dependency), and discarded when a call in it timed
        out, was interrupted or lost its connection.
        """
        current = self._bound or self._pinned.get()
        if current is not None and current.open:
            raise SongsDbError("transactions do not nest; finish the current one first")
        conn = self._begin()
        tx = _Transaction(conn)
        token = self._pinned.set(tx)
        failed = False
        try:
            try:
                yield self._bind(tx)
            except BaseException:
                with tx.lock:  # a call still running on another thread finishes first, and no new one starts
                    tx.open = False
                    failed = not quietly(conn.raw.rollback)
                raise
            with tx.lock:
                tx.open = False
                if tx.failure is not None:
                    failed = not quietly(conn.raw.rollback)
                    raise TransactionRolledBack(f"not committed: {tx.failure} rolled the whole transaction back")
                try:
                    conn.raw.commit()
                except Exception as exc:
                    failed = True
                    quietly(conn.raw.rollback)
                    raise _commit_error(exc) from exc
        finally:
            tx.open = False
            try:
                self._pinned.reset(token)
            except ValueError:  # ended in another context than it began: nothing there to restore
                pass
            broken = failed or tx.broken
            if not broken:
                broken = not quietly(lambda: setattr(conn.raw, "autocommit", True))
            self._pool.release(conn, broken=broken)

    def _begin(self) -> PooledConnection:
        """A pooled connection with autocommit off. With FreeTDS that sends a request, so a pooled
        connection that died unnoticed fails here: nothing of the caller's was sent, so it is
        discarded and another is tried, as a failed connect is (never a raw driver error)."""
        attempt = 0
        while True:
            attempt += 1
            conn = self._acquire(write=True)
            try:
                conn.raw.autocommit = False
                return conn
            except Exception as exc:
                self._pool.release(conn, broken=True)
                if _is_driver_error(exc) and self.retry.should_retry(exc, attempt, write=True, connecting=True):
                    self._wait(attempt, exc, "BEGIN")
                    continue
                if _is_driver_error(exc):
                    raise self._unreachable(exc) from exc
                raise

    def _bind(self: E, state: _Transaction) -> E:
        """This client inside one transaction block: a copy whose calls all run on ``state``'s connection."""
        bound = copy.copy(self)
        bound._bound = state
        return bound

    # ----- the one way in ------------------------------------------------------------------------
    def _acquire(self, write: bool) -> PooledConnection:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._pool.acquire()
            except SongsDbError:
                raise
            except Exception as exc:
                if not _is_driver_error(exc):
                    raise  # a bug in a connect= or configure= hook is not an outage: shown as it is
                if not self.retry.should_retry(exc, attempt, write=write, connecting=True):
                    raise self._unreachable(exc) from exc
                self._wait(attempt, exc, "connect")

    def _unreachable(self, error: BaseException) -> SongsDbError:
        """A connection failure as one line a newcomer can act on: where, what, and what to do.

        Always a songsdb error (never the driver's): nothing was sent, so it is a :class:`NotConnected`
        unless the driver's error says more (a refused login, a missing database, no driver at all).
        """
        mapped = map_database_error(error)
        if isinstance(mapped, SongsDbError) and type(mapped) is not DatabaseUnavailable:
            return mapped
        host, port, database = self.settings.endpoint()
        text = server_message(error)
        # HYT00 while connecting: a host that accepts the connection and never answers the login
        reason = "nothing answered (connection refused or timed out)" if is_timeout(error) or "unavailable" in text.lower() else text
        todo = (
            "start one with `songsdb up`, or point SONGSDB_SERVER / SONGSDB_PORT (or SONGSDB_CONNECTION_STRING) at yours"
            if _is_local(host)
            else "check that it runs and that this host may reach it (SONGSDB_SERVER / SONGSDB_PORT, or SONGSDB_CONNECTION_STRING)"
        )
        return NotConnected(
            f"cannot reach SQL Server at {host}:{port} (database {database}): {reason} — {todo}",
            number=native_error_number(error),
            sqlstate=sqlstate(error),
        )

    def _wait(self, attempt: int, exc: BaseException, procedure: str) -> None:
        pause = self.retry.delay(attempt)
        log.debug("%s failed (%s); retry %d in %.2f s", procedure, type(exc).__name__, attempt, pause)
        time.sleep(pause)

    def _call(self, procedure: str, write: bool, params: Mapping[str, Any]) -> list[ResultSet]:
        """Run one procedure call and return every result set as (column names, rows).

        ``params`` come in the procedure's parameter order (the contract test checks it). Each
        pooled connection keeps one prepared cursor per call text, so a call is one request.
        With opentelemetry (:mod:`songsdb.telemetry`) the call is one span, retries included.
        """
        observer = self._observer
        if observer is not None:
            return observer.call(procedure, params, lambda: self._call_untraced(procedure, write, params))
        return self._call_untraced(procedure, write, params)

    def _call_untraced(self, procedure: str, write: bool, params: Mapping[str, Any]) -> list[ResultSet]:
        sql, values = statement(procedure, params, self._driver.style)
        tx = self._bound
        if tx is not None:
            with tx.lock:
                return self._call_on(procedure, write, sql, values, tx)
        ambient = self._pinned.get()
        if ambient is not None and ambient.open:
            raise SongsDbError(
                f"{procedure} was called on the client inside `with db.transaction() as tx:`, where it would run "
                "outside the transaction: call it on tx (tx.method(...)) to join it, or after the block"
            )
        return self._call_on(procedure, write, sql, values, None)

    def _call_on(self, procedure: str, write: bool, sql: str, values: Any, tx: _Transaction | None) -> list[ResultSet]:
        """One call, on the transaction's connection (``tx``) or a pooled one, retried where that is safe."""
        pinned = tx.connection_for(procedure) if tx is not None else None
        attempt = 0
        while True:
            attempt += 1
            conn = pinned if pinned is not None else self._acquire(write)
            broken = False
            started = time.monotonic()
            try:
                return execute_once(conn, sql, values, self._timeout)
            except BaseException as exc:
                conn.forget_statements()
                verdict = self._classify(exc, conn, procedure, write, attempt, in_transaction=pinned is not None)
                if verdict.error is None and not write:
                    verdict = self._past_limit(exc, procedure, time.monotonic() - started) or verdict
                broken = verdict.broken
                if verdict.error is not None:
                    if tx is not None:
                        tx.fail(procedure, verdict.error, broken=broken)
                    if verdict.error is exc:
                        raise
                    raise verdict.error from exc
                failure: BaseException = exc
            finally:
                if pinned is None:
                    self._pool.release(conn, broken=broken)
            if verdict.wait:
                self._wait(attempt, failure, procedure)

    def _limit(self) -> int:
        """This client's time limit for a call, in seconds: its own (``with_timeout``), else the settings'."""
        return self.settings.query_timeout if self._timeout is None else self._timeout

    def _past_limit(self, exc: BaseException, procedure: str, elapsed: float) -> _Verdict | None:
        """A read whose attempt ran its whole time limit is not tried again: its caller's deadline has
        passed. FreeTDS, when the server does not acknowledge the cancel of a timed-out call, reports a
        lost connection (08S01) rather than a timeout; the read would otherwise be sent again on a new
        connection and answered long after the limit the caller set."""
        limit = self._limit()
        if not limit or elapsed < limit or not is_connection_lost(exc):
            return None
        return _Verdict(QueryTimeout(
            f"{procedure} ran {elapsed:.1f} s, past its limit of {limit} s (SONGSDB_QUERY_TIMEOUT), and its connection "
            f"failed ({server_message(exc)}); its connection was discarded and the call was not retried",
            procedure=procedure, sqlstate=sqlstate(exc),
        ), broken=True)

    def _classify(
        self, exc: BaseException, conn: PooledConnection, procedure: str, write: bool, attempt: int, *, in_transaction: bool
    ) -> _Verdict:
        """What a failed attempt means: try again (after a pause, or at once), or raise which error.

        Only called on the failure path; ``conn`` is the connection the attempt ran on.
        """
        if type(exc).__module__ != "pyodbc":
            if isinstance(exc, (OverflowError, TypeError, ValueError)) and not isinstance(exc, SongsDbError):
                # the driver could not bind an argument (an int past bigint, say): nothing was sent
                return _Verdict(ValidationError(f"{procedure}: an argument could not be sent ({exc})", procedure=procedure), broken=False)
            return _Verdict(exc, broken=True)  # interrupted mid-call: the session may hold unread results
        broken = is_connection_lost(exc) or is_timeout(exc)
        if self.retry.should_retry(exc, attempt, write=write, in_transaction=in_transaction):
            return _Verdict(None, broken, wait=True)
        limit = self._limit()
        mapped = _songsdb_error(exc, procedure, write=write, timeout=limit)
        if type(mapped) is DatabaseError and not broken and not _alive(conn):
            # an error the driver could not name, on a session that is gone (a server restart
            # shows up so with FreeTDS: "Unknown error"): a read goes again on a fresh
            # connection; a write is not repeated, since it may have committed
            if not write and not in_transaction and attempt < self.retry.attempts:
                return _Verdict(None, broken=True)
            lost = f"{procedure}: the connection was lost during the call ({server_message(exc)})"
            if write:
                return _Verdict(OutcomeUnknown(
                    f"{lost}; it was not retried: the write may or may not have been committed (read it back)",
                    procedure=procedure, sqlstate=sqlstate(exc),
                ), broken=True)
            return _Verdict(DatabaseUnavailable(f"{lost}; it was not retried", procedure=procedure, sqlstate=sqlstate(exc)), broken=True)
        if write and broken and isinstance(mapped, DatabaseUnavailable) and not isinstance(mapped, OutcomeUnknown):
            mapped = OutcomeUnknown(
                f"{mapped}; the write was sent and no answer came: it may or may not have been committed (read it back)",
                number=mapped.number, procedure=procedure, sqlstate=mapped.sqlstate,
            )
        return _Verdict(mapped, broken)

    # The typed primitives every method is one call of. Each takes the procedure's arguments as
    # keywords, in the procedure's order; the contract test reads them from the source.
    def _many(self, model: type[T], procedure: str, write: bool, **params: Any) -> list[T]:
        sets = self._call(procedure, write, params)
        if not sets:
            return []
        names, rows = sets[-1]
        return from_rows(model, names, rows)

    def _one(self, model: type[T], procedure: str, write: bool, **params: Any) -> T | None:
        sets = self._call(procedure, write, params)
        if not sets:
            return None
        names, rows = sets[-1]
        return from_row(model, names, rows[0]) if rows else None

    def _sets(self, models: Sequence[type], procedure: str, write: bool, **params: Any) -> list[list[Any]]:
        sets = self._call(procedure, write, params)
        if len(sets) != len(models):
            raise SongsDbError(f"{procedure} returned {len(sets)} result sets, expected {len(models)}")
        return [from_rows(model, names, rows) for model, (names, rows) in zip(models, sets)]

    @staticmethod
    def _created(row: T | None, procedure: str) -> T:
        """The row a procedure always returns (a mutation's result): its absence is a server fault."""
        if row is None:
            raise SongsDbError(f"{procedure} returned no row")
        return row


class _Verdict(NamedTuple):
    """What :meth:`Executor._classify` decided: raise ``error``, or (``error`` None) try again."""

    error: BaseException | None
    broken: bool  # the connection is unusable: discard it, never pool it again
    wait: bool = False  # pause (back-off) before the next attempt


def execute_once(conn: PooledConnection, sql: str, values: Any, timeout: int | None) -> list[ResultSet]:
    """Send one call on ``conn`` and return every result set as (column names, rows); no retry, no mapping.

    A call with a limit of its own (``timeout`` not None) runs on a cursor made under that limit
    (:meth:`~songsdb.pool.PooledConnection.cursor_for`), kept like any other: still one request; the
    connection's own limit is held at it while the call runs (:func:`~songsdb.pool.limited`), since
    Microsoft's ODBC Driver 18 waits up to twice that for a cancel to be acknowledged.
    """
    cursor = conn.cursor_for(sql, timeout)
    if timeout is None:
        return _results(cursor, sql, values)
    with limited(conn.raw, timeout):  # what the driver waits for after the limit passes is bounded by it too
        return _results(cursor, sql, values)


def _results(cursor: Any, sql: str, values: Any) -> list[ResultSet]:
    cursor.execute(sql, values)
    sets: list[ResultSet] = []
    while True:
        description = cursor.description
        if description is not None:
            # pyodbc rows index like tuples and hold no cursor: kept as they come
            sets.append((tuple(map(_first, description)), cursor.fetchall()))
        if not cursor.nextset():
            return sets


class _Driver:
    __slots__ = ("style",)

    def __init__(self) -> None:
        self.style = "exec"


class _Transaction:
    """The connection of one ``transaction()`` block, the lock its calls take, and its first failure."""

    def __init__(self, conn: PooledConnection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.open = True
        self.failure: str | None = None
        self.broken = False

    def connection_for(self, procedure: str) -> PooledConnection:
        """The pinned connection, or an error saying why this call may not use it."""
        if not self.open:
            raise SongsDbError(f"{procedure} not run: its transaction's with-block has ended")
        if self.failure is not None:
            raise TransactionRolledBack(
                f"{procedure} not run: {self.failure} rolled the whole transaction back; leave the with-block"
            )
        return self.conn

    def fail(self, procedure: str, error: BaseException, broken: bool = False) -> None:
        """Remember the first failure (the server has rolled the transaction back), and whether the
        connection is unusable (timed out, interrupted, lost): then it is discarded, never pooled."""
        if self.failure is None:
            self.failure = f"the error in {procedure} ({type(error).__name__})"
        self.broken = self.broken or broken


def _is_driver_error(error: BaseException) -> bool:
    return type(error).__module__ == "pyodbc"


def _commit_error(error: BaseException) -> BaseException:
    """A failed COMMIT. The server's answer (3902: nothing to commit, say) means nothing was committed;
    a lost connection or a timeout leaves the outcome unknown: the server may have committed."""
    mapped = _songsdb_error(error, "COMMIT", write=True)
    if isinstance(mapped, OutcomeUnknown) or not (is_connection_lost(error) or isinstance(mapped, DatabaseUnavailable)):
        return mapped
    return OutcomeUnknown(
        f"COMMIT: the connection failed while committing ({server_message(error)}): the transaction may or may "
        "not have been committed (read it back)",
        procedure="COMMIT", sqlstate=sqlstate(error),
    )


def _songsdb_error(error: BaseException, where: str, *, write: bool, timeout: int | None = None) -> BaseException:
    """The songsdb exception for a driver error: the catalogue's, else DatabaseError with the server's number.

    A write that timed out is a :class:`WriteTimeout`, which is also an :class:`OutcomeUnknown`.
    """
    if is_timeout(error):
        limit = f"{timeout} s" if timeout else "the driver's limit"
        data: dict[str, Any] = {"procedure": where, "sqlstate": sqlstate(error)}
        if write:
            return WriteTimeout(
                f"{where} ran longer than {limit} (SONGSDB_QUERY_TIMEOUT) and was cancelled; its connection was "
                "discarded and the call was not retried: the write may or may not have been committed (read it back)",
                **data,
            )
        return QueryTimeout(
            f"{where} ran longer than {limit} (SONGSDB_QUERY_TIMEOUT) and was cancelled; its connection was "
            "discarded and the call was not retried",
            **data,
        )
    mapped = map_database_error(error, where)
    if mapped is not error:
        return mapped
    number = native_error_number(error)
    suffix = f" (error {number})" if number is not None else ""
    return DatabaseError(f"{where}: {server_message(error)}{suffix}", number=number, procedure=where, sqlstate=sqlstate(error))


def _is_local(host: str) -> bool:
    """Whether the settings point at this machine, where `songsdb up` would help (a development hint)."""
    name = host.strip().lower().split("\\", 1)[0]  # localhost\SQLEXPRESS
    if name in ("localhost", ".", "(local)", "(localdb)"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback  # 127.x, ::1
    except ValueError:
        return False


def _alive(conn: PooledConnection) -> bool:
    """Whether the session still answers (one cheap round trip, only after an unexplained error)."""
    try:
        ping(conn.raw)
        return True
    except Exception:
        return False
