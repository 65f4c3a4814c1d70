-- songsdb:no-transaction
/* 0023 - one job per job key: a unique filtered index on dbo.ProcessingJobs (JobKey).

   api.CreateJob and api.EnqueueJobs look a key up here before they insert (a seek), and the
   index is what keeps two concurrent creates with one key from both inserting: the second insert
   fails with a duplicate key (2601), which both procedures catch and answer by reading the job the
   first one committed. (A HOLDLOCK on the look-up would serialise them on SQL Server, but Babelfish
   parses the hint and ignores it; the unique index holds on both.) Filtered on JobKey IS NOT NULL:
   jobs without a key, most of them, are not in it. INCLUDE (SongId, ModelName, JobType): the
   look-up compares them without a lookup into the table.

   One index, built without a transaction, online where the edition can, exactly as 0016 (read its
   header for the editions, RESUMABLE and WAIT_AT_LOW_PRIORITY); Babelfish builds a partial unique
   index. */
{% if engine == "sqlserver" %}
IF
    NOT EXISTS (
        SELECT 1 FROM sys.indexes AS i
        WHERE i.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND i.name = N'IX_ProcessingJobs_JobKey'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.ProcessingJobs') AND r.name = N'IX_ProcessingJobs_JobKey'
    )
BEGIN
    -- Not RESUMABLE: CREATE INDEX cannot resume the build of a filtered index (CREATE INDEX (Transact-SQL),
    -- resumable operations); a stopped build is started again by deploying again.
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE UNIQUE INDEX IX_ProcessingJobs_JobKey ON dbo.ProcessingJobs (JobKey)
            INCLUDE (SongId, ModelName, JobType)
            WHERE JobKey IS NOT NULL
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)));');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE UNIQUE INDEX IX_ProcessingJobs_JobKey ON dbo.ProcessingJobs (JobKey)
            INCLUDE (SongId, ModelName, JobType)
            WHERE JobKey IS NOT NULL
            WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read of ProcessingJobs under a shared lock, deployed in a quiet window (0016's header)
        CREATE UNIQUE INDEX IX_ProcessingJobs_JobKey ON dbo.ProcessingJobs (JobKey)
            INCLUDE (SongId, ModelName, JobType)
            WHERE JobKey IS NOT NULL;
END;
{% else %}
CREATE UNIQUE INDEX IX_ProcessingJobs_JobKey ON dbo.ProcessingJobs (JobKey)
    INCLUDE (SongId, ModelName, JobType)
    WHERE JobKey IS NOT NULL;
{% endif %}
GO
