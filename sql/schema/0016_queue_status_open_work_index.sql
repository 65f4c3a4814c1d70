-- songsdb:no-transaction
/* 0016 - a dashboard poll of dbo.vw_QueueStatus reads the open work only, not the job table.

   The view counts queued, running and failed jobs per model and job type, with the oldest queued
   job's CreatedAt and the running jobs' LeaseExpiresAt (WHERE Status IN ('queued', 'running',
   'failed') GROUP BY ModelName, JobType). No index had those columns together, so every poll
   scanned dbo.ProcessingJobs, the whole history (the review of 2026-11-30, M8). This filtered
   index holds the open work only, keyed in the view's GROUP BY order, with the two columns it
   reads included: a poll scans it in order and aggregates as it goes (no sort, no lookup). It is
   written when a job enters, leaves or moves between those statuses, and when a running job's
   lease is renewed (LeaseExpiresAt); completed and cancelled jobs leave it.

   One index, built without a transaction (the linter's index-in-transaction rule; a RESUMABLE
   build cannot run in a user transaction), and online where the edition has online index builds:
   SERVERPROPERTY('EngineEdition') 3 (Enterprise, Developer), 5 (Azure SQL Database), 8 (Azure SQL
   Managed Instance). There it is ONLINE = ON and RESUMABLE = ON (SQL Server 2019+: a build stopped
   by a failover or a KILL is resumed by running this script again, which the guard below lets
   through while sys.index_resumable_operations lists it), and on SQL Server 2022+ and Azure it
   asks for its short table locks with WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES,
   ABORT_AFTER_WAIT = SELF): it lets the application's queries go first and gives up, failing the
   deploy, rather than queue them behind itself (CREATE INDEX (Transact-SQL), ONLINE and RESUMABLE;
   Microsoft Learn, "Create index and resumable constraint enhancements" in SQL Server 2022's
   T-SQL enhancements: WAIT_AT_LOW_PRIORITY extended to CREATE INDEX; "Guidelines for online index
   operations"). Other editions (Standard, Express) cannot build online: there the build reads the
   table once under a shared lock, so job writes wait for it; deploy this script in a quiet window.
   Babelfish (PostgreSQL) builds it as a partial index; it has no online build in T-SQL. */
{% if engine == "sqlserver" %}
IF
    NOT EXISTS (
        SELECT 1 FROM sys.indexes AS i
        WHERE i.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND i.name = N'IX_ProcessingJobs_OpenWork'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND r.name = N'IX_ProcessingJobs_OpenWork'
    )
BEGIN
    -- Not RESUMABLE: CREATE INDEX cannot resume the build of a filtered index (CREATE INDEX (Transact-SQL),
    -- resumable operations); a stopped build is started again by deploying again.
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE INDEX IX_ProcessingJobs_OpenWork ON dbo.ProcessingJobs (ModelName, JobType, Status)
            INCLUDE (CreatedAt, LeaseExpiresAt)
            WHERE Status IN (''queued'', ''running'', ''failed'')
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)));');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE INDEX IX_ProcessingJobs_OpenWork ON dbo.ProcessingJobs (ModelName, JobType, Status)
            INCLUDE (CreatedAt, LeaseExpiresAt)
            WHERE Status IN (''queued'', ''running'', ''failed'')
            WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read of ProcessingJobs under a shared lock, deployed in a quiet window (header)
        CREATE INDEX IX_ProcessingJobs_OpenWork ON dbo.ProcessingJobs (ModelName, JobType, Status)
            INCLUDE (CreatedAt, LeaseExpiresAt)
            WHERE Status IN ('queued', 'running', 'failed');
END;
{% else %}
CREATE INDEX IX_ProcessingJobs_OpenWork ON dbo.ProcessingJobs (ModelName, JobType, Status)
    INCLUDE (CreatedAt, LeaseExpiresAt)
    WHERE Status IN ('queued', 'running', 'failed');
{% endif %}
GO
