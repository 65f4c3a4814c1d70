-- songsdb:no-transaction
/* 0028 - finished jobs by the time they finished: the console's throughput chart and the metrics scrape.

   ops.GetThroughput (completions and failures per minute over a window, 24 hours on the console's
   overview) and ops.GetQueueMetrics' second result (completions, failures and claim latency per
   model and job type over the last minutes) read the jobs that finished in a time window. No index
   had CompletedAt first (IX_ProcessingJobs_Status_CompletedAt is keyed by status, and has neither
   the model nor the type), so each read would have scanned dbo.ProcessingJobs, the whole history.
   This index is keyed by CompletedAt (then Id, so its order is the same on every engine) and
   carries what both procedures read: a window is one range seek, reading exactly the jobs that
   finished in it, with no lookup.

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
        WHERE i.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND i.name = N'IX_ProcessingJobs_Finished'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND r.name = N'IX_ProcessingJobs_Finished'
    )
BEGIN
    -- Not RESUMABLE: CREATE INDEX cannot resume the build of a filtered index (CREATE INDEX (Transact-SQL),
    -- resumable operations); a stopped build is started again by deploying again.
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE INDEX IX_ProcessingJobs_Finished ON dbo.ProcessingJobs (CompletedAt, Id)
            INCLUDE (Status, ModelName, JobType, CreatedAt, StartedAt)
            WHERE Status IN (''completed'', ''failed'')
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)));');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE INDEX IX_ProcessingJobs_Finished ON dbo.ProcessingJobs (CompletedAt, Id)
            INCLUDE (Status, ModelName, JobType, CreatedAt, StartedAt)
            WHERE Status IN (''completed'', ''failed'')
            WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read under a shared lock, deployed in a quiet window (header)
        CREATE INDEX IX_ProcessingJobs_Finished ON dbo.ProcessingJobs (CompletedAt, Id)
            INCLUDE (Status, ModelName, JobType, CreatedAt, StartedAt)
            WHERE Status IN ('completed', 'failed');
END;
{% else %}
CREATE INDEX IX_ProcessingJobs_Finished ON dbo.ProcessingJobs (CompletedAt, Id)
    INCLUDE (Status, ModelName, JobType, CreatedAt, StartedAt)
    WHERE Status IN ('completed', 'failed');
{% endif %}
GO
