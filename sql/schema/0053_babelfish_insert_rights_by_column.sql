/* 0053 - Babelfish: each role may insert only the columns its procedures insert (issue #18, section 4).

   SQL Server and Azure SQL: nothing. The roles hold no right on any table there (ownership chaining, 0009).

   Babelfish 4.2 runs procedures with the caller's rights, so 0009 and 0024 granted whole-table INSERT, and a
   compromised login could insert rows with any values directly (the attacker's reading of session 7):
   audit rows naming any RecordedBy (M1), a job already 'running' with a claim token, attempts and lease of
   its choosing, a song with a chosen SongKey, which the dbo.SongKeys sequence hands out again later and so
   fails a later upload with a duplicate key (M2), results and attempts with any CreatedAt, Outcome or
   EndedAt. A column-level INSERT right is enforced there (measured on Babelfish 4.2 under FreeTDS and
   Microsoft's ODBC Driver 18, README, Roles): an INSERT that names a column the role may not insert is
   refused ("permission denied for table ...", native 33557097 under both drivers), inside a procedure too;
   one that leaves the column out gets the column's default (IDENTITY, NEXT VALUE FOR dbo.SongKeys,
   SYSUTCDATETIME(), 'queued', ORIGINAL_LOGIN() evaluated as the inserting login), which needs no right on
   the column (the sequence's default needs UPDATE on dbo.SongKeys, the web role's since 0040); OUTPUT
   inserted.x needs SELECT on x, which the roles keep where their procedures use OUTPUT (web: Songs,
   ProcessingJobs, AuditLog). So each role may now insert:
     songsdb_web    dbo.Songs: the columns api.CreateSong and api.ImportSongs insert (not Id, SongKey, Status,
                    UploadedAt, LastModified: NEWID(), the sequence, 'uploaded' and the clock); dbo.ProcessingJobs:
                    the columns api.CreateJob and api.EnqueueJobs insert (a new job is 'queued', no attempt,
                    no holder, no token, no lease: the defaults and NULLs; not JobId, NEWID()).
     songsdb_worker dbo.JobAttempts: the columns a claim inserts (an attempt starts open: no Outcome, no
                    EndedAt); the results: the columns core.InsertSeparatedTracks, core.InsertTranscription and
                    core.InsertChromaAnalysis insert (not Id, not CreatedAt).
     every role     dbo.AuditLog: the columns core.WriteAudit and the set-based audit inserts name (not Id, not
                    [Timestamp]), RecordedBy included for now: the previous release's procedures name it, and
                    they run under these rights from this script until this release's procedures replace them.
                    0054 takes RecordedBy out after that (a contract step applied after the procedures).
   No procedure's column list changes in this release except the audit inserts' RecordedBy, so every right
   kept here is one the previous release's procedures and this release's both use: no call of either is
   refused during the deploy.

   A right is narrowed by revoking it on the table and then granting it on the columns, in one transaction
   (this script's), as 0048 does: a column-level REVOKE is accepted and changes nothing on Babelfish 4.2.
   What stays: a role still chooses the values of the columns its procedures insert (the web login may
   insert a queued job with any priority for any song; the worker an open attempt with any token), and
   rows cannot be limited by T-SQL rights (0048). */
{% if engine == "babelfish" %}
-- songsdb:lint-ok revoke-or-deny granted again below on the columns api.CreateSong and api.ImportSongs insert, which both releases' procedures insert
REVOKE INSERT ON dbo.Songs FROM songsdb_web;
GO
GRANT INSERT (
    FileId, FileName, Title, Artist, Album, FileSize, Duration, FileExtension, OriginalFileName, Metadata
) ON dbo.Songs TO songsdb_web;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on the columns api.CreateJob and api.EnqueueJobs insert, which both releases' procedures insert
REVOKE INSERT ON dbo.ProcessingJobs FROM songsdb_web;
GO
GRANT INSERT (SongId, ModelName, JobType, Priority, MaxAttempts, RequestId, JobKey) ON dbo.ProcessingJobs TO songsdb_web;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on the columns worker.ClaimNextJob and worker.ClaimNextJobs insert, which both releases' procedures insert
REVOKE INSERT ON dbo.JobAttempts FROM songsdb_worker;
GO
GRANT INSERT (JobId, Attempt, ClaimToken, WorkerId, ClaimedAt) ON dbo.JobAttempts TO songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on the columns core.InsertSeparatedTracks inserts, which both releases' procedures insert
REVOKE INSERT ON dbo.SeparatedTracks FROM songsdb_worker;
GO
GRANT INSERT (SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration) ON dbo.SeparatedTracks TO songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on the columns core.InsertTranscription inserts, which both releases' procedures insert
REVOKE INSERT ON dbo.Transcriptions FROM songsdb_worker;
GO
GRANT INSERT (SongId, JobId, Language, FullText, Segments, ModelName) ON dbo.Transcriptions TO songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on the columns core.InsertChromaAnalysis inserts, which both releases' procedures insert
REVOKE INSERT ON dbo.ChromaAnalysis FROM songsdb_worker;
GO
GRANT INSERT (
    SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence, ChromaVector
) ON dbo.ChromaAnalysis TO songsdb_worker;
GO
-- the audit log: the previous release's column list (with RecordedBy) until 0054, after this release's procedures
-- songsdb:lint-ok revoke-or-deny granted again below on every column either release's audit inserts name
REVOKE INSERT ON dbo.AuditLog FROM songsdb_web;
GO
GRANT INSERT (
    RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source, RecordedBy
) ON dbo.AuditLog TO songsdb_web;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on every column either release's audit inserts name
REVOKE INSERT ON dbo.AuditLog FROM songsdb_worker;
GO
GRANT INSERT (
    RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source, RecordedBy
) ON dbo.AuditLog TO songsdb_worker;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on every column either release's audit inserts name
REVOKE INSERT ON dbo.AuditLog FROM songsdb_ops;
GO
GRANT INSERT (
    RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source, RecordedBy
) ON dbo.AuditLog TO songsdb_ops;
GO
-- songsdb:lint-ok revoke-or-deny granted again below on every column either release's audit inserts name
REVOKE INSERT ON dbo.AuditLog FROM songsdb_retention;
GO
GRANT INSERT (
    RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source, RecordedBy
) ON dbo.AuditLog TO songsdb_retention;
GO
{% else %}
SET NOCOUNT ON; -- nothing to narrow on this engine: the roles hold no table right
GO
{% endif %}
