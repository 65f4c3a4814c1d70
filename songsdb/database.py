"""SongsDatabase: the thin, typed, thread-safe client. Every method is one stored-procedure call.

The only SQL text the client builds is a call, ``EXEC api.Procedure @Param = ?, ...`` or its ODBC
call escape (:mod:`songsdb.statements`); all logic, validation and auditing live in ``sql/procs``.
Rows come back as the frozen dataclasses of :mod:`songsdb.models`; server errors as
:mod:`songsdb.errors`.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from operator import itemgetter
from dataclasses import fields, replace
from typing import Any, Literal, TypeVar

from songsdb.bulk import MAX_CHUNK, BadRecord, ImportSummary, Tally, chunks, encode_chunk
from songsdb.config import Settings, load_settings, redact
from songsdb.context import current_request_id
from songsdb.errors import (
    DatabaseError,
    DatabaseUnavailable,
    DuplicateSong,
    ImportInterrupted,
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
from songsdb.models import (
    AuditEntry,
    ChromaAnalysis,
    CleanupCount,
    CleanupReport,
    DeletedSong,
    ImportOutcome,
    Job,
    JobStatus,
    JobSummary,
    JobType,
    SeparatedTrack,
    SongStatus,
    ServerInfo,
    Song,
    SongResults,
    Transcription,
    from_row,
    from_rows,
)
from songsdb.params import Id, _json_param, _uuid_param
from songsdb.pool import ConnectionPool, PooledConnection, ping, quietly
from songsdb.queue import QueueMethods, track_rows
from songsdb.retry import RetryPolicy, is_connection_lost, is_timeout
from songsdb import statements
from songsdb.statements import statement

__all__ = ["SongsDatabase"]

log = logging.getLogger("songsdb")
CLEANUP_MARGIN = 120  # seconds a cleanup call may run past its time limit: the batch under way, the audit rows
IMPORT_CHUNK_TIMEOUT = 300  # seconds an import chunk may take, at least
T = TypeVar("T")
ResultSet = tuple[tuple[str, ...], Sequence[Sequence[Any]]]  # column names, rows (pyodbc rows index like tuples)
_first = itemgetter(0)  # a column's name in a cursor description


class SongsDatabase(QueueMethods):
    """The songsdb client. Safe to share between threads; use as a context manager or call close().

    >>> with SongsDatabase() as db:                                  # doctest: +SKIP
    ...     song_id = db.create_song("file-1", "a.mp3", title="Intro")
    ...     job_id = db.create_job(song_id, "demucs", "separation")
    """

    _bound: _Transaction | None = None  # set on a Transaction: the connection every call runs on
    _timeout: int | None = None  # set by with_timeout(): this view's time limit per call, else the settings'

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
            raise TypeError(f"SongsDatabase() got unknown setting(s) {', '.join(unknown)}; settings are: "
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
        self._style = "exec"  # how calls are written for this driver; see songsdb.statements

    def __repr__(self) -> str:
        return f"SongsDatabase({redact(self._odbc)!r})"

    def with_timeout(self, seconds: int) -> SongsDatabase:
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
    def __enter__(self) -> SongsDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection; later calls open new ones."""
        self._pool.close()

    def _connect(self) -> Any:
        import pyodbc

        if self._make is not None:
            conn = self._make(self.settings)
            conn.autocommit = True
        else:
            conn = pyodbc.connect(self._odbc, autocommit=True, timeout=self.settings.login_timeout)
        try:
            # part of connecting: bounded by the login's limit, not by a (possibly short) query limit
            conn.timeout = self.settings.login_timeout
            conn.cursor().execute(statements.SESSION_SETUP).close()
            if self._configure is not None:
                self._configure(conn)
            conn.timeout = self.settings.query_timeout  # every later cursor of it: 0 = no limit
        except BaseException:
            conn.close()
            raise
        driver = str(conn.getinfo(pyodbc.SQL_DRIVER_NAME)).lower()
        self._style = "call" if "tdsodbc" in driver else "exec"
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction on one connection: ``with db.transaction() as tx: tx.create_song(...)``.

        The block gets a :class:`Transaction`, which has every method of this client; calls made on
        it run on the transaction's connection, whatever thread or context makes them (one at a
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
        current = self._pinned.get()
        if current is not None and current.open:
            raise SongsDbError("transactions do not nest; finish the current one first")
        conn = self._acquire(write=True)
        tx = _Transaction(conn)
        token = self._pinned.set(tx)
        failed = False
        try:
            conn.raw.autocommit = False
            try:
                yield Transaction(self, tx)
            except BaseException:
                failed = not quietly(conn.raw.rollback)
                raise
            if tx.failure is not None:
                failed = not quietly(conn.raw.rollback)
                raise TransactionRolledBack(f"not committed: {tx.failure} rolled the whole transaction back")
            try:
                conn.raw.commit()
            except Exception as exc:
                failed = True
                quietly(conn.raw.rollback)
                raise _songsdb_error(exc, "COMMIT", write=True) from exc
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
        """
        sql, values = statement(procedure, params, self._style)
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
        timeout = self._timeout
        attempt = 0
        while True:
            attempt += 1
            current = pinned if pinned is not None else self._acquire(write)
            conn: PooledConnection | None = current
            broken = False
            own_cursor = None
            try:
                # pyodbc applies a connection's timeout when it makes a cursor, and cursors are kept per
                # text: a call with a limit of its own gets a cursor of its own, closed after it
                cursor = current.cursor_for(sql) if timeout is None else (own_cursor := _timed_cursor(current.raw, timeout))
                cursor.execute(sql, values)
                sets: list[ResultSet] = []
                while True:
                    description = cursor.description
                    if description is not None:
                        # pyodbc rows index like tuples and hold no cursor: kept as they come
                        sets.append((tuple(map(_first, description)), cursor.fetchall()))
                    if not cursor.nextset():
                        return sets
            except BaseException as exc:
                current.forget_statements()
                if type(exc).__module__ != "pyodbc":
                    broken = True  # interrupted mid-call: the session may hold unread results
                    if tx is not None:
                        tx.fail(procedure, exc, broken=True)
                    raise
                broken = is_connection_lost(exc) or is_timeout(exc)
                if self.retry.should_retry(exc, attempt, write=write, in_transaction=pinned is not None):
                    self._release(conn, pinned, broken)
                    conn = None
                    self._wait(attempt, exc, procedure)
                    continue
                limit = self.settings.query_timeout if timeout is None else timeout
                mapped = _songsdb_error(exc, procedure, write=write, timeout=limit)
                if type(mapped) is DatabaseError and not broken and not _alive(current):
                    # an error the driver could not name, on a session that is gone (a server restart
                    # shows up so with FreeTDS: "Unknown error"): a read goes again on a fresh
                    # connection; a write is not repeated, since it may have committed
                    broken = True
                    if not write and pinned is None and attempt < self.retry.attempts:
                        self._release(conn, pinned, broken)
                        conn = None
                        continue
                    lost = f"{procedure}: the connection was lost during the call ({server_message(exc)})"
                    mapped = (
                        OutcomeUnknown(
                            f"{lost}; it was not retried: the write may or may not have been committed (read it back)",
                            procedure=procedure, sqlstate=sqlstate(exc),
                        )
                        if write
                        else DatabaseUnavailable(f"{lost}; it was not retried", procedure=procedure, sqlstate=sqlstate(exc))
                    )
                elif write and broken and isinstance(mapped, DatabaseUnavailable) and not isinstance(mapped, OutcomeUnknown):
                    mapped = OutcomeUnknown(
                        f"{mapped}; the write was sent and no answer came: it may or may not have been committed (read it back)",
                        number=mapped.number, procedure=procedure, sqlstate=mapped.sqlstate,
                    )
                if tx is not None:
                    tx.fail(procedure, mapped, broken=broken)
                raise mapped from exc
            finally:
                if own_cursor is not None:
                    quietly(own_cursor.close)
                if conn is not None and pinned is None:
                    self._pool.release(conn, broken)

    def _release(self, conn: Any, pinned: Any, broken: bool) -> None:
        if pinned is None:
            self._pool.release(conn, broken=broken)

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

    # ----- songs -------------------------------------------------------------------------------
    def create_song(
        self,
        file_id: str,
        filename: str,
        *,
        title: str | None = None,
        artist: str | None = None,
        album: str | None = None,
        file_size: int | None = None,
        duration: float | None = None,
        file_extension: str | None = None,
        original_filename: str | None = None,
        metadata: Mapping[str, Any] | str | None = None,
        request_id: str | None = None,
    ) -> uuid.UUID:
        """Register an uploaded file; returns the new song's id. Raises DuplicateSong for a known file_id."""
        song = self._one(
            Song,
            "api.CreateSong",
            True,
            FileId=file_id,
            FileName=filename,
            Title=title,
            Artist=artist,
            Album=album,
            FileSize=file_size,
            Duration=duration,
            FileExtension=file_extension,
            OriginalFileName=original_filename,
            Metadata=_json_param("metadata", metadata),
            RequestId=current_request_id(request_id),
        )
        return self._created(song, "api.CreateSong").id

    def import_songs(
        self,
        rows: Iterable[Mapping[str, Any] | BadRecord],
        *,
        chunk_size: int = 1000,
        on_duplicate: Literal["skip", "update"] = "skip",
        on_progress: Callable[[ImportSummary], None] | None = None,
        request_id: str | None = None,
    ) -> ImportSummary:
        """Register many songs: one call and one transaction per ``chunk_size`` rows (README, "Bulk import").

        Each row is a mapping of :meth:`create_song`'s parameters. A row that breaks a rule is
        reported in the summary's ``failed`` with its index and parameter, and the rest are written;
        a row whose ``file_id`` is stored already is skipped, or with ``on_duplicate="update"``
        has the values it gives written over the stored ones. Every song created or updated gets its
        audit row in its chunk's transaction. ``on_progress`` is called with the totals after each
        chunk. When a chunk fails as a whole (the server is gone, say), ImportInterrupted says
        what the committed chunks did; nothing of the failed chunk is written.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK:
            raise ValidationError(f"chunk_size must be a whole number from 1 to {MAX_CHUNK} (got {chunk_size!r})")
        request = current_request_id(request_id)
        tally = Tally()
        # a chunk of thousands of rows may take longer than an ordinary call's limit on a busy server
        limit = self.settings.query_timeout
        chunk_runner = self if self._timeout is not None or limit == 0 else self.with_timeout(max(limit, IMPORT_CHUNK_TIMEOUT))
        for chunk in chunks(rows, chunk_size):
            text, sent, refused = encode_chunk(chunk)
            tally.failed.extend(refused)
            for attempt in (1, 2):
                if not sent:
                    break
                try:
                    outcomes = chunk_runner._many(
                        ImportOutcome, "api.ImportSongs", True, Songs=text, OnDuplicate=on_duplicate, RequestId=request
                    )
                except DuplicateSong as exc:
                    if attempt == 1:  # stored by a concurrent call meanwhile: nothing was written; once more
                        continue
                    raise ImportInterrupted(tally.summary(), chunk[0][0]) from exc
                except (ValidationError, TransactionRolledBack):
                    # the call's own arguments (on_duplicate, request_id) are wrong, or the caller's
                    # transaction is doomed: no chunk of this import committed on its own, so say that
                    raise
                except SongsDbError as exc:
                    raise ImportInterrupted(tally.summary(), chunk[0][0]) from exc
                tally.add(outcomes, sent)
                break
            if on_progress is not None:
                on_progress(tally.summary())
        return tally.summary()

    def get_song(self, file_id: str) -> Song | None:
        """The song with this backend file id, or None."""
        return self._one(Song, "api.GetSongByFileId", False, FileId=file_id)

    def get_song_by_id(self, song_id: Id) -> Song | None:
        """The song with this id, or None."""
        return self._one(Song, "api.GetSong", False, SongId=_uuid_param("song_id", song_id))

    def list_songs(
        self,
        *,
        status: SongStatus | None = None,
        artist: str | None = None,
        title_contains: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Song]:
        """A page of songs, newest upload first."""
        return self._many(
            Song,
            "api.ListSongs",
            False,
            Status=status,
            Artist=artist,
            TitleContains=title_contains,
            Offset=offset,
            Limit=limit,
        )

    def update_song(
        self,
        song_id: Id,
        *,
        title: str | None = None,
        artist: str | None = None,
        album: str | None = None,
        metadata: Mapping[str, Any] | str | None = None,
        status: SongStatus | None = None,
        request_id: str | None = None,
    ) -> Song:
        """Change the given fields (None leaves a field as it is); returns the updated song."""
        song = self._one(
            Song,
            "api.UpdateSong",
            True,
            SongId=_uuid_param("song_id", song_id),
            Title=title,
            Artist=artist,
            Album=album,
            Metadata=_json_param("metadata", metadata),
            Status=status,
            RequestId=current_request_id(request_id),
        )
        return self._created(song, "api.UpdateSong")

    def delete_song(self, song_id: Id, request_id: str | None = None) -> DeletedSong:
        """Delete a song with its jobs and results; returns what was deleted. Raises SongNotFound."""
        deleted = self._one(
            DeletedSong,
            "api.DeleteSong",
            True,
            SongId=_uuid_param("song_id", song_id),
            RequestId=current_request_id(request_id),
        )
        return self._created(deleted, "api.DeleteSong")

    # ----- jobs --------------------------------------------------------------------------------
    def create_job(
        self,
        song_id: Id,
        model_name: str,
        job_type: JobType,
        *,
        request_id: str | None = None,
        priority: int = 0,
        max_attempts: int = 3,
    ) -> uuid.UUID:
        """Queue a job (separation, transcription or chroma); returns the new job's id."""
        job = self._one(
            Job,
            "api.CreateJob",
            True,
            SongId=_uuid_param("song_id", song_id),
            ModelName=model_name,
            JobType=job_type,
            Priority=priority,
            MaxAttempts=max_attempts,
            RequestId=current_request_id(request_id),
        )
        return self._created(job, "api.CreateJob").id

    def get_job(self, job_id: Id) -> Job | None:
        """The job with this id, or None."""
        return self._one(Job, "api.GetJob", False, JobId=_uuid_param("job_id", job_id))

    def list_jobs(
        self, *, song_id: Id | None = None, status: JobStatus | None = None, offset: int = 0, limit: int = 100) -> list[Job]:
        """A page of jobs, newest first, by song and/or status."""
        return self._many(
            Job,
            "api.ListJobs",
            False,
            SongId=_uuid_param("song_id", song_id),
            Status=status,
            Offset=offset,
            Limit=limit,
        )

    def update_job_status(
        self,
        job_id: Id,
        status: JobStatus,
        *,
        progress: int | None = None,
        message: str | None = None,
        error_message: str | None = None,
        error_stack: str | None = None,
        result_metadata: Mapping[str, Any] | str | None = None,
        request_id: str | None = None,
        claim_token: Id | None = None,
        lease_seconds: int | None = None,
    ) -> Job:
        """Move a job the web service runs itself, or cancel any job (README, "Job states").

        ``"running"`` on a queued job takes it like a claim: the returned job carries a
        ``claim_token`` and a lease of ``lease_seconds`` (default 900) that each ``"running"``
        update renews. A job a worker holds raises JobHeld unless ``claim_token`` is its token,
        except for ``"cancelled"``. Raises InvalidStatusTransition naming the allowed moves.
        """
        job = self._one(
            Job,
            "api.UpdateJobStatus",
            True,
            JobId=_uuid_param("job_id", job_id),
            Status=status,
            Progress=progress,
            Message=message,
            ErrorMessage=error_message,
            ErrorStack=error_stack,
            ResultMetadata=_json_param("result_metadata", result_metadata),
            ClaimToken=_uuid_param("claim_token", claim_token),
            LeaseSeconds=lease_seconds,
            RequestId=current_request_id(request_id),
        )
        return self._created(job, "api.UpdateJobStatus")

    # ----- results -----------------------------------------------------------------------------
    def add_separated_tracks(
        self,
        job_id: Id,
        tracks: Sequence[Mapping[str, Any]],
        *,
        request_id: str | None = None,
        claim_token: Id,
    ) -> list[SeparatedTrack]:
        """Store stems of a separation job this worker holds (role ``worker``), several in one call.

        Each track is a mapping with stem_name and file_path, and optionally file_size, format,
        sample_rate and duration. Returns all the job's stems. A stale ``claim_token`` raises
        LeaseLost and writes nothing.
        """
        return self._many(
            SeparatedTrack,
            "worker.AddSeparatedTracks",
            True,
            JobId=_uuid_param("job_id", job_id),
            ClaimToken=_uuid_param("claim_token", claim_token),
            Tracks=_json_param("tracks", track_rows(tracks)),
            RequestId=current_request_id(request_id),
        )

    def add_transcription(
        self,
        job_id: Id,
        *,
        full_text: str | None = None,
        language: str | None = None,
        segments: Sequence[Any] | str | None = None,
        model_name: str | None = None,
        request_id: str | None = None,
        claim_token: Id,
    ) -> Transcription:
        """Store the transcription of a transcription job this worker holds (role ``worker``)."""
        row = self._one(
            Transcription,
            "worker.AddTranscription",
            True,
            JobId=_uuid_param("job_id", job_id),
            ClaimToken=_uuid_param("claim_token", claim_token),
            Language=language,
            FullText=full_text,
            Segments=_json_param("segments", segments),
            ModelName=model_name,
            RequestId=current_request_id(request_id),
        )
        return self._created(row, "worker.AddTranscription")

    def add_chroma_analysis(
        self,
        job_id: Id,
        *,
        key_name: str | None = None,
        mode: str | None = None,
        tempo: float | None = None,
        key_confidence: float | None = None,
        tempo_confidence: float | None = None,
        chroma_vector: Sequence[float] | str | None = None,
        request_id: str | None = None,
        claim_token: Id,
    ) -> ChromaAnalysis:
        """Store the key/tempo analysis of a chroma job this worker holds (role ``worker``);
        ``chroma_vector`` has 12 numbers, C to B."""
        row = self._one(
            ChromaAnalysis,
            "worker.AddChromaAnalysis",
            True,
            JobId=_uuid_param("job_id", job_id),
            ClaimToken=_uuid_param("claim_token", claim_token),
            KeyName=key_name,
            Mode=mode,
            Tempo=tempo,
            KeyConfidence=key_confidence,
            TempoConfidence=tempo_confidence,
            ChromaVector=_json_param("chroma_vector", chroma_vector),
            RequestId=current_request_id(request_id),
        )
        return self._created(row, "worker.AddChromaAnalysis")

    def get_song_results(self, song_id: Id) -> SongResults:
        """The stems, transcriptions and analyses of a song. Raises SongNotFound."""
        tracks, transcriptions, analyses = self._sets(
            (SeparatedTrack, Transcription, ChromaAnalysis),
            "api.GetSongResults",
            False,
            SongId=_uuid_param("song_id", song_id),
        )
        return SongResults(tuple(tracks), tuple(transcriptions), tuple(analyses))

    # ----- audit, reports, maintenance ------------------------------------------------------------
    def log_audit(
        self,
        entity_type: str,
        entity_id: str | uuid.UUID | None,
        action: str,
        *,
        request_id: str | None = None,
        user_id: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        details: Mapping[str, Any] | str | None = None,
    ) -> AuditEntry:
        """Write one audit row (for what the application did itself: views, downloads, ...)."""
        row = self._one(
            AuditEntry,
            "api.LogAudit",
            True,
            EntityType=entity_type,
            # a UUID is written as the procedures write ids (CONVERT(nvarchar(36), ...): upper case),
            # so one song's audit rows show one spelling of its id
            EntityId=str(entity_id).upper() if isinstance(entity_id, uuid.UUID) else entity_id,
            Action=action,
            RequestId=current_request_id(request_id),
            UserId=user_id,
            IpAddress=ip_address,
            UserAgent=user_agent,
            Details=_json_param("details", details),
        )
        return self._created(row, "api.LogAudit")

    def get_audit_trail(
        self,
        *,
        request_id: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Audit rows of one request, or of one entity (entity_type with entity_id), oldest first."""
        return self._many(
            AuditEntry,
            "api.GetAuditTrail",
            False,
            RequestId=request_id,
            EntityType=entity_type,
            EntityId=entity_id,
            Limit=limit,
        )

    def job_summary(
        self, *, status: JobStatus | None = None, song_id: Id | None = None, limit: int = 100) -> list[JobSummary]:
        """Rows of dbo.vw_JobSummary, newest first (role ``ops``)."""
        return self._many(
            JobSummary,
            "ops.GetJobSummary",
            False,
            Status=status,
            SongId=_uuid_param("song_id", song_id),
            Limit=limit,
        )

    def cleanup_old_data(
        self,
        days_to_keep: int,
        *,
        batch_size: int = 1000,
        request_id: str | None = None,
        audit_days_to_keep: int = 365,
        dry_run: bool = False,
        time_limit_seconds: int | None = None,
    ) -> CleanupReport:
        """Run dbo.sp_CleanupOldData (role ``ops``): rows deleted per table, and whether every step finished.

        ``days_to_keep`` (at least 7) applies to jobs, results and songs; ``audit_days_to_keep``
        (at least 90) to the audit trail. ``dry_run`` counts and deletes nothing;
        ``time_limit_seconds`` stops cleanly between batches. The call's own time limit fits that
        work, not ``query_timeout``: ``time_limit_seconds`` plus two minutes for the batch under way,
        or none without one (a view made by ``with_timeout`` keeps its own).
        """
        own = self._timeout is not None
        runner = self if own else self.with_timeout(0 if time_limit_seconds is None else time_limit_seconds + CLEANUP_MARGIN)
        counts = runner._many(
            CleanupCount,
            "ops.CleanupOldData",
            True,
            DaysToKeep=days_to_keep,
            AuditDaysToKeep=audit_days_to_keep,
            BatchSize=batch_size,
            DryRun=dry_run,
            TimeLimitSeconds=time_limit_seconds,
            RequestId=current_request_id(request_id),
        )
        return CleanupReport(
            {c.table_name: c.rows_deleted for c in counts}, all(c.finished for c in counts), dry_run
        )

    def server_info(self) -> ServerInfo:
        """The server's version, the database name and its schema version."""
        return self._created(self._one(ServerInfo, "api.GetServerInfo", False), "api.GetServerInfo")

    def server_version(self) -> str:
        """The server's ``@@VERSION``."""
        return self.server_info().server_version


class Transaction(SongsDatabase):
    """The client inside one ``with db.transaction() as tx:`` block: every method runs on its connection.

    It owns that connection (no context variable decides where a call goes), so it can be handed to
    other code, and used from another thread, as a framework's dependency does; its calls run one at
    a time. It cannot open, nest or close transactions itself: the block does.
    """

    def __init__(self, owner: SongsDatabase, state: _Transaction) -> None:
        self.__dict__.update(owner.__dict__)  # the owner's settings, pool and retry policy
        self._bound = state

    def __repr__(self) -> str:
        return f"Transaction({redact(self._odbc)!r}, open={self._bound is not None and self._bound.open})"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        raise SongsDbError("transactions do not nest; finish the current one first")
        yield self  # pragma: no cover (a generator, for contextmanager)

    def close(self) -> None:
        raise SongsDbError("a transaction is closed by its with-block, not by close()")


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


def _timed_cursor(raw: Any, seconds: int) -> Any:
    """A new cursor of ``raw`` whose statements are cancelled after ``seconds`` (0: never)."""
    previous = raw.timeout
    raw.timeout = seconds
    try:
        return raw.cursor()
    finally:
        raw.timeout = previous


def _alive(conn: PooledConnection) -> bool:
    """Whether the session still answers (one cheap round trip, only after an unexplained error)."""
    try:
        ping(conn.raw)
        return True
    except Exception:
        return False
