"""Frozen, typed rows. Each field names the column it comes from; :func:`from_row` maps by name.

Conversions: uniqueidentifier -> ``uuid.UUID``; datetime2 (stored UTC) -> timezone-aware UTC
``datetime``; JSON text -> ``dict``/``list``; everything else as the driver returns it.
A row read from the database keeps the driver's values and converts each field the first time it
is read (then keeps the result): a caller that reads two fields of a job pays for two conversions,
not twenty-three. Equality, hashing, ``repr`` and pickling read every field, so they see the same
values a row built eagerly would have.
``columns(Model)`` is what the contract test compares with each procedure's declared result.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

from songsdb.errors import SongsDbError

__all__ = [
    "Song",
    "Job",
    "ClaimedJob",
    "SeparatedTrack",
    "Transcription",
    "ChromaAnalysis",
    "AuditEntry",
    "JobSummary",
    "SongResults",
    "DeletedSong",
    "CleanupCount",
    "CleanupReport",
    "ImportOutcome",
    "ServerInfo",
    "QueueStatus",
    "SweptJob",
    "columns",
    "JobStatus",
    "JobType",
    "SongStatus",
    "Holder",
    "Row",
    "row",
    "from_row",
    "from_rows",
]

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
JobType = Literal["separation", "transcription", "chroma"]
SongStatus = Literal["uploaded", "processing", "completed", "failed"]
Holder = Literal["worker", "web"]

T = TypeVar("T")


def col(name: str, kind: str = "plain") -> Any:
    """A dataclass field read from column ``name`` with converter ``kind``."""
    return field(metadata={"column": name, "kind": kind})


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(value if type(value) is str else str(value))


_DATETIME_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:\d{2})?$")


def parse_datetime_text(text: str) -> datetime:
    """``datetime2`` as some drivers send it (FreeTDS: ``2026-01-01 10:00:00.1234567``), on every Python.

    Python 3.10's ``fromisoformat`` takes only 3 or 6 fractional digits; SQL Server sends 0 to 7.
    """
    match = _DATETIME_TEXT.match(text.strip())
    if match is None:
        raise ValueError(f"not a date and time: {text!r}")
    day, clock, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    offset = "" if zone in (None, "Z") else zone
    value = datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    return value if zone != "Z" else value.replace(tzinfo=timezone.utc)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = parse_datetime_text(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _json(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() if isinstance(value, str) else str(value)


def _plain(value: Any) -> Any:
    return value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "plain": _plain,
    "uuid": _uuid,
    "utc": _utc,
    "json": _json,
    "bool": _bool,
    "float": _float,
    "code": _text,  # fixed-width codes (statuses, types): trimmed
}


def columns(model: type) -> tuple[str, ...]:
    """The column names ``model`` reads, in field order."""
    return tuple(f.metadata["column"] for f in fields(model) if "column" in f.metadata)


class Row:
    """What every row model shares: reading a value by its column name, as the original design did.

    ``song["Title"]`` and ``song.title`` are the same value (the column name is matched
    case-insensitively). Rows stay frozen; they hash by their non-JSON fields, so a row whose
    ``metadata`` is a dict is still usable in a set (two rows that differ only in JSON are equal
    only if the JSON is equal too).
    """

    __slots__ = ()

    def __getitem__(self, column: str) -> Any:
        attribute = _by_column(type(self)).get(column.lower())
        if attribute is None:
            raise KeyError(f"{type(self).__name__} has no column {column!r}; columns: {', '.join(columns(type(self)))}")
        return getattr(self, attribute)

    def keys(self) -> tuple[str, ...]:
        """The column names, so ``dict(row)`` and ``row[name]`` work like a mapping."""
        return columns(type(self))

    def __getstate__(self) -> dict[str, Any]:
        """Every field converted (a pickled or copied row carries values, not the driver's row)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


_RAW = "_songsdb_raw"  # an instance's (driver values, plan) until every field has been read


class _Converted:
    """A row field read from the driver's values on first access, then kept in the instance.

    A non-data descriptor: once the value is in the instance's ``__dict__``, Python finds it there
    and this is never called again for that field. Rows built by ``__init__`` have no raw values:
    their fields are in ``__dict__`` from the start.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        try:
            values, plan = instance.__dict__[_RAW]
        except KeyError:
            raise AttributeError(self.name) from None
        index, convert, default = plan[self.name]
        value = default if index < 0 else convert(values[index])
        instance.__dict__[self.name] = value
        return value


def row(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)`` for a row model, hashing by its non-JSON fields."""
    made: Any = dataclass(frozen=True)(cls)
    plain = tuple(f.name for f in fields(made) if f.metadata.get("kind") != "json")

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in plain))

    made.__hash__ = __hash__
    for f in fields(made):
        if "column" in f.metadata:
            setattr(made, f.name, _Converted(f.name))  # __init__ keeps its defaults: they are bound already
    return made  # type: ignore[no-any-return]


