-- songsdb:after-repeatables
/* 0054 - Babelfish, the contract step of 0052-0053: no role may insert RecordedBy; songsdb_ops may not read claim tokens.

   SQL Server and Azure SQL: nothing (the roles hold no table right there).

   Applied after this release's views, functions and procedures (the header's after-repeatables line: the
   migrator and the DBA script run such a script after the repeatable scripts, not with the other versioned
   ones), so it cuts only what the previous release's procedures used: during a deploy they run under
   0053's rights, and by the time this script runs they have been replaced. On a new database it runs last.
   A deploy stopped at a maintenance step applies no versioned script after the step, this one included:
   the next complete deploy does.

   1. dbo.AuditLog: each role's INSERT loses RecordedBy (M1 of the attacker's reading of session 7). This
      release's procedures leave the column to its default, ORIGINAL_LOGIN() (0052), so every audit row,
      written by a procedure or inserted directly by a compromised login, records the login that wrote it:
      a direct INSERT naming RecordedBy is refused ("permission denied for table auditlog", measured on
      Babelfish 4.2 under FreeTDS and Microsoft's ODBC Driver 18; README, Roles).
   2. dbo.ProcessingJobs: songsdb_ops reads every column but ClaimToken (L3). No ops procedure reads a
      token: they clear it (SET ClaimToken = NULL needs UPDATE on the column, not SELECT), and core.ReturnJob,
      which ops.CancelJob and ops.RetryJob end with, no longer names the column unless @WithToken = 1 (which
      only worker and web procedures pass). The previous release's core.ReturnJob named it in every call,
      hence this step waits for the procedures. A column added to dbo.ProcessingJobs later needs its own
      GRANT SELECT to songsdb_ops on this engine.
   What cannot be narrowed (README, Roles): songsdb_ops keeps UPDATE of Status, ClaimToken, LeaseExpiresAt and
   HeldBy, since its cancel, retry and sweep set them (to NULL, and Status to 'cancelled', 'queued' or
   'failed'), and PostgreSQL's column right does not tell one value from another: the ops login can still
   set a job 'running' with a token and a lease of its choosing, though it can no longer read a worker's
   token nor call a worker procedure with one. */
{% if engine == "babelfish" %}
-- songsdb:lint-ok revoke-or-deny a contract step applied after this release's procedures, none of which inserts RecordedBy (0052's default); granted again below without it
REVOKE INSERT ON dbo.AuditLog FROM songsdb_web;
GO
GRANT INSERT (RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source) ON dbo.AuditLog TO songsdb_web;
GO
-- songsdb:lint-ok revoke-or-deny a contract step applied after this release's procedures, none of which inserts RecordedBy (0052's default); granted again below without it
REVOKE INSERT ON dbo.AuditLog FROM songsdb_worker;
GO
GRANT INSERT (RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source) ON dbo.AuditLog TO songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny a contract step applied after this release's procedures, none of which inserts RecordedBy (0052's default); granted again below without it
REVOKE INSERT ON dbo.AuditLog FROM songsdb_ops;
GO
GRANT INSERT (RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source) ON dbo.AuditLog TO songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny a contract step applied after this release's procedures, none of which inserts RecordedBy (0052's default); granted again below without it
REVOKE INSERT ON dbo.AuditLog FROM songsdb_retention;
GO
GRANT INSERT (RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source) ON dbo.AuditLog TO songsdb_retention;
GO
-- songsdb:lint-ok revoke-or-deny a contract step applied after this release's procedures, none of which reads ProcessingJobs.ClaimToken as ops; granted again below on every other column
REVOKE SELECT ON dbo.ProcessingJobs FROM songsdb_ops;
GO
GRANT SELECT (
    Id, JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority, Attempts, MaxAttempts,
    CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt, ErrorMessage, ErrorStack, ResultMetadata, WorkerId,
    LeaseExpiresAt, HeldBy, JobKey, Delayed
) ON dbo.ProcessingJobs TO songsdb_ops;
GO
{% else %}
SET NOCOUNT ON; -- nothing to narrow on this engine: the roles hold no table right
GO
{% endif %}
