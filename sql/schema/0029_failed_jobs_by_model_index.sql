-- songsdb:no-transaction
/* 0029 - failed jobs of one model, newest first: the console's failed-jobs list filtered by model.

   ops.ListFailedJobs pages through failed jobs newest first (CreatedAt DESC, Id DESC: a job's
   CreatedAt never changes, so a page's last job is a stable keyset cursor even after it is retried
   or cancelled). Unfiltered, IX_ProcessingJobs_Status_CreatedAt (Status, CreatedAt, Id) serves it; filtered by model (and by
   model and job type, the type then a residual filter on this model's failed jobs only) it is a
   seek on this index, in the page's order.

   One index, built without a transaction and online where the edition can (the pattern of 0016:
   SERVERPROPERTY('EngineEdition') 3, 5, 8: ONLINE = ON, RESUMABLE = ON, and on SQL Server 2022+ and
   Azure WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF), so the
   application's queries go first and a stopped build is resumed by running the script again; other
   editions build it offline under a shared lock: deploy it in a quiet window there). Filtered, so it
   holds only the rows its readers want and costs a write only when a job enters or leaves them.
   Babelfish (PostgreSQL) builds it as a partial index. */
{% if engine == "sqlserver" %}
IF
    NOT EXISTS (
        SELECT 1 FROM sys.indexes AS i
        WHERE i.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND i.name = N'IX_ProcessingJobs_FailedByModel'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND r.name = N'IX_ProcessingJobs_FailedByModel'
    )
BEGIN
    -- Not RESUMABLE: CREATE INDEX cannot resume the build of a filtered index (CREATE INDEX (Transact-SQL),
    -- resumable operations); a stopped build is started again by deploying again.
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE INDEX IX_ProcessingJobs_FailedByModel ON dbo.ProcessingJobs (ModelName, CreatedAt, Id)
            INCLUDE (JobType)
            WHERE Status = ''failed''
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)));');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE INDEX IX_ProcessingJobs_FailedByModel ON dbo.ProcessingJobs (ModelName, CreatedAt, Id)
            INCLUDE (JobType)
            WHERE Status = ''failed''
            WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read under a shared lock, deployed in a quiet window (header)
        CREATE INDEX IX_ProcessingJobs_FailedByModel ON dbo.ProcessingJobs (ModelName, CreatedAt, Id)
            INCLUDE (JobType)
            WHERE Status = 'failed';
END;
{% else %}
CREATE INDEX IX_ProcessingJobs_FailedByModel ON dbo.ProcessingJobs (ModelName, CreatedAt, Id)
    INCLUDE (JobType)
    WHERE Status = 'failed';
{% endif %}
GO
