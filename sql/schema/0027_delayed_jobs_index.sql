-- songsdb:no-transaction
/* 0027 - the jobs waiting out a back-off, by when they come due: IX_ProcessingJobs_Delayed.

   A claim first looks here for delayed jobs whose AvailableAt has come (a seek to the start of the
   range, reading only the due ones) and, under the queue lock, sets their Delayed back to 0, which
   moves them into IX_ProcessingJobs_ClaimReady (0025) and IX_ProcessingJobs_ClaimByModelReady
   (0026). Jobs still waiting are never read.

   One index, built without a transaction, online where the edition can, exactly as 0016 (read its
   header for the editions, RESUMABLE and WAIT_AT_LOW_PRIORITY); Babelfish builds a partial index. */
{% if engine == "sqlserver" %}
IF
    NOT EXISTS (
        SELECT 1 FROM sys.indexes AS i
        WHERE i.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND i.name = N'IX_ProcessingJobs_Delayed'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND r.name = N'IX_ProcessingJobs_Delayed'
    )
BEGIN
    -- Not RESUMABLE: CREATE INDEX cannot resume the build of a filtered index (CREATE INDEX (Transact-SQL),
    -- resumable operations); a stopped build is started again by deploying again.
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE INDEX IX_ProcessingJobs_Delayed ON dbo.ProcessingJobs (AvailableAt, Id)
            INCLUDE (JobType, ModelName)
            WHERE Status = ''queued'' AND Delayed = 1
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)));');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE INDEX IX_ProcessingJobs_Delayed ON dbo.ProcessingJobs (AvailableAt, Id)
            INCLUDE (JobType, ModelName)
            WHERE Status = ''queued'' AND Delayed = 1
            WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read of ProcessingJobs under a shared lock, deployed in a quiet window (0016's header)
        CREATE INDEX IX_ProcessingJobs_Delayed ON dbo.ProcessingJobs (AvailableAt, Id)
            INCLUDE (JobType, ModelName)
            WHERE Status = 'queued' AND Delayed = 1;
END;
{% else %}
CREATE INDEX IX_ProcessingJobs_Delayed ON dbo.ProcessingJobs (AvailableAt, Id)
    INCLUDE (JobType, ModelName)
    WHERE Status = 'queued' AND Delayed = 1;
{% endif %}
GO
