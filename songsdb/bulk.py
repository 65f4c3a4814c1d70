"""Bulk import of songs: rows checked and encoded chunk by chunk for ``api.ImportSongs``, and the summary.

Pure logic, no connection: :func:`import_rows` encodes the rows chunk by chunk and hands each
chunk's text to a ``send`` function (:meth:`SongsDatabase.import_songs` gives one that makes one
call of ``api.ImportSongs``), and ``songsdb import`` reads CSV or JSON lines into the same rows. A row is a mapping
with :meth:`SongsDatabase.create_song`'s parameter names (``file_id``, ``filename``, ``title``, …).

Here only what JSON cannot carry faithfully is refused (a key create_song does not take, a value
of the wrong Python type, NUL characters, NaN); lengths, ranges, required values and duplicates
are the procedure's rules, the same ones ``create_song`` obeys. Either way a refused row becomes
an :class:`ImportFailure` naming its index and parameter, and the other rows go on.
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from songsdb.errors import (
    ConfigurationError,
    DuplicateSong,
    ImportInterrupted,
    SongsDbError,
    TransactionRolledBack,
    ValidationError,
)
from songsdb.models import ImportOutcome

__all__ = [
    "FIELDS",
    "MAX_CHUNK",
    "BadRecord",
    "ImportFailure",
    "ImportSummary",
    "Tally",
    "chunks",
    "encode_chunk",
    "import_rows",
    "read_rows",
]

# create_song's parameter -> the key api.ImportSongs reads
FIELDS: dict[str, str] = {
    "file_id": "fileId",
    "filename": "fileName",
    "title": "title",
    "artist": "artist",
    "album": "album",
    "file_size": "fileSize",
    "duration": "duration",
    "file_extension": "fileExtension",
    "original_filename": "originalFileName",
    "metadata": "metadata",
}
PARAMETER_OF = {key: name for name, key in FIELDS.items()}
TEXT_FIELDS = frozenset(("file_id", "filename", "title", "artist", "album", "file_extension", "original_filename"))
MAX_CHUNK = 4000  # api.ImportSongs takes 1 to 4000 rows a call: below SQL Server's lock escalation at 5,000 locks


@dataclass(frozen=True)
class BadRecord:
    """A record a reader could not turn into a row (e.g. a line that is not JSON); it fails, the rest go on."""

    message: str


@dataclass(frozen=True)
class ImportFailure:
    """A row that was not written: its index among the rows given, the parameter at fault, why."""

    index: int
    file_id: str | None
    parameter: str | None
    message: str
    number: int  # the catalogue's: 50001 missing, 50002 out of range or wrong type, 50004 not an object, 50102 duplicate


@dataclass(frozen=True)
class ImportSummary:
    """What an import did. ``song_ids`` maps the file id of every created, updated or skipped row to its song."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: tuple[ImportFailure, ...] = ()
    song_ids: Mapping[str, uuid.UUID] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.skipped + len(self.failed)


@dataclass
class Tally:
    """The running totals of an import, chunk by chunk."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: list[ImportFailure] = field(default_factory=list)
    song_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    def add(self, outcomes: Sequence[ImportOutcome], sent: Sequence[int]) -> None:
        """Count one chunk's outcomes; ``sent[i]`` is the caller's index of the chunk's i-th row."""
        for outcome in outcomes:
            index = sent[outcome.position]
            if outcome.outcome == "failed":
                key = outcome.parameter
                self.failed.append(
                    ImportFailure(
                        index, outcome.file_id, PARAMETER_OF.get(key, key) if key else None,
                        _in_python_words(outcome.error or "failed"), outcome.error_number or 50002,
                    )
                )
                continue
            if outcome.outcome == "created":
                self.created += 1
            elif outcome.outcome == "updated":
                self.updated += 1
            else:
                self.skipped += 1
            if outcome.file_id is not None and outcome.song_id is not None:
                self.song_ids[outcome.file_id] = outcome.song_id

    def summary(self) -> ImportSummary:
        failed = tuple(sorted(self.failed, key=lambda f: f.index))
        return ImportSummary(self.created, self.updated, self.skipped, failed, dict(self.song_ids))


def _in_python_words(message: str) -> str:
    """The procedure names JSON keys (fileId); the caller passed parameters (file_id)."""
    for key, name in PARAMETER_OF.items():
        if key != name and message.startswith(key):
            return name + message[len(key) :]
    return message


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    """The rows with their indexes, ``size`` at a time; reads ``rows`` lazily (a file need not fit in memory)."""
    numbered = enumerate(rows)
    while chunk := list(islice(numbered, size)):
        yield chunk


def encode_chunk(chunk: Sequence[tuple[int, Any]]) -> tuple[str, list[int], list[ImportFailure]]:
    """The JSON array to send, the caller's index of each element, and the rows refused before sending."""
    objects: list[dict[str, Any]] = []
    sent: list[int] = []
    failures: list[ImportFailure] = []
    for index, row in chunk:
        encoded = _encode_row(index, row)
        if isinstance(encoded, ImportFailure):
            failures.append(encoded)
        else:
            objects.append(encoded)
            sent.append(index)
    return json.dumps(objects, ensure_ascii=False, allow_nan=False), sent, failures


