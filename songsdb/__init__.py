"""songsdb: SQL Server persistence for the AI audio-processing backend.

    from songsdb import SongsDatabase, WorkerClient

    with SongsDatabase() as db:            # settings from SONGSDB_* or .env.songs-db
        song_id = db.create_song("file-123", "song.mp3", title="Intro")

    with WorkerClient() as worker:         # one role's login and only its methods (also WebClient, OpsClient)
        job = worker.claim_next_job("gpu-1")

Importing the package is cheap: the clients, their models and errors load on
first use, and neither pyodbc, docker nor jinja2 is imported by ``import songsdb``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "SongsDatabase": "songsdb.database",
    "Transaction": "songsdb.database",
    "WebClient": "songsdb.clients",
    "WorkerClient": "songsdb.clients",
    "OpsClient": "songsdb.clients",
    "Settings": "songsdb.config",
    "load_settings": "songsdb.config",
    "request_id_var": "songsdb.context",
    "request_context": "songsdb.context",
    "ImportSummary": "songsdb.bulk",
    "ImportFailure": "songsdb.bulk",
    "BadRecord": "songsdb.bulk",
    "TrackIn": "songsdb.payloads",
    "TranscriptionIn": "songsdb.payloads",
    "ChromaAnalysisIn": "songsdb.payloads",
    "JobIn": "songsdb.payloads",
    "AsyncSongsDatabase": "songsdb.aio",
}
_MODULES = ("songsdb.errors", "songsdb.models")  # every name in their __all__ is served from here too

if TYPE_CHECKING:  # pragma: no cover
    from songsdb.bulk import BadRecord, ImportFailure, ImportSummary
    from songsdb.aio import AsyncSongsDatabase
    from songsdb.clients import OpsClient, WebClient, WorkerClient
    from songsdb.config import Settings, load_settings
    from songsdb.context import request_context, request_id_var
    from songsdb.database import SongsDatabase, Transaction
    from songsdb.errors import (
        CATALOGUE,
        CatalogueEntry,
        ConcurrencyConflict,
        ConfigurationError,
        Conflict,
        DatabaseError,
        DatabaseMissing,
        DatabaseUnavailable,
        DriverNotFound,
        DuplicateJobKey,
        DuplicateSong,
        ImportInterrupted,
        InvalidStatusTransition,
        JobHeld,
        JobNotFound,
        LeaseLost,
        LoginFailed,
        MaintenanceStepRequired,
        MigrationError,
        NotConnected,
        NotFound,
        OutcomeUnknown,
        PermissionDenied,
        PoolTimeout,
        QueryTimeout,
        SongNotFound,
        SongsDbError,
        TransactionNotAllowed,
        TransactionRolledBack,
        ValidationError,
        WriteTimeout,
        http_answer,
        map_database_error,
        native_error_number,
        native_error_numbers,
    )
    from songsdb.models import (
        AuditEntry,
        ChromaAnalysis,
        ClaimedJob,
        CleanupCount,
        CleanupReport,
        DeletedSong,
        Holder,
        ImportOutcome,
        Job,
        JobStatus,
        JobSummary,
        JobType,
        QueueStatus,
        Row,
        SweptJob,
        FailedJob,
        HeldJob,
        TrailEntry,
        TrailJob,
        RequestTrail,
        JobDetail,
        JobHistory,
        ThroughputMinute,
        QueueGauge,
        FinishedWindow,
        QueueMetrics,
        JobOutcome,
        SeparatedTrack,
        ServerInfo,
        Song,
        SongResults,
        SongStatus,
        Transcription,
        columns,
        from_row,
        from_rows,
        row,
    )
    from songsdb.payloads import ChromaAnalysisIn, JobIn, TrackIn, TranscriptionIn


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    for module in _MODULES:
        mod = importlib.import_module(module)
        if name in getattr(mod, "__all__", ()):
            return getattr(mod, name)
    raise AttributeError(f"module 'songsdb' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Every public name, the lazy ones included, so completion and ``dir(songsdb)`` see them."""
    return sorted(set(globals()) | set(__all__))


# Literal, so type checkers see what the package exports; tests/unit/test_package_exports.py keeps it
# equal to _LAZY plus the __all__ of songsdb.errors and songsdb.models.
__all__ = [
    "__version__",
    # clients
    "SongsDatabase",
    "Transaction",
    "AsyncSongsDatabase",
    "WebClient",
    "WorkerClient",
    "OpsClient",
    # settings and request ids
    "Settings",
    "load_settings",
    "request_id_var",
    "request_context",
    # bulk import
    "ImportSummary",
    "ImportFailure",
    "BadRecord",
    # payloads
    "TrackIn",
    "TranscriptionIn",
    "ChromaAnalysisIn",
    "JobIn",
    # songsdb.errors
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
    # songsdb.models
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
    "FailedJob",
    "HeldJob",
    "TrailEntry",
    "TrailJob",
    "RequestTrail",
    "JobDetail",
    "JobHistory",
    "ThroughputMinute",
    "QueueGauge",
    "FinishedWindow",
    "QueueMetrics",
    "JobOutcome",
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
