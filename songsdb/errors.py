"""songsdb's exceptions, and the catalogue of error numbers the procedures THROW.

Every procedure validates its parameters and THROWs a number from
``CATALOGUE``; :func:`map_database_error` turns a pyodbc error into the
matching class. ``tests/unit/test_error_catalogue.py`` checks that the numbers
thrown in ``sql/`` and the ones listed here are the same set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SongsDbError",
    "DatabaseError",
    "QueryTimeout",
    "ConfigurationError",
    "DriverNotFound",
    "DatabaseUnavailable",
    "NotConnected",
    "PoolTimeout",
    "OutcomeUnknown",
    "WriteTimeout",
    "LoginFailed",
    "DatabaseMissing",
    "Conflict",
    "ValidationError",
    "NotFound",
    "SongNotFound",
    "JobNotFound",
    "DuplicateSong",
    "InvalidStatusTransition",
    "ConcurrencyConflict",
    "LeaseLost",
    "JobHeld",
    "DuplicateJobKey",
    "TransactionNotAllowed",
    "TransactionRolledBack",
    "PermissionDenied",
    "ImportInterrupted",
    "MigrationError",
    "MaintenanceStepRequired",
    "CatalogueEntry",
    "CATALOGUE",
    "native_error_number",
    "native_error_numbers",
    "map_database_error",
    "http_answer",
]


class SongsDbError(Exception):
    """Base class of every error songsdb raises on purpose.

    Besides the message, an error from the server carries data a handler can act on without
    reading the text (psycopg's ``e.sqlstate`` / ``e.diag`` are the model): ``number`` (the
    server's error number, e.g. 50002 from the catalogue), ``procedure`` (the procedure called)
    and ``sqlstate`` (the driver's SQLSTATE). Each is None where it does not apply.
    """

    def __init__(
        self, *args: object, number: int | None = None, procedure: str | None = None, sqlstate: str | None = None
    ) -> None:
        super().__init__(*args)
        self.number = number
        self.procedure = procedure
        self.sqlstate = sqlstate

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword attributes survive pickling (multiprocessing, Celery), as args alone would not
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[SongsDbError], args: tuple[object, ...], state: dict[str, Any]) -> SongsDbError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class DatabaseError(SongsDbError):
    """The server or the driver reported an error that the catalogue does not name (the driver's error is the cause)."""


class QueryTimeout(DatabaseError, TimeoutError):
    """A call ran longer than its time limit; its connection was discarded and it was not retried."""



class ConfigurationError(SongsDbError, ValueError):
    """The settings are incomplete or contradictory."""


class DriverNotFound(ConfigurationError):
    """No usable ODBC driver is installed."""


class DatabaseUnavailable(SongsDbError, ConnectionError):
    """The server could not be reached, or the connection was lost. Its subclasses say which:

    - :class:`NotConnected`: no connection could be made, so nothing was sent: safe to retry;
    - :class:`PoolTimeout`: every pooled connection stayed busy: nothing was sent either;
    - :class:`OutcomeUnknown`: a write was sent and no answer came: it may or may not have been
      committed, so it is never safe to repeat blindly (README, "Errors a handler can act on").
    """


class NotConnected(DatabaseUnavailable):
    """No connection could be made (nothing answered, or it refused): nothing was sent; safe to retry."""


class PoolTimeout(DatabaseUnavailable):
    """No pooled connection came free within ``pool_timeout`` seconds: nothing was sent (psycopg_pool's PoolTimeout)."""


class OutcomeUnknown(DatabaseUnavailable):
    """A write reached the server and no answer came (connection lost, timed out): it may have committed."""


class WriteTimeout(QueryTimeout, OutcomeUnknown):
    """A write ran longer than its time limit and was cancelled: it may or may not have been committed."""


class LoginFailed(NotConnected):
    """The server refused the login."""


class DatabaseMissing(NotConnected):
    """The server is up but the database does not exist or cannot be opened."""


class ValidationError(SongsDbError, ValueError):
    """A parameter was rejected; nothing was written.

    ``parameter`` is the client's name for the argument (``file_id``; ``tracks`` for a field inside
    a JSON payload) and ``server_parameter`` the procedure's (``@FileId``), when the message names
    one; None otherwise.
    """

    def __init__(self, *args: object, parameter: str | None = None, server_parameter: str | None = None, **data: Any) -> None:
        super().__init__(*args, **data)
        self.parameter = parameter
        self.server_parameter = server_parameter


class NotFound(SongsDbError, LookupError):
    """The entity named by a parameter does not exist."""


class SongNotFound(NotFound):
    """No song has that id or file id."""


class JobNotFound(NotFound):
    """No processing job has that id."""


class Conflict(SongsDbError):
    """The call conflicts with the stored state (HTTP 409): a duplicate, a refused transition, a lost lease."""


class DuplicateSong(Conflict):
    """A song with that file id already exists."""


class InvalidStatusTransition(Conflict):
    """The requested status change is not allowed from the current status."""


class LeaseLost(Conflict):
    """The worker's claim token is stale: its lease expired and the job was claimed again."""


class JobHeld(InvalidStatusTransition):
    """A worker holds the job: only its claim token may move it (cancelling is always allowed)."""


class DuplicateJobKey(Conflict):
    """The job key is used by a job of another song, model or job type; nothing was written.

    ``parameter`` is ``job_key`` (``server_parameter`` ``@JobKey``), as a ValidationError names its
    argument, so a handler can answer ``{"field": e.parameter}``.
    """

    parameter = "job_key"
    server_parameter = "@JobKey"


class TransactionNotAllowed(SongsDbError):
    """The procedure must run on its own, outside any transaction (the claim, the cleanup)."""


class TransactionRolledBack(SongsDbError):
    """An error inside ``transaction()`` rolled the whole transaction back; nothing of it was committed."""


class ImportInterrupted(SongsDbError):
    """A bulk import stopped at a chunk that failed as a whole; ``summary`` is what the chunks before it did.

    The failed chunk wrote nothing (one transaction a chunk), unless the cause is an
    :class:`OutcomeUnknown`: then its answer was lost and it may have committed (the message says
    so). Either way ``next_index`` is the index of its first row, where a new import can start:
    stored songs are skipped. The error that stopped it is the cause.
    """

    def __init__(self, summary: Any, next_index: int, **data: Any) -> None:
        self.summary = summary
        self.next_index = next_index
        super().__init__(**data)
        self.args = (
            f"the import stopped at row {next_index}: that chunk wrote nothing; the chunks before it are "
            f"committed ({summary.created} created, {summary.updated} updated, {summary.skipped} skipped, "
            f"{len(summary.failed)} failed). Run it again from row {next_index}, or all of it: stored songs are skipped.",
        )

    def __str__(self) -> str:
        text = super().__str__()
        if isinstance(self.__cause__, OutcomeUnknown):  # set by `raise ... from`, after __init__
            return text.replace(
                "that chunk wrote nothing",
                "that chunk's answer was lost, so it may or may not have been written (OutcomeUnknown)",
            )
        return text


class PermissionDenied(SongsDbError, PermissionError):
    """This login's role may not run that procedure (connect with the role that may)."""


class ConcurrencyConflict(Conflict):
    """Another session holds what this call needs (e.g. a cleanup already running)."""


class MigrationError(SongsDbError):
    """A migration script could not be applied, or the history disagrees with the files."""


class MaintenanceStepRequired(MigrationError):
    """A maintenance-window step refused to run; this release's procedures were applied, the step and what follows were not.

    ``script`` names the step (``schema/0045_songs_clustered_on_song_key.sql``); ``applied`` is what this
    ``migrate`` applied before it stopped, in order (versioned scripts before the step, then views,
    functions and procedures).
    """

    def __init__(self, *args: object, script: str = "", applied: tuple[str, ...] = ()) -> None:
        super().__init__(*args)
        self.script = script
        self.applied = applied


def http_answer(error: BaseException) -> tuple[int, dict[str, object], dict[str, str]]:
    """The HTTP status, JSON body and headers a web service answers ``error`` with (songsdb.flask, songsdb.fastapi).

    400 for a rejected parameter (its message says what to send instead, ``field`` names it), 404,
    409 for a conflict, 503 with ``Retry-After`` when the database cannot be reached
    (``outcome_unknown`` when a write may have committed), else 500. Only a rejected parameter's
    message reaches the client: nothing else the server said leaves the service.
    """
    if isinstance(error, ValidationError):
        return 400, {"error": str(error), "field": error.parameter, "number": error.number}, {}
    if isinstance(error, NotFound):
        return 404, {"error": type(error).__name__, "number": error.number}, {}
    if isinstance(error, Conflict):
        return 409, {"error": type(error).__name__, "number": error.number}, {}
    if isinstance(error, DatabaseUnavailable):
        return 503, {"error": "database unavailable", "outcome_unknown": isinstance(error, OutcomeUnknown)}, {"Retry-After": "1"}
    return 500, {"error": "internal error"}, {}


@dataclass(frozen=True)
class CatalogueEntry:
    """One THROW number: the exception it becomes and what it means."""

    number: int
    error: type[SongsDbError]
    meaning: str


CATALOGUE: dict[int, CatalogueEntry] = {
    entry.number: entry
    for entry in (
        CatalogueEntry(50001, ValidationError, "a required parameter is missing or empty"),
        CatalogueEntry(50002, ValidationError, "a parameter is outside its allowed range"),
        CatalogueEntry(50003, ValidationError, "a parameter is not one of its allowed values"),
        CatalogueEntry(50004, ValidationError, "a parameter is not valid JSON of the expected shape"),
        CatalogueEntry(50005, TransactionNotAllowed, "the procedure cannot run inside a transaction"),
        CatalogueEntry(50101, SongNotFound, "no song has that id or file id"),
        CatalogueEntry(50102, DuplicateSong, "a song with that file id already exists"),
        CatalogueEntry(50201, JobNotFound, "no processing job has that id"),
        CatalogueEntry(50202, InvalidStatusTransition, "the job's status cannot change that way"),
        CatalogueEntry(50203, LeaseLost, "the claim token is stale: the job was claimed again"),
        CatalogueEntry(50204, JobHeld, "a worker holds the job; only its claim token may move it"),
        CatalogueEntry(50205, DuplicateJobKey, "the job key belongs to a job of another song, model or job type"),
        CatalogueEntry(50901, ConcurrencyConflict, "another session is already doing this"),
    )
}

# pyodbc formats each diagnostic record as "[SQLSTATE] message (native)" (the first one also gets
# " (SQLFunction)") and joins the records with "; ". The native number sits at a record's end.
_RECORD_END = re.compile(r"\((\d{1,6})\)(?: \(SQL\w+\))?\s*$")
_RECORD_START = re.compile(r"; \[[0-9A-Z]{5}\] ")
# Records a failed transaction adds after the real error; their texts are fixed (no user text in them).
_TRAILERS = {266, 3902, 3903, 3998}
_TRANSPORT_NUMBERS = {233, 10053, 10054, 10060, 11001, 40613, 40501, 40197, 49918, 49919, 49920}
_LOGIN_FAILED = {18456, 18452}
_DATABASE_MISSING = {4060, 911}
_DUPLICATE_KEY = {2627, 2601}
_PERMISSION_DENIED = {229, 230, 262, 297}


def native_error_numbers(error: BaseException) -> list[int]:
    """The server error numbers of a pyodbc error's diagnostic records, first record first.

    Read from the end of the text backwards, never by searching the message: the last record's
    number is the one at the very end; a transaction trailer (266, 3902, 3903, 3998: fixed texts)
    is peeled off to reach the record before it, and the search stops at the first record that is
    not a trailer, whose message may hold user text such as a file id reading ``(50101)``.
    """
    text = next((a for a in reversed(getattr(error, "args", ())) if isinstance(a, str)), "")
    numbers: list[int] = []
    while (end := _RECORD_END.search(text)) is not None:
        number = int(end.group(1))
        numbers.append(number)
        starts = list(_RECORD_START.finditer(text, 0, end.start()))
        if number not in _TRAILERS or not starts:
            break
        text = text[: starts[-1].start()]
    return numbers[::-1]


def native_error_number(error: BaseException) -> int | None:
    """The number that says what happened: the last record that is not a transaction trailer, else None."""
    numbers = native_error_numbers(error)
    real = [n for n in numbers if n not in _TRAILERS]
    return real[-1] if real else (numbers[-1] if numbers else None)


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE pyodbc reports first in ``args``, or None."""
    args = getattr(error, "args", ())
    if args and isinstance(args[0], str) and len(args[0]) == 5:
        return args[0]
    return None


def server_message(error: BaseException) -> str:
    """The server's message without the driver's bracketed prefixes and suffixes."""
    args = getattr(error, "args", ())
    text = args[-1] if args and isinstance(args[-1], str) else str(error)
    text = re.split(r"; \[[0-9A-Z]{5}\] ", text.strip())[0]  # the first diagnostic record
    text = re.sub(r"^(\[[^\]]*\]\s*)+", "", text)
    text = re.sub(r"\s*\(\d{1,6}\)\s*\(SQL\w+\)\s*$", "", text)
    return re.sub(r"\s*\(SQL\w+\)\s*$", "", text)


def map_database_error(error: BaseException, procedure: str | None = None) -> BaseException:
    """The songsdb exception for a pyodbc error (the original is kept as __cause__ by callers).

    Errors outside the catalogue and the connection families come back unchanged.
    """
    number = native_error_number(error)
    message = server_message(error)
    where = f"{procedure}: " if procedure else ""
    state = sqlstate(error)
    data: dict[str, Any] = {"number": number, "procedure": procedure, "sqlstate": state}
    if number in CATALOGUE:
        cls = CATALOGUE[number].error
        if issubclass(cls, ValidationError):
            named = _PARAMETER.search(message)
            server_parameter = named.group(1) if named else None
            parameter = argument_name(server_parameter) if server_parameter else None
            return cls(f"{where}{message}", parameter=parameter, server_parameter=server_parameter, **data)
        return cls(f"{where}{message}", **data)
    if number in _DUPLICATE_KEY and "uq_songs_fileid" in message.lower():
        return DuplicateSong(f"{where}{message}", **data)
    if number in _PERMISSION_DENIED or "permission denied" in message.lower():
        return PermissionDenied(
            f"{where}{message} (this login's role may not run it: songsdb_web runs api.*, songsdb_worker "
            "runs worker.*, songsdb_ops runs ops.*, songsdb_retention the cleanup; use that role's client: "
            "WebClient, WorkerClient, OpsClient, or SongsDatabase(role=...), role='retention' for the cleanup)",
            **data,
        )
    if number in _LOGIN_FAILED:
        return LoginFailed(f"login failed: {message}", **data)
    if number in _DATABASE_MISSING:
        return DatabaseMissing(f"database missing or not accessible: {message}", **data)
    if number in _TRANSPORT_NUMBERS or (state or "").startswith("08"):
        return DatabaseUnavailable(f"server unreachable or connection lost: {message}", **data)
    if state == "IM002" or "can't open lib" in message.lower():
        return DriverNotFound(
            f"ODBC driver not found ({message}); install msodbcsql18, or FreeTDS (apt-get install tdsodbc), "
            "or name an installed one with SONGSDB_DRIVER"
        )
    return error


# the catalogue's fixed wording names the parameter: "The parameter @X is required", "The value for the parameter @X ..."
_PARAMETER = re.compile(r"\bparameter (@\w+)")
# the client's keyword where it is not the procedure parameter in snake case (tests/unit/test_contract.py checks them all)
_ARGUMENT_NAMES = {
    "@FileName": "filename",
    "@OriginalFileName": "original_filename",
    "@Songs": "songs",
    "@Jobs": "jobs",
    "@Count": "n",  # claim_next_jobs(worker_id, n)
}


def argument_name(parameter: str) -> str:
    """The client's keyword for a procedure parameter: ``@FileId`` -> ``file_id``, ``@FileName`` -> ``filename``."""
    if parameter in _ARGUMENT_NAMES:
        return _ARGUMENT_NAMES[parameter]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter.lstrip("@")).lower()
