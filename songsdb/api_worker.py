"""The GPU workers' methods (role ``worker``, schema ``worker``): claims with leases and fencing, results.

:class:`WorkerApi` is a mixin over :class:`~songsdb.executor.Executor`: every method is one call of
``worker.*``. Use it as :class:`~songsdb.WorkerClient` (the worker login) or inside
:class:`~songsdb.SongsDatabase`. A worker's loop::

    with WorkerClient() as db:
        job = db.claim_next_job("gpu-1", job_types=["separation"], lease_seconds=300)
        if job:                                                  # a ClaimedJob: its claim_token is a UUID
            db.heartbeat(job.id, job.claim_token, progress=50)      # while it runs, well inside the lease
            db.complete_job(job.id, job.claim_token, tracks=[...])  # or db.fail_job(job.id, job.claim_token, "...")

A worker whose lease expired and whose job was claimed again gets ``LeaseLost`` and
must drop the job: its results are refused and nothing of them is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from songsdb.context import current_request_id
from songsdb.errors import SongsDbError
from songsdb.executor import Executor
from songsdb.models import ChromaAnalysis, ClaimedJob, Job, JobType, SeparatedTrack, Transcription
from songsdb.params import Id, _json_names, _json_param, _uuid_param
from songsdb.payloads import CHROMA_KEYS, TRANSCRIPTION_KEYS, ChromaAnalysisIn, TrackIn, TranscriptionIn, renamed, track_rows

__all__ = ["WorkerApi"]


class WorkerApi(Executor):
    """The ``worker.*`` methods: what a GPU worker's login (``songsdb_worker``) may run."""

    def claim_next_job(
        self,
        worker_id: str,
        *,
        job_types: Sequence[JobType] | None = None,
        model_names: Sequence[str] | None = None,
        lease_seconds: int = 300,
        request_id: str | None = None,
    ) -> ClaimedJob | None:
        """The next job for this worker (highest priority, then oldest), with its ``claim_token``; None when idle."""
        job = self._one(
            ClaimedJob,
            "worker.ClaimNextJob",
            True,
            WorkerId=worker_id,
            JobTypes=_json_names("job_types", job_types),
            ModelNames=_json_names("model_names", model_names),
            LeaseSeconds=lease_seconds,
            RequestId=current_request_id(request_id),
        )
        if job is not None and job.claim_token is None:
            raise SongsDbError(f"worker.ClaimNextJob returned job {job.id} without a claim token")
        return job

    def claim_next_jobs(
        self,
        worker_id: str,
        n: int,
        *,
        job_types: Sequence[JobType] | None = None,
        model_names: Sequence[str] | None = None,
        lease_seconds: int = 300,
        request_id: str | None = None,
    ) -> list[ClaimedJob]:
        """Up to ``n`` jobs (1 to 100) in one call and one hold of the queue lock, in claim order.

        The jobs ``claim_next_job`` would hand out one at a time, each with its own ``claim_token``
        and lease; an empty list when nothing is claimable. Report on each as on a single claim.
        """
        jobs = self._many(
            ClaimedJob,
            "worker.ClaimNextJobs",
            True,
            WorkerId=worker_id,
            Count=n,
            JobTypes=_json_names("job_types", job_types),
            ModelNames=_json_names("model_names", model_names),
            LeaseSeconds=lease_seconds,
            RequestId=current_request_id(request_id),
        )
        for job in jobs:
            if job.claim_token is None:
                raise SongsDbError(f"worker.ClaimNextJobs returned job {job.id} without a claim token")
        return jobs
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
        tracks: Sequence[TrackIn] | None = None,
        transcription: TranscriptionIn | None = None,
        chroma_analysis: ChromaAnalysisIn | None = None,
        result_metadata: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Job:
        """Complete the job and write its results in one transaction.

        ``tracks`` as for add_separated_tracks (:class:`~songsdb.payloads.TrackIn`); ``transcription``
        with language, full_text, segments, model_name (:class:`~songsdb.payloads.TranscriptionIn`);
        ``chroma_analysis`` with key_name, mode, tempo, key_confidence, tempo_confidence, chroma_vector
        (:class:`~songsdb.payloads.ChromaAnalysisIn`).
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
                None if transcription is None else renamed("transcription", transcription, TRANSCRIPTION_KEYS),
            ),
            ChromaAnalysis=_json_param(
                "chroma_analysis",
                None if chroma_analysis is None else renamed("chroma_analysis", chroma_analysis, CHROMA_KEYS),
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

    def add_separated_tracks(
        self,
        job_id: Id,
        tracks: Sequence[TrackIn],
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

