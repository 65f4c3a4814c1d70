/* 0048 - Babelfish: each role's table rights narrowed to what its procedures use (issue #18, section 4).

   SQL Server and Azure SQL: nothing. The roles hold no right on any table there (ownership chaining).

   Babelfish 4.2 runs procedures with the caller's rights, so 0009 and 0024 granted whole-table rights,
   wider than the procedures use. Measured on Babelfish 4.2 (PostgreSQL 16) under FreeTDS and Microsoft's
   ODBC Driver 18 (README, Roles): a column-level GRANT is accepted and enforced, inside procedures too,
   for the columns an UPDATE sets or OUTPUT returns and for every column a statement reads (select list,
   WHERE, JOIN; COUNT(*) needs one readable column); a column-level REVOKE is accepted and changes
   nothing (the column stays readable, in a new session too), while a table-level REVOKE also takes the
   right off every column (PostgreSQL); a view is read with its owner's rights (the caller needs SELECT
   on the view only); a foreign key is checked with the owner's rights (no SELECT on the referenced
   table); DENY is refused ("'DENY' is not currently supported in Babelfish").
   So:
     songsdb_ops    loses UPDATE and DELETE on dbo.AuditLog (audit rows are append-only: no procedure
                    updates one, and deleting them is the cleanup's, songsdb_retention's since 0047),
                    DELETE on every table and UPDATE on dbo.Songs (the cleanup's only), and SELECT on
                    the results (read only through dbo.vw_JobSummary, with the view's rights); it may
                    update only the job columns a retry, a cancel or a sweep sets, and only an
                    attempt's Outcome and EndedAt, reading the attempts' JobId and Outcome only (no
                    claim token of dbo.JobAttempts).
     songsdb_worker loses SELECT on dbo.Songs (no worker procedure reads it; the results' foreign keys
                    are checked with the owner's rights); it may update only the job columns a claim,
                    a heartbeat, a completion or a failure sets, and only an attempt's Outcome and EndedAt.
     songsdb_web    may update only the song columns api.UpdateSong and api.ImportSongs set and the job
                    columns api.UpdateJobStatus sets, and read only JobId of dbo.JobAttempts (which
                    api.DeleteSong deletes by; no claim token of an attempt).
   No role may now change a job's JobId, SongId, ModelName, JobType, Priority, MaxAttempts, JobKey or
   CreatedAt, nor a song's Id, FileId, SongKey or UploadedAt, directly or otherwise.
   What cannot be narrowed: the worker and web roles compare and return ProcessingJobs.ClaimToken
   (core.CheckLease, core.ReturnJob) and the worker's dbo.JobAttempts.ClaimToken (the repeat of a
   report), and PostgreSQL checks a column read in a WHERE clause like one in the select list, so those
   logins can read every job's claim token directly. Rows cannot be limited by T-SQL grants at all
   (PostgreSQL's row-level security is not reachable from T-SQL).

   So a right is narrowed by revoking it on the table and then granting it on the columns, in that
   order; never by a column-level REVOKE, which Babelfish 4.2 accepts and ignores.
   Each REVOKE is a contract step the linter names: it cuts only rights no procedure of this release
   uses (the cleanup's, which moved to songsdb_retention in 0047, and table rights no statement needs),
   so no call of this release's code is refused; a cleanup still run as the operations login is (run it
   as the retention login: README, Cleanup). */
{% if engine == "babelfish" %}
-- songsdb_ops: append-only audit, no deletes, no song writes, no results, jobs and attempts by column
-- songsdb:lint-ok revoke-or-deny audit rows are append-only; the cleanup, the only deleter, moved to songsdb_retention (0047)
REVOKE UPDATE, DELETE ON dbo.AuditLog FROM songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny only the cleanup updated or deleted songs; it moved to songsdb_retention (0047)
REVOKE UPDATE, DELETE ON dbo.Songs FROM songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny only the cleanup deleted jobs; updates are granted again by column below
REVOKE UPDATE, DELETE ON dbo.ProcessingJobs FROM songsdb_ops;
GO
GRANT UPDATE (
    Status, Attempts, AvailableAt, Delayed, CompletedAt, ErrorMessage, ClaimToken, LeaseExpiresAt, HeldBy,
    RequestId, UpdatedAt
) ON dbo.ProcessingJobs TO songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny the results were read by the cleanup only (the view reads them with its owner's rights)
REVOKE SELECT, DELETE ON dbo.SeparatedTracks FROM songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny the results were read by the cleanup only (the view reads them with its owner's rights)
REVOKE SELECT, DELETE ON dbo.Transcriptions FROM songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny the results were read by the cleanup only (the view reads them with its owner's rights)
REVOKE SELECT, DELETE ON dbo.ChromaAnalysis FROM songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny only the cleanup deleted attempts; the sweep's reads and updates are granted again by column below
REVOKE SELECT, UPDATE, DELETE ON dbo.JobAttempts FROM songsdb_ops;
GO
GRANT SELECT (JobId, Outcome), UPDATE (Outcome, EndedAt) ON dbo.JobAttempts TO songsdb_ops;
GO
-- songsdb_worker: no songs; jobs and attempts updated by column
-- songsdb:lint-ok revoke-or-deny no worker procedure reads songs (the results' foreign keys are checked with the owner's rights)
REVOKE SELECT ON dbo.Songs FROM songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on exactly the columns the worker procedures set
REVOKE UPDATE ON dbo.ProcessingJobs FROM songsdb_worker;
GO
GRANT UPDATE (
    Status, Progress, Message, RequestId, Attempts, AvailableAt, Delayed, UpdatedAt, StartedAt, CompletedAt,
    ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
) ON dbo.ProcessingJobs TO songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on exactly the columns the worker procedures set
REVOKE UPDATE ON dbo.JobAttempts FROM songsdb_worker;
GO
GRANT UPDATE (Outcome, EndedAt) ON dbo.JobAttempts TO songsdb_worker;
GO
-- songsdb_web: songs and jobs updated by column; of the attempts, their JobId only
-- songsdb:lint-ok revoke-or-deny granted again below on exactly the columns api.UpdateSong and api.ImportSongs set
REVOKE UPDATE ON dbo.Songs FROM songsdb_web;
GO
GRANT UPDATE (
    FileName, OriginalFileName, FileExtension, FileSize, Duration, Title, Artist, Album, Metadata, Status, LastModified
) ON dbo.Songs TO songsdb_web;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on exactly the columns api.UpdateJobStatus and api.DeleteSong set
REVOKE UPDATE ON dbo.ProcessingJobs FROM songsdb_web;
GO
GRANT UPDATE (
    Status, Progress, Message, RequestId, Attempts, AvailableAt, Delayed, UpdatedAt, StartedAt, CompletedAt,
    ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
) ON dbo.ProcessingJobs TO songsdb_web;
GO
-- songsdb:lint-ok revoke-or-deny api.DeleteSong reads only JobId of the attempts, granted again below
REVOKE SELECT ON dbo.JobAttempts FROM songsdb_web;
GO
GRANT SELECT (JobId) ON dbo.JobAttempts TO songsdb_web;
GO
{% else %}
SET NOCOUNT ON; -- nothing to narrow on this engine: the roles hold no table right
GO
{% endif %}
