/* 0018 - IX_AuditLog_Timestamp goes: the cleanup finds old audit rows in Id order instead.

   Its only reader was dbo.sp_CleanupOldData's audit step (MAX(Id) of the rows older than the audit
   cutoff). That step now walks the clustered key (Id) from its start up to the first row that is
   not old: Id and Timestamp grow together, both set when a row is inserted (IDENTITY and DEFAULT
   SYSUTCDATETIME(); no procedure sets Timestamp), so the walk reads only the rows the run deletes.
   Every audited write in the application (every mutation writes one) maintained this B-tree for
   that one read (the review of 2026-11-30, M5).

   A contract step: the previous release's dbo.sp_CleanupOldData, which still runs until the
   procedures of this release are deployed right after the versioned scripts, would scan
   dbo.AuditLog instead of seeking; don't run a cleanup during the deployment. No procedure names
   the index in a hint, so nothing fails without it. DROP INDEX of a nonclustered index changes
   metadata only (large indexes' pages are deallocated after the commit); it takes a Sch-M lock on
   dbo.AuditLog for that moment, waiting at most the deployment's SET LOCK_TIMEOUT for it. One
   change in this script's transaction. */
DROP INDEX IX_AuditLog_Timestamp ON dbo.AuditLog;
GO