_COLUMNS_OF: dict[type, dict[str, str]] = {}
Plan = dict[str, tuple[int, Callable[[Any], Any], Any]]
_PLANS: dict[tuple[type, tuple[str, ...]], Plan] = {}


def _by_column(model: type) -> dict[str, str]:
    found = _COLUMNS_OF.get(model)
    if found is None:
        found = {f.metadata["column"].lower(): f.name for f in fields(model) if "column" in f.metadata}
        _COLUMNS_OF[model] = found
    return found


def _plan(model: type, names: tuple[str, ...]) -> Plan:
    """For one (model, column list): each field's column position (-1: absent, use the default) and converter."""
    plan = _PLANS.get((model, names))
    if plan is not None:
        return plan
    position = {name.lower(): i for i, name in enumerate(names)}
    plan = {}
    for f in fields(model):
        if "column" not in f.metadata:
            continue
        index = position.get(f.metadata["column"].lower())
        if index is None and f.default is MISSING:
            raise SongsDbError(f"{model.__name__}: the result has no column {f.metadata['column']!r} (got {list(names)})")
        plan[f.name] = (-1, _plain, f.default) if index is None else (index, _CONVERTERS[f.metadata["kind"]], None)
    if len(_PLANS) < 1024:  # bounded: column lists come from the procedures, not from users
        _PLANS[(model, names)] = plan
    return plan


def from_row(model: type[T], names: Sequence[str], row: Sequence[Any]) -> T:
    """Build ``model`` from one row whose column names are ``names`` (case-insensitive)."""
    instance: T = object.__new__(model)
    instance.__dict__[_RAW] = (row, _plan(model, tuple(names)))
    return instance


