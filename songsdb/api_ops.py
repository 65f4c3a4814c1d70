"""Operations' methods (role ``ops``, schema ``ops``): the queue's state, job summaries, retries, cleanup.

:class:`OpsApi` is a mixin over :class:`~songsdb.executor.Executor`: every method is one call of
``ops.*``. Use it as :class:`~songsdb.OpsClient` (the operations login) or inside
:class:`~songsdb.SongsDatabase`.
"""

from __future__ import annotations

from collections.abc import Sequence

from songsdb.context import current_request_id
from songsdb.executor import Executor
from songsdb.models import (
    CleanupCount,
    CleanupReport,
    FailedJob,
    FinishedWindow,
    HeldJob,
    Job,
    JobDetail,
    JobHistory,
    JobOutcome,
    JobStatus,
    JobSummary,
    JobType,
    QueueGauge,
    QueueMetrics,
    QueueStatus,
    RequestTrail,
    Song,
    SweptJob,
    ThroughputMinute,
    TrailEntry,
    TrailJob,
)
from songsdb.params import Id, _json_param, _uuid_param

__all__ = ["OpsApi", "CLEANUP_MARGIN"]

CLEANUP_MARGIN = 120  # seconds a cleanup call may run past its time limit: the batch under way, the audit rows


def _ids(name: str, values: Sequence[Id]) -> list[str]:
    return [str(_uuid_param(name, v)) for v in values]


class OpsApi(Executor):
    """The ``ops.*`` methods: what the operations login (``songsdb_ops``) may run."""

    def retry_job(self, job_id: Id, *, request_id: str | None = None, user_id: str | None = None) -> Job:
        """Queue a failed job again with a fresh budget of attempts; ``user_id`` (the operator) is audited as UserId."""
        job = self._one(
            Job, "ops.RetryJob", True, JobId=_uuid_param("job_id", job_id), RequestId=current_request_id(request_id),
            UserId=user_id,
        )
        return self._created(job, "ops.RetryJob")

    def sweep_expired_leases(self, *, limit: int = 1000, request_id: str | None = None) -> list[SweptJob]:
        """Requeue (attempts left) or fail (none left) running jobs whose lease expired, of any job type and model.

        A claim takes back expired leases only of the types and models it asks for; this finds the
        rest (up to ``limit``, 1 to 4000, oldest expiry first). Returns what it did to each job.
        """
        return self._many(
            SweptJob, "ops.SweepExpiredLeases", True, Limit=limit, RequestId=current_request_id(request_id)
        )

    def cancel_job_by_operator(self, job_id: Id, *, request_id: str | None = None, user_id: str | None = None) -> Job:
        """Cancel a queued, running or failed job (a running one loses its holder); ``user_id`` (the operator) is audited."""
        job = self._one(
            Job, "ops.CancelJob", True, JobId=_uuid_param("job_id", job_id), RequestId=current_request_id(request_id),
            UserId=user_id,
        )
        return self._created(job, "ops.CancelJob")

    def retry_jobs(
        self, job_ids: Sequence[Id], *, request_id: str | None = None, user_id: str | None = None
    ) -> list[JobOutcome]:
        """Queue a selection of failed jobs again in one call and one transaction; each job's outcome, in order."""
        return self._many(
            JobOutcome, "ops.RetryJobs", True, JobIds=_json_param("job_ids", _ids("job_ids", job_ids)),
            RequestId=current_request_id(request_id), UserId=user_id,
        )

    def cancel_jobs(
        self, job_ids: Sequence[Id], *, request_id: str | None = None, user_id: str | None = None
    ) -> list[JobOutcome]:
        """Cancel a selection of queued, running or failed jobs in one call and one transaction; each job's outcome."""
        return self._many(
            JobOutcome, "ops.CancelJobs", True, JobIds=_json_param("job_ids", _ids("job_ids", job_ids)),
            RequestId=current_request_id(request_id), UserId=user_id,
        )

    # ----- the operations console and the metrics scrape ----------------------------------------
    def failed_jobs(
        self,
        *,
        model_name: str | None = None,
        job_type: JobType | None = None,
        after_job_id: Id | None = None,
        limit: int = 50,
    ) -> list[FailedJob]:
        """Failed jobs newest first, with error and stack; the next page starts after the last job's id (``after_job_id``)."""
        return self._many(
            FailedJob,
            "ops.ListFailedJobs",
            False,
            ModelName=model_name,
            JobType=job_type,
            AfterJobId=_uuid_param("after_job_id", after_job_id),
            Limit=limit,
        )

    def held_jobs(self, *, after_job_id: Id | None = None, limit: int = 100) -> list[HeldJob]:
        """Running jobs with their holder and lease, expired leases first; keyset paged by ``after_job_id``."""
        return self._many(HeldJob, "ops.ListHeldJobs", False, AfterJobId=_uuid_param("after_job_id", after_job_id), Limit=limit)

    def request_trail(self, request_id: str, *, after_audit_id: int | None = None, limit: int = 200) -> RequestTrail:
        """Every audit row of one request (X-Request-ID) in order, and the jobs they name; keyset paged by ``after_audit_id``."""
        entries, jobs = self._sets(
            (TrailEntry, TrailJob), "ops.GetRequestTrail", False, RequestId=request_id, AfterAuditId=after_audit_id, Limit=limit
        )
        return RequestTrail(tuple(entries), tuple(jobs))

    def job_detail(self, job_id: Id, *, limit: int = 500) -> JobHistory:
        """One job with its song, and its state history from the audit trail. Raises JobNotFound."""
        jobs, history = self._sets(
            (JobDetail, TrailEntry), "ops.GetJobDetail", False, JobId=_uuid_param("job_id", job_id), Limit=limit
        )
        return JobHistory(self._created(jobs[0] if jobs else None, "ops.GetJobDetail"), tuple(history))

    def find_songs(
        self, *, file_id: str | None = None, title: str | None = None, after_song_id: Id | None = None, limit: int = 50
    ) -> list[Song]:
        """Songs by file id, or whose title starts with ``title`` (title order; ``after_song_id``: the last song's id)."""
        return self._many(
            Song, "ops.FindSongs", False, FileId=file_id, Title=title, AfterSongId=_uuid_param("after_song_id", after_song_id),
            Limit=limit,
        )

    def throughput(self, *, minutes: int = 1440) -> list[ThroughputMinute]:
        """Jobs completed and failed per minute over the last ``minutes`` (minutes with none left out)."""
        return self._many(ThroughputMinute, "ops.GetThroughput", False, Minutes=minutes)

    def queue_metrics(self, *, window_seconds: int = 300) -> QueueMetrics:
        """One call for a whole /metrics scrape: open work per model and type, and what finished in the window."""
        queue, finished = self._sets(
            (QueueGauge, FinishedWindow), "ops.GetQueueMetrics", False, WindowSeconds=window_seconds
        )
        return QueueMetrics(tuple(queue), tuple(finished))

    def queue_status(self) -> list[QueueStatus]:
        """Queued, running, failed and expired-lease counts per model and job type, with the oldest queued age."""
        return self._many(QueueStatus, "ops.GetQueueStatus", False)

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

