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
    "LoginFailed",
    "DatabaseMissing",
    "ValidationError",
    "NotFound",
    "SongNotFound",
    "JobNotFound",
    "DuplicateSong",
    "InvalidStatusTransition",
    "ConcurrencyConflict",
    "LeaseLost",
    "JobHeld",
    "TransactionNotAllowed",
    "TransactionRolledBack",
    "PermissionDenied",
    "ImportInterrupted",
    "MigrationError",
    "CatalogueEntry",
    "CATALOGUE",
    "native_error_number",
    "native_error_numbers",
    "map_database_error",
]


class SongsDbError(Exception):
    """Base class of every error songsdb raises on purpose."""


class DatabaseError(SongsDbError):
    """The server or the driver reported an error that the catalogue does not name (the driver's error is the cause)."""


class QueryTimeout(DatabaseError, TimeoutError):
    """A call ran longer than SONGSDB_QUERY_TIMEOUT; its connection was discarded and it was not retried."""


class ConfigurationError(SongsDbError, ValueError):
    """The settings are incomplete or contradictory."""


class DriverNotFound(ConfigurationError):
    """No usable ODBC driver is installed."""


class DatabaseUnavailable(SongsDbError, ConnectionError):
    """The server could not be reached, or the connection was lost."""


class LoginFailed(DatabaseUnavailable):
    """The server refused the login."""


class DatabaseMissing(DatabaseUnavailable):
    """The server is up but the database does not exist or cannot be opened."""


class ValidationError(SongsDbError, ValueError):
    """A parameter was rejected; nothing was written."""


class NotFound(SongsDbError, LookupError):
    """The entity named by a parameter does not exist."""


class SongNotFound(NotFound):
    """No song has that id or file id."""


class JobNotFound(NotFound):
    """No processing job has that id."""


class DuplicateSong(SongsDbError):
    """A song with that file id already exists."""


class InvalidStatusTransition(SongsDbError):
    """The requested status change is not allowed from the current status."""


class LeaseLost(SongsDbError):
    """The worker's claim token is stale: its lease expired and the job was claimed again."""


class JobHeld(InvalidStatusTransition):
    """A worker holds the job: only its claim token may move it (cancelling is always allowed)."""


class TransactionNotAllowed(SongsDbError):
    """The procedure must run on its own, outside any transaction (the claim, the cleanup)."""


class TransactionRolledBack(SongsDbError):
    """An error inside ``transaction()`` rolled the whole transaction back; nothing of it was committed."""


class ImportInterrupted(SongsDbError):
    """A bulk import stopped at a chunk that failed as a whole; ``summary`` is what the chunks before it did.

    The failed chunk wrote nothing (one transaction a chunk); ``next_index`` is the index of its first
    row, where a new import can start. The error that stopped it is the cause.
    """

    def __init__(self, summary: Any, next_index: int) -> None:
        self.summary = summary
        self.next_index = next_index
        super().__init__(
            f"the import stopped at row {next_index}: that chunk wrote nothing; the chunks before it are "
            f"committed ({summary.created} created, {summary.updated} updated, {summary.skipped} skipped, "
            f"{len(summary.failed)} failed). Run it again from row {next_index}, or all of it: stored songs are skipped."
        )


class PermissionDenied(SongsDbError, PermissionError):
    """This login's role may not run that procedure (connect with the role that may)."""


class ConcurrencyConflict(SongsDbError):
    """Another session holds what this call needs (e.g. a cleanup already running)."""


class MigrationError(SongsDbError):
    """A migration script could not be applied, or the history disagrees with the files."""


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
    if number in CATALOGUE:
        return CATALOGUE[number].error(f"{where}{message}")
    if number in _DUPLICATE_KEY and "uq_songs_fileid" in message.lower():
        return DuplicateSong(f"{where}{message}")
    if number in _PERMISSION_DENIED or "permission denied" in message.lower():
        return PermissionDenied(
            f"{where}{message} (this login's role may not run it: songsdb_web runs api.*, songsdb_worker "
            "runs worker.*, songsdb_ops runs ops.*; connect with SongsDatabase(role=...))"
        )
    if number in _LOGIN_FAILED:
        return LoginFailed(f"login failed: {message}")
    if number in _DATABASE_MISSING:
        return DatabaseMissing(f"database missing or not accessible: {message}")
    state = sqlstate(error)
    if number in _TRANSPORT_NUMBERS or (state or "").startswith("08"):
        return DatabaseUnavailable(f"server unreachable or connection lost: {message}")
    if state == "IM002" or "can't open lib" in message.lower():
        return DriverNotFound(
            f"ODBC driver not found ({message}); install msodbcsql18, or FreeTDS (apt-get install tdsodbc), "
            "or name an installed one with SONGSDB_DRIVER"
        )
    return error