def from_rows(model: type[T], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[T]:
    """One ``model`` per row. The mapping is planned once per (model, column list); each row keeps
    the driver's values and converts a field when it is first read (see :class:`_Converted`)."""
    plan = _plan(model, tuple(names))
    new = object.__new__
    made = []
    for values in rows:
        instance = new(model)
        instance.__dict__[_RAW] = (values, plan)
        made.append(instance)
    return made


@row
class Song(Row):
    """An uploaded audio file. ``duration`` is in seconds; ``metadata`` a JSON object."""

    id: uuid.UUID = col("Id", "uuid")
    file_id: str = col("FileId")
    title: str | None = col("Title")
    artist: str | None = col("Artist")
    album: str | None = col("Album")
    filename: str = col("FileName")
    original_filename: str | None = col("OriginalFileName")
    file_size: int | None = col("FileSize")
    duration: float | None = col("Duration", "float")
    file_extension: str | None = col("FileExtension")
    uploaded_at: datetime = col("UploadedAt", "utc")
    last_modified: datetime = col("LastModified", "utc")
    metadata: dict[str, Any] | None = col("Metadata", "json")
    status: SongStatus = col("Status", "code")


@row
class Job(Row):
    """A processing job (demucs separation, whisper transcription or chroma analysis).

    ``claim_token`` is set only on the job a claim returns (``claim_next_job``, or
    ``update_job_status(job, "running")`` by the web service): the holder's proof of its lease.
    ``held_by`` is ``"worker"`` or ``"web"`` while the job runs, else None.
    """

    id: uuid.UUID = col("JobId", "uuid")
    song_id: uuid.UUID = col("SongId", "uuid")
    model_name: str = col("ModelName")
    job_type: JobType = col("JobType", "code")
    status: JobStatus = col("Status", "code")
    progress: int = col("Progress")
    message: str | None = col("Message")
    request_id: str | None = col("RequestId")
    priority: int = col("Priority")
    attempts: int = col("Attempts")
    max_attempts: int = col("MaxAttempts")
    created_at: datetime = col("CreatedAt", "utc")
    available_at: datetime = col("AvailableAt", "utc")
    updated_at: datetime = col("UpdatedAt", "utc")
    started_at: datetime | None = col("StartedAt", "utc")
    completed_at: datetime | None = col("CompletedAt", "utc")
    error_message: str | None = col("ErrorMessage")
    error_stack: str | None = col("ErrorStack")
    result_metadata: dict[str, Any] | None = col("ResultMetadata", "json")
    worker_id: str | None = col("WorkerId")
    claim_token: uuid.UUID | None = col("ClaimToken", "uuid")
    lease_expires_at: datetime | None = col("LeaseExpiresAt", "utc")
    held_by: Holder | None = col("HeldBy", "code")


@row
class ClaimedJob(Job):
    """A job a claim returned (``claim_next_job``): its holder's ``claim_token`` is always set.

    Pass ``job.claim_token`` to ``heartbeat``, ``complete_job``, ``fail_job`` and the result methods;
    the client raises SongsDbError if the server ever returned a claim without one.
    """

    claim_token: uuid.UUID = col("ClaimToken", "uuid")


@row
class SeparatedTrack(Row):
    """One stem written by a separation job."""

    id: int = col("Id")
    song_id: uuid.UUID = col("SongId", "uuid")
    job_id: uuid.UUID = col("JobId", "uuid")
    stem_name: str = col("StemName")
    file_path: str = col("FilePath")
    file_size: int | None = col("FileSize")
    format: str | None = col("Format", "code")
    sample_rate: int | None = col("SampleRate")
    duration: float | None = col("Duration", "float")
    created_at: datetime = col("CreatedAt", "utc")


@row
class Transcription(Row):
    """Whisper output; ``segments`` is the list of timed segments."""

    id: int = col("Id")
    song_id: uuid.UUID = col("SongId", "uuid")
    job_id: uuid.UUID | None = col("JobId", "uuid")
    language: str | None = col("Language")
    full_text: str | None = col("FullText")
    segments: list[Any] | None = col("Segments", "json")
    model_name: str | None = col("ModelName")
    created_at: datetime = col("CreatedAt", "utc")


@row
class ChromaAnalysis(Row):
    """Key, mode and tempo; ``chroma_vector`` has 12 values, C to B."""

    id: int = col("Id")
    song_id: uuid.UUID = col("SongId", "uuid")
    job_id: uuid.UUID | None = col("JobId", "uuid")
    key_name: str | None = col("KeyName", "code")
    mode: str | None = col("Mode", "code")
    tempo: float | None = col("Tempo", "float")
    key_confidence: float | None = col("KeyConfidence", "float")
    tempo_confidence: float | None = col("TempoConfidence", "float")
    chroma_vector: list[float] | None = col("ChromaVector", "json")
    created_at: datetime = col("CreatedAt", "utc")


@row
class AuditEntry(Row):
    """One audit row; ``details`` is a JSON object."""

    id: int = col("Id")
    request_id: str | None = col("RequestId")
    entity_type: str = col("EntityType", "code")
    entity_id: str | None = col("EntityId")
    action: str = col("Action", "code")
    user_id: str | None = col("UserId")
    ip_address: str | None = col("IpAddress", "code")
    user_agent: str | None = col("UserAgent")
    details: dict[str, Any] | None = col("Details", "json")
    timestamp: datetime = col("Timestamp", "utc")


@row
class JobSummary(Row):
    """A row of ``dbo.vw_JobSummary``."""

    job_id: uuid.UUID = col("JobId", "uuid")
    song_id: uuid.UUID = col("SongId", "uuid")
    song_title: str | None = col("SongTitle")
    song_artist: str | None = col("SongArtist")
    model_name: str = col("ModelName")
    job_type: JobType = col("JobType", "code")
    status: JobStatus = col("Status", "code")
    progress: int = col("Progress")
    message: str | None = col("Message")
    request_id: str | None = col("RequestId")
    priority: int = col("Priority")
    attempts: int = col("Attempts")
    max_attempts: int = col("MaxAttempts")
    created_at: datetime = col("CreatedAt", "utc")
    started_at: datetime | None = col("StartedAt", "utc")
    completed_at: datetime | None = col("CompletedAt", "utc")
    duration_seconds: int | None = col("DurationSeconds")
    error_message: str | None = col("ErrorMessage")
    track_count: int = col("TrackCount")
    transcription_count: int = col("TranscriptionCount")
    chroma_count: int = col("ChromaCount")


@row
class DeletedSong(Row):
    """What ``delete_song`` removed."""

    song_id: uuid.UUID = col("SongId", "uuid")
    jobs_deleted: int = col("JobsDeleted")
    tracks_deleted: int = col("TracksDeleted")
    transcriptions_deleted: int = col("TranscriptionsDeleted")
    analyses_deleted: int = col("AnalysesDeleted")


@row
class CleanupCount(Row):
    """One row of ``dbo.sp_CleanupOldData``'s result."""

    table_name: str = col("TableName")
    rows_deleted: int = col("RowsDeleted")
    finished: bool = col("Finished", "bool")


@dataclass(frozen=True)
class CleanupReport:
    """What ``cleanup_old_data`` did: rows per table (would delete, on a dry run) and whether it finished."""

    rows: dict[str, int]
    finished: bool
    dry_run: bool

    def __getitem__(self, table: str) -> int:
        return self.rows[table]


@row
class ImportOutcome(Row):
    """What ``api.ImportSongs`` did with one row of a chunk (``position`` counts within the chunk)."""

    position: int = col("Ordinal")
    file_id: str | None = col("FileId")
    outcome: Literal["created", "updated", "skipped", "failed"] = col("Outcome", "code")
    song_id: uuid.UUID | None = col("SongId", "uuid")
    error_number: int | None = col("ErrorNumber")
    parameter: str | None = col("Parameter")
    error: str | None = col("Error")


@row
class ServerInfo(Row):
    """What ``songsdb check`` reports."""

    server_version: str = col("ServerVersion")
    database_name: str = col("DatabaseName")
    schema_version: int | None = col("SchemaVersion")


@row
class QueueStatus(Row):
    """A row of ``dbo.vw_QueueStatus``: open work for one model and job type."""

    model_name: str = col("ModelName")
    job_type: JobType = col("JobType", "code")
    queued: int = col("Queued")
    running: int = col("Running")
    failed: int = col("Failed")
    expired_leases: int = col("ExpiredLeases")
    oldest_queued_at: datetime | None = col("OldestQueuedAt", "utc")
    oldest_queued_seconds: int | None = col("OldestQueuedSeconds")


@row
class SweptJob(Row):
    """A running job whose lease expired, as ``ops.SweepExpiredLeases`` left it: ``queued`` again or ``failed``."""

    id: uuid.UUID = col("JobId", "uuid")
    model_name: str = col("ModelName")
    job_type: JobType = col("JobType", "code")
    worker_id: str | None = col("WorkerId")
    attempts: int = col("Attempts")
    max_attempts: int = col("MaxAttempts")
    status: JobStatus = col("Status", "code")


@dataclass(frozen=True)
class SongResults:
    """Everything the models produced for one song."""

    tracks: tuple[SeparatedTrack, ...]
    transcriptions: tuple[Transcription, ...]
    analyses: tuple[ChromaAnalysis, ...]
