"""The work-queue half of SongsDatabase: claims with leases and fencing, heartbeats, completion.

Mixed into :class:`songsdb.database.SongsDatabase`; every method is one procedure call.
A worker's loop::

    job = db.claim_next_job("gpu-1", job_types=["separation"], lease_seconds=300)
    if job:
        db.heartbeat(job.id, job.claim_token, progress=50)      # while it runs, well inside the lease
        db.complete_job(job.id, job.claim_token, tracks=[...])  # or db.fail_job(job.id, job.claim_token, "...")

A worker whose lease expired and whose job was claimed again gets ``LeaseLost`` and
must drop the job: its results are refused and nothing of them is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from songsdb.context import current_request_id
from songsdb.errors import SongsDbError, ValidationError
from songsdb.models import Job, JobType, QueueStatus
from songsdb.params import Id, _json_names, _json_param, _uuid_param

__all__ = ["QueueMethods", "track_rows"]

T = TypeVar("T")

_TRACK_KEYS = {
    "stem_name": "stemName",
    "file_path": "filePath",
    "file_size": "fileSize",
    "format": "format",
    "sample_rate": "sampleRate",
    "duration": "duration",
}
_TRANSCRIPTION_KEYS = {"language": "language", "full_text": "fullText", "segments": "segments", "model_name": "modelName"}
_CHROMA_KEYS = {
    "key_name": "keyName",
    "mode": "mode",
    "tempo": "tempo",
    "key_confidence": "keyConfidence",
    "tempo_confidence": "tempoConfidence",
    "chroma_vector": "chromaVector",
}


def _renamed(name: str, item: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    unknown = set(item) - set(keys)
    if unknown:
        raise ValidationError(f"{name} has unknown keys {sorted(unknown)}; allowed: {sorted(keys)}")
    return {keys[k]: v for k, v in item.items()}


def track_rows(tracks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stems as the procedures' JSON expects them (snake_case keys become camelCase)."""
    return [_renamed(f"tracks[{i}]", track, _TRACK_KEYS) for i, track in enumerate(tracks)]


