/* 0047 - songsdb_retention: the role only the cleanup uses (issue #18, section 4).

   dbo.sp_CleanupOldData deletes finished jobs, their results and attempts, finished songs and old
   audit rows. On Babelfish 4.2, which has no ownership chaining (0009), it runs with its caller's
   rights, so whoever runs it must hold DELETE on those tables, the audit log included, and may then
   delete any row of them directly. That right was songsdb_ops's, and the operations console holds
   that login (the console review's M1). It moves to a login of its own, which runs the cleanup
   (`songsdb cleanup`, cron) and nothing else.

   Every engine: the role, and EXECUTE on dbo.sp_CleanupOldData and ops.CleanupOldData (the client's
   door to it), granted in those procedures' own files (repeatable: re-granted on every deploy).
   SQL Server and Azure SQL: nothing else; ownership chaining carries the procedure to the tables.
   Babelfish: EXECUTE on core (the cleanup's helpers: core.CleanupAuditLog, core.RecordCleanupStep,
   core.WriteAudit, core.CheckText, core.TextLength) and exactly the table rights the cleanup uses,
   measured on Babelfish 4.2 under FreeTDS and Microsoft's ODBC Driver 18 (README, Roles):
     DELETE, and SELECT on the columns its WHERE clauses, joins and counts read (PostgreSQL checks
     column privileges there, also inside a procedure), on dbo.ProcessingJobs, dbo.SeparatedTracks,
     dbo.Transcriptions, dbo.ChromaAnalysis, dbo.JobAttempts, dbo.Songs and dbo.AuditLog;
     INSERT on dbo.AuditLog (each step's 'cleaned_up' row).
   It may read no title, path, text, token or audit detail, and update nothing: its DELETEs are the
   ones any caller of the cleanup needs, and the floors (7 and 90 days) hold only inside the procedure.

   Creating a role and granting to it changes no existing right: nothing a running session uses is
   cut (0048 takes the cleanup's rights from songsdb_ops). */
CREATE ROLE songsdb_retention;
GO
-- the cleanup's two doors, where they exist already (an upgrade: a deploy stopped at 0045 applied this
-- release's procedures before this script made the role); on a new database the procedure files grant it
IF OBJECT_ID(N'dbo.sp_CleanupOldData', N'P') IS NOT NULL
    EXEC (N'GRANT EXECUTE ON dbo.sp_CleanupOldData TO songsdb_retention;');
GO
IF OBJECT_ID(N'ops.CleanupOldData', N'P') IS NOT NULL
    EXEC (N'GRANT EXECUTE ON ops.CleanupOldData TO songsdb_retention;');
GO
{% if engine == "babelfish" %}
GRANT EXECUTE ON SCHEMA::core TO songsdb_retention;
GO
GRANT SELECT (Id, JobId, SongId, Status, CompletedAt), DELETE ON dbo.ProcessingJobs TO songsdb_retention;
GO
GRANT SELECT (JobId), DELETE ON dbo.SeparatedTracks TO songsdb_retention;
GO
GRANT SELECT (JobId, SongId), DELETE ON dbo.Transcriptions TO songsdb_retention;
GO
GRANT SELECT (JobId, SongId), DELETE ON dbo.ChromaAnalysis TO songsdb_retention;
GO
GRANT SELECT (JobId), DELETE ON dbo.JobAttempts TO songsdb_retention;
GO
GRANT SELECT (Id, Status, LastModified), DELETE ON dbo.Songs TO songsdb_retention;
GO
GRANT SELECT (Id, [Timestamp]), INSERT, DELETE ON dbo.AuditLog TO songsdb_retention;
GO
{% endif %}
