-- songsdb:no-transaction
/* 0025 - the claim seeks past no back-off-delayed job (issue #21 §4): IX_ProcessingJobs_ClaimReady.

   IX_ProcessingJobs_Claim (0011) holds every queued job, those whose AvailableAt is still to come
   (worker.FailJob's back-off) included, and AvailableAt <= now is a residual filter on it: a claim
   read every delayed job ahead of the first available one in claim order (100,000 delayed jobs,
   100,000 rows read per claim). A filter cannot compare with the clock, so a job waiting out its
   back-off is marked instead: ProcessingJobs.Delayed (0024) is 1 from worker.FailJob's requeue with
   a delay until a claim finds it due and sets it back to 0 (IX_ProcessingJobs_Delayed, 0027). This
   index is IX_ProcessingJobs_Claim without the delayed jobs: the claim's TOP (1) per job type seeks
   to the first claimable job whatever waits beside it. IX_ProcessingJobs_Claim stays until a later
   release drops it (expand/contract: code of the previous release still reads it).

   One index, built without a transaction, online where the edition can, exactly as 0016 (read its
   header for the editions, RESUMABLE and WAIT_AT_LOW_PRIORITY); Babelfish builds a partial index. */
{% if engine == "sqlserver" %}
IF
    NOT EXISTS (
        SELECT 1 FROM sys.indexes AS i
        WHERE i.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND i.name = N'IX_ProcessingJobs_ClaimReady'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND r.name = N'IX_ProcessingJobs_ClaimReady'
    )
BEGIN
    -- Not RESUMABLE: CREATE INDEX cannot resume the build of a filtered index (CREATE INDEX (Transact-SQL),
    -- resumable operations); a stopped build is started again by deploying again.
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE INDEX IX_ProcessingJobs_ClaimReady ON dbo.ProcessingJobs (JobType, Priority DESC, Id)
            INCLUDE (ModelName, AvailableAt)
            WHERE Status = ''queued'' AND Delayed = 0
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)));');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE INDEX IX_ProcessingJobs_ClaimReady ON dbo.ProcessingJobs (JobType, Priority DESC, Id)
            INCLUDE (ModelName, AvailableAt)
            WHERE Status = ''queued'' AND Delayed = 0
            WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read of ProcessingJobs under a shared lock, deployed in a quiet window (0016's header)
        CREATE INDEX IX_ProcessingJobs_ClaimReady ON dbo.ProcessingJobs (JobType, Priority DESC, Id)
            INCLUDE (ModelName, AvailableAt)
            WHERE Status = 'queued' AND Delayed = 0;
END;
{% else %}
CREATE INDEX IX_ProcessingJobs_ClaimReady ON dbo.ProcessingJobs (JobType, Priority DESC, Id)
    INCLUDE (ModelName, AvailableAt)
    WHERE Status = 'queued' AND Delayed = 0;
{% endif %}
GO
