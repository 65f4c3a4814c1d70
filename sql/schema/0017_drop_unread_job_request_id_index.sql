/* 0017 - IX_ProcessingJobs_RequestId goes: nothing reads it, and every job change wrote it.

   No procedure, view or client call filters or orders dbo.ProcessingJobs by RequestId (a request's
   history is read from dbo.AuditLog, through IX_AuditLog_RequestId_Id): the index served no plan.
   Its key changed on every claim, status change and retry (RequestId = COALESCE(@RequestId,
   RequestId)), so each of those wrote one more B-tree (the review of 2026-11-30, m5). No procedure
   names it in an index hint, so no plan fails without it.

   A contract step, taken knowingly: the code of the previous release reads nothing through it
   either. DROP INDEX of a nonclustered index changes metadata only (large indexes' pages are
   deallocated after the commit); it takes a Sch-M lock on dbo.ProcessingJobs for that moment,
   waiting at most the deployment's SET LOCK_TIMEOUT for it. One change in this script's
   transaction. Babelfish drops the PostgreSQL index the same way. */
DROP INDEX IX_ProcessingJobs_RequestId ON dbo.ProcessingJobs;
GO