class QueueMethods:
    """claim_next_job, heartbeat, complete_job, fail_job (role ``worker``); enqueue_jobs, cancel_job (role
    ``web``); retry_job, queue_status (role ``ops``).

    A base class of :class:`songsdb.database.SongsDatabase`, which implements the three typed
    primitives below; every method here is one call of one of them.
    """

    def _one(self, model: type[T], procedure: str, write: bool, **params: Any) -> T | None:
        raise NotImplementedError

    def _many(self, model: type[T], procedure: str, write: bool, **params: Any) -> list[T]:
        raise NotImplementedError

    @staticmethod
    def _created(row: T | None, procedure: str) -> T:
        if row is None:
            raise SongsDbError(f"{procedure} returned no row")
        return row

    def claim_next_job(
        self,
        worker_id: str,
        *,
        job_types: Sequence[JobType] | None = None,
        model_names: Sequence[str] | None = None,
        lease_seconds: int = 300,
        request_id: str | None = None,
    ) -> Job | None:
        """The next job for this worker (highest priority, then oldest), with its ``claim_token``; None when idle."""
        return self._one(
            Job,
            "worker.ClaimNextJob",
            True,
            WorkerId=worker_id,
            JobTypes=_json_names("job_types", job_types),
            ModelNames=_json_names("model_names", model_names),
            LeaseSeconds=lease_seconds,
            RequestId=current_request_id(request_id),
        )

    def heartbeat(
        self,
        job_id: Id,
        claim_token: Id,
        *,
        progress: int | None = None,
        message: str | None = None,
        lease_seconds: int = 300,
        request_id: str | None = None,
    ) -> Job:
        """Extend the lease by ``lease_seconds`` from now and record progress; raises LeaseLost when stale."""
        job = self._one(
            Job,
            "worker.Heartbeat",
            True,
            JobId=_uuid_param("job_id", job_id),
            ClaimToken=_uuid_param("claim_token", claim_token),
            Progress=progress,
            Message=message,
            LeaseSeconds=lease_seconds,
            RequestId=current_request_id(request_id),
        )
        return self._created(job, "worker.Heartbeat")

    def complete_job(
        self,
        job_id: Id,
        claim_token: Id,
        *,
        tracks: Sequence[Mapping[str, Any]] | None = None,
        transcription: Mapping[str, Any] | None = None,
        chroma_analysis: Mapping[str, Any] | None = None,
        result_metadata: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Job:
        """Complete the job and write its results in one transaction.

        ``tracks`` as for add_separated_tracks; ``transcription`` with language, full_text, segments,
        model_name; ``chroma_analysis`` with key_name, mode, tempo, key_confidence, tempo_confidence,
        chroma_vector.
        """
        job = self._one(
            Job,
            "worker.CompleteJob",
            True,
            JobId=_uuid_param("job_id", job_id),
            ClaimToken=_uuid_param("claim_token", claim_token),
            ResultMetadata=_json_param("result_metadata", result_metadata),
            Tracks=_json_param("tracks", None if tracks is None else track_rows(tracks)),
            Transcription=_json_param(
                "transcription",
                None if transcription is None else _renamed("transcription", transcription, _TRANSCRIPTION_KEYS),
            ),
            ChromaAnalysis=_json_param(
                "chroma_analysis",
                None if chroma_analysis is None else _renamed("chroma_analysis", chroma_analysis, _CHROMA_KEYS),
            ),
            RequestId=current_request_id(request_id),
        )
        return self._created(job, "worker.CompleteJob")

    def fail_job(
        self,
        job_id: Id,
        claim_token: Id,
        error_message: str,
        *,
        error_stack: str | None = None,
        retry_delay_seconds: int | None = None,
        request_id: str | None = None,
    ) -> Job:
        """Report a failure: back to the queue with back-off while attempts remain, else failed for good."""
        job = self._one(
            Job,
            "worker.FailJob",
            True,
            JobId=_uuid_param("job_id", job_id),
            ClaimToken=_uuid_param("claim_token", claim_token),
            ErrorMessage=error_message,
            ErrorStack=error_stack,
            RetryDelaySeconds=retry_delay_seconds,
            RequestId=current_request_id(request_id),
        )
        return self._created(job, "worker.FailJob")

    def enqueue_jobs(
        self,
        song_id: Id,
        jobs: Sequence[tuple[str, str] | tuple[str, str, int] | Mapping[str, Any]],
        *,
        request_id: str | None = None,
    ) -> list[Job]:
        """Queue several jobs for a song in one call: (model_name, job_type[, priority]) tuples or mappings
        with model_name, job_type, priority, max_attempts."""
        rows = []
        for i, job in enumerate(jobs):
            if isinstance(job, Mapping):
                rows.append(
                    _renamed(
                        f"jobs[{i}]",
                        job,
                        {"model_name": "modelName", "job_type": "jobType", "priority": "priority", "max_attempts": "maxAttempts"},
                    )
                )
            elif isinstance(job, tuple) and len(job) in (2, 3):
                rows.append(dict(zip(("modelName", "jobType", "priority"), job)))
            else:
                raise ValidationError(f"jobs[{i}] must be (model_name, job_type[, priority]) or a mapping")
        return self._many(
            Job,
            "api.EnqueueJobs",
            True,
            SongId=_uuid_param("song_id", song_id),
            Jobs=_json_param("jobs", rows),
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

    def retry_job(self, job_id: Id, *, request_id: str | None = None) -> Job:
        """Queue a failed job again with a fresh budget of attempts."""
        job = self._one(
            Job, "ops.RetryJob", True, JobId=_uuid_param("job_id", job_id), RequestId=current_request_id(request_id)
        )
        return self._created(job, "ops.RetryJob")

    def queue_status(self) -> list[QueueStatus]:
        """Queued, running, failed and expired-lease counts per model and job type, with the oldest queued age."""
        return self._many(QueueStatus, "ops.GetQueueStatus", False)
