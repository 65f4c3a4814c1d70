"""Operations' methods (role ``ops``, schema ``ops``): the queue's state, job summaries, retries, cleanup.

:class:`OpsApi` is a mixin over :class:`~songsdb.executor.Executor`: every method is one call of
``ops.*``. Use it as :class:`~songsdb.OpsClient` (the operations login) or inside
:class:`~songsdb.SongsDatabase`.
"""

from __future__ import annotations

from songsdb.context import current_request_id
from songsdb.executor import Executor
from songsdb.models import CleanupCount, CleanupReport, Job, JobStatus, JobSummary, QueueStatus, SweptJob
from songsdb.params import Id, _uuid_param

__all__ = ["OpsApi", "CLEANUP_MARGIN"]

CLEANUP_MARGIN = 120  # seconds a cleanup call may run past its time limit: the batch under way, the audit rows


class OpsApi(Executor):
    """The ``ops.*`` methods: what the operations login (``songsdb_ops``) may run."""

    def retry_job(self, job_id: Id, *, request_id: str | None = None) -> Job:
        """Queue a failed job again with a fresh budget of attempts."""
        job = self._one(
            Job, "ops.RetryJob", True, JobId=_uuid_param("job_id", job_id), RequestId=current_request_id(request_id)
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

