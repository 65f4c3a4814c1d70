"""The web service's methods (role ``web``, schema ``api``): songs, jobs, results, the audit trail.

:class:`WebApi` is a mixin over :class:`~songsdb.executor.Executor`: every method is one call of
``api.*``. Use it as :class:`~songsdb.WebClient` (the web login) or inside
:class:`~songsdb.SongsDatabase`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from songsdb.bulk import MAX_CHUNK, BadRecord, ImportSummary, Tally, chunks, encode_chunk
from songsdb.context import current_request_id
from songsdb.errors import DuplicateSong, ImportInterrupted, SongsDbError, TransactionRolledBack, ValidationError
from songsdb.executor import Executor
from songsdb.models import (
    AuditEntry,
    ChromaAnalysis,
    DeletedSong,
    ImportOutcome,
    Job,
    JobStatus,
    JobType,
    SeparatedTrack,
    ServerInfo,
    Song,
    SongResults,
    SongStatus,
    Transcription,
)
from songsdb.params import Id, _json_param, _uuid_param
from songsdb.payloads import JobIn, job_rows

__all__ = ["WebApi", "IMPORT_CHUNK_TIMEOUT"]

IMPORT_CHUNK_TIMEOUT = 300  # seconds an import chunk may take, at least


class WebApi(Executor):
    """The ``api.*`` methods: what the web service's login (``songsdb_web``) may run."""

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
        job_key: str | None = None,
    ) -> uuid.UUID:
        """Queue a job (separation, transcription or chroma); returns the new job's id.

        With ``job_key`` the call is safe to repeat: when a job with that key exists for the same
        song, model and job type (whatever its status), its id is returned and nothing is written;
        the key on another song, model or type raises DuplicateJobKey (README, "Job keys").
        """
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
            JobKey=job_key,
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

    def server_info(self) -> ServerInfo:
        """The server's version, the database name and its schema version."""
        return self._created(self._one(ServerInfo, "api.GetServerInfo", False), "api.GetServerInfo")

    def server_version(self) -> str:
        """The server's ``@@VERSION``."""
        return self.server_info().server_version


    def enqueue_jobs(
        self,
        song_id: Id,
        jobs: Sequence[tuple[str, str] | tuple[str, str, int] | JobIn],
        *,
        request_id: str | None = None,
    ) -> list[Job]:
        """Queue several jobs for a song in one call: (model_name, job_type[, priority]) tuples or mappings
        with model_name, job_type, priority, max_attempts, job_key (:class:`~songsdb.payloads.JobIn`).

        One job per element, in the order given; an element whose ``job_key`` names an existing job
        (same song, model and type) gets that job instead of a new one (DuplicateJobKey otherwise).
        """
        return self._many(
            Job,
            "api.EnqueueJobs",
            True,
            SongId=_uuid_param("song_id", song_id),
            Jobs=_json_param("jobs", job_rows(jobs)),
            RequestId=current_request_id(request_id),
        )

    def cancel_job(self, job_id: Id, *, request_id: str | None = None) -> Job:
        """Cancel a queued, running or failed job; a worker holding it is refused when it reports back."""
        job = self._one(
            Job,
            "api.UpdateJobStatus",
            True,
            JobId=_uuid_param("job_id", job_id),
            Status="cancelled",
            Progress=None,
            Message=None,
            ErrorMessage=None,
            ErrorStack=None,
            ResultMetadata=None,
            ClaimToken=None,
            LeaseSeconds=None,
            RequestId=current_request_id(request_id),
        )
        return self._created(job, "api.UpdateJobStatus")