def import_rows(
    rows: Iterable[Any],
    chunk_size: int,
    send: Callable[[str], Sequence[ImportOutcome]],
    on_progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Encode ``rows`` in chunks of ``chunk_size``, ``send`` each chunk's JSON text, and sum the outcomes.

    ``send`` makes one call (one transaction) per chunk. A chunk refused as a duplicate (a file id
    stored by a concurrent call between the procedure's check and its insert: nothing was written)
    is sent once more. A chunk that fails otherwise stops the import with
    :class:`~songsdb.errors.ImportInterrupted`, which carries what the chunks before it did, except
    where the call's own arguments are wrong (ValidationError) or the caller's transaction is
    doomed (TransactionRolledBack): then no chunk committed on its own, and that error is raised.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK:
        raise ValidationError(f"chunk_size must be a whole number from 1 to {MAX_CHUNK} (got {chunk_size!r})")
    tally = Tally()
    for chunk in chunks(rows, chunk_size):
        text, sent, refused = encode_chunk(chunk)
        tally.failed.extend(refused)
        for attempt in (1, 2):
            if not sent:
                break
            try:
                outcomes = send(text)
            except DuplicateSong as exc:
                if attempt == 1:
                    continue
                raise ImportInterrupted(tally.summary(), chunk[0][0]) from exc
            except (ValidationError, TransactionRolledBack):
                raise
            except SongsDbError as exc:
                raise ImportInterrupted(tally.summary(), chunk[0][0]) from exc
            tally.add(outcomes, sent)
            break
        if on_progress is not None:
            on_progress(tally.summary())
    return tally.summary()


def _encode_row(index: int, row: Any) -> dict[str, Any] | ImportFailure:
    if isinstance(row, BadRecord):
        return ImportFailure(index, None, None, row.message, 50004)
    if not isinstance(row, Mapping):
        return ImportFailure(index, None, None, f"a row must be a mapping of create_song's parameters, not {type(row).__name__}", 50004)
    given_id = row.get("file_id")
    file_id = given_id if isinstance(given_id, str) else None
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == "metadata" and value is not None:
            value, problem = _metadata(value)  # its JSON text is parsed once, here
        else:
            problem = _problem(name, value)
        if problem is not None:
            return ImportFailure(index, file_id, name if name in FIELDS else str(name), problem, 50002)
        if value is not None:
            out[FIELDS[name]] = value
    return out


def _problem(name: Any, value: Any) -> str | None:
    """Why ``value`` cannot travel as parameter ``name`` (any but metadata), or None."""
    if name not in FIELDS:
        return f"{name!r} is not a song field. Supported fields are {', '.join(FIELDS)}."
    if value is None:
        return None
    if name in TEXT_FIELDS:
        if not isinstance(value, str):
            return f"{name} must be text, not {type(value).__name__}."
        if "\x00" in value:
            return f"{name} must not contain NUL characters."
    elif name == "file_size":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be a whole number of bytes, not {value!r}."
    elif name == "duration":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{name} must be a finite number of seconds, not {value!r}."
    return None


def _metadata(value: Any) -> tuple[Any, str | None]:
    """metadata as it travels (a JSON object), or why it cannot.

    JSON text is parsed here; what Python's parser takes beyond JSON (NaN, Infinity) is refused
    like a mapping holding them, so the chunk's array always serialises.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            return None, "metadata must be a JSON object (a mapping, or its JSON text)."
    elif not isinstance(value, Mapping):
        return None, f"metadata must be a JSON object (a mapping, or its JSON text), not {type(value).__name__}."
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return None, f"metadata must be JSON-serialisable without NaN or infinity ({exc})."
    return value, None


# ----- readers for `songsdb import` ---------------------------------------------------------------
def read_rows(path: Path, file_format: str | None = None) -> Iterator[Mapping[str, Any] | BadRecord]:
    """Rows from a CSV file (a header of field names) or JSON lines (one object a line), lazily.

    The format comes from the suffix (.csv; .jsonl, .ndjson, .json) unless given. In CSV an empty
    cell is null, ``file_size`` and ``duration`` are numbers and ``metadata`` is JSON text; a value
    that does not parse stays text, so the row fails naming that field. Any other format is a
    :class:`~songsdb.errors.ConfigurationError` (also a ``ValueError``) naming the ones there are.
    """
    kind = (file_format or path.suffix.lstrip(".")).lower()
    if kind == "csv":
        return _csv_rows(path)
    if kind in ("jsonl", "ndjson", "json"):
        return _json_lines(path)
    what = f"unknown format {kind!r}" if kind else "no format (the file name has no suffix)"
    raise ConfigurationError(
        f"{path}: {what}; the formats are csv (.csv) and jsonl (.jsonl, .ndjson, .json), taken from the "
        "suffix or given with --format csv|jsonl"
    )


def _csv_rows(path: Path) -> Iterator[Mapping[str, Any] | BadRecord]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            if None in record:  # DictReader files surplus cells under the key None
                yield BadRecord(f"line {reader.line_num} has more cells than the header")
                continue
            yield {name: _csv_value(name, text) for name, text in record.items()}


def _csv_value(name: str, text: str | None) -> Any:
    if text is None or text == "":
        return None
    if name == "file_size":
        return _number(text, int)
    if name == "duration":
        return _number(text, float)
    return text


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text


def _json_lines(path: Path) -> Iterator[Mapping[str, Any] | BadRecord]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                yield BadRecord(f"line {number} is not valid JSON ({exc})")
