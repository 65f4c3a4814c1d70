/* dbo.sp_CleanupOldData - deletes finished data older than @DaysToKeep days.

   Deletes, in batches of @BatchSize rows (default 1000, below SQL Server's
   lock-escalation threshold of 5000 locks, so other sessions keep working):
     1. results (stems, transcriptions, chroma analyses) of finished jobs
        (completed, failed, cancelled) that completed before the cutoff;
     2. those jobs;
     3. songs that are finished (completed, failed), were last modified before
        the cutoff and have no job left, with their remaining results;
     4. audit rows older than the cutoff.
   Queued and running jobs, and the songs they belong to, are never deleted.
   Only one cleanup runs at a time (a session-owned app lock); each batch is
   its own short transaction, so a failure keeps the batches already done.
   Writes one AuditLog row (EntityType 'system', Action 'cleaned_up').

   Returns one row per table: TableName nvarchar(128), RowsDeleted int.
   Errors: 50001 @DaysToKeep missing; 50002 @DaysToKeep or @BatchSize out of
   range; 50901 another cleanup is running.
   Example: EXEC dbo.sp_CleanupOldData @DaysToKeep = 30; */
IF OBJECT_ID(N'dbo.sp_CleanupOldData', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_CleanupOldData AS RETURN 0;');
GO
ALTER PROCEDURE dbo.sp_CleanupOldData
    @DaysToKeep int,
    @BatchSize int = 1000,
    @RequestId nvarchar(100) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
{% if engine == "sqlserver" %}
    SET DEADLOCK_PRIORITY LOW;
{% endif %}

    IF @DaysToKeep IS NULL
        THROW 50001, N'The parameter @DaysToKeep is required. Supported values are whole numbers of days from 1 to 36500.', 1;
    IF @DaysToKeep < 1 OR @DaysToKeep > 36500
        THROW 50002, N'The value for the parameter @DaysToKeep is not supported. Supported values are whole numbers of days from 1 to 36500.', 1;
    IF @BatchSize IS NULL OR @BatchSize < 1 OR @BatchSize > 4000
        THROW 50002, N'The value for the parameter @BatchSize is not supported. Supported values are 1 to 4000.', 1;

    DECLARE @LockResult int;
    EXEC @LockResult = sp_getapplock
        @Resource = N'songsdb.cleanup',
        @LockMode = N'Exclusive',
        @LockOwner = N'Session',
        @LockTimeout = 0;
    IF @LockResult < 0
        THROW 50901, N'Another dbo.sp_CleanupOldData is running in this database. Try again when it has finished.', 1;

    DECLARE @Cutoff datetime2(3) = DATEADD(DAY, -@DaysToKeep, SYSUTCDATETIME());
    DECLARE @Batch int;
    DECLARE @Tracks int = 0;
    DECLARE @Transcriptions int = 0;
    DECLARE @Chroma int = 0;
    DECLARE @Jobs int = 0;
    DECLARE @Songs int = 0;
    DECLARE @Audit int = 0;

    BEGIN TRY
        -- 1. results of old finished jobs
        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.SeparatedTracks
            WHERE JobId IN (
                SELECT j.JobId
                FROM dbo.ProcessingJobs AS j
                WHERE j.Status IN ('completed', 'failed', 'cancelled') AND j.CompletedAt < @Cutoff
            );
            SET @Batch = @@ROWCOUNT;
            SET @Tracks = @Tracks + @Batch;
        END;

        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.Transcriptions
            WHERE JobId IN (
                SELECT j.JobId
                FROM dbo.ProcessingJobs AS j
                WHERE j.Status IN ('completed', 'failed', 'cancelled') AND j.CompletedAt < @Cutoff
            );
            SET @Batch = @@ROWCOUNT;
            SET @Transcriptions = @Transcriptions + @Batch;
        END;

        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.ChromaAnalysis
            WHERE JobId IN (
                SELECT j.JobId
                FROM dbo.ProcessingJobs AS j
                WHERE j.Status IN ('completed', 'failed', 'cancelled') AND j.CompletedAt < @Cutoff
            );
            SET @Batch = @@ROWCOUNT;
            SET @Chroma = @Chroma + @Batch;
        END;

        -- 2. the jobs themselves; the status test is repeated here, so a job
        --    retried since step 1 stays
        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.ProcessingJobs
            WHERE Status IN ('completed', 'failed', 'cancelled') AND CompletedAt < @Cutoff;
            SET @Batch = @@ROWCOUNT;
            SET @Jobs = @Jobs + @Batch;
        END;

        -- 3. finished songs with no job left, and their job-less results
        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.Transcriptions
            WHERE SongId IN (
                SELECT s.Id
                FROM dbo.Songs AS s
                WHERE
                    s.Status IN ('completed', 'failed')
                    AND s.LastModified < @Cutoff
                    AND NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = s.Id)
            );
            SET @Batch = @@ROWCOUNT;
            SET @Transcriptions = @Transcriptions + @Batch;
        END;

        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.ChromaAnalysis
            WHERE SongId IN (
                SELECT s.Id
                FROM dbo.Songs AS s
                WHERE
                    s.Status IN ('completed', 'failed')
                    AND s.LastModified < @Cutoff
                    AND NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = s.Id)
            );
            SET @Batch = @@ROWCOUNT;
            SET @Chroma = @Chroma + @Batch;
        END;

        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.Songs
            WHERE
                Status IN ('completed', 'failed')
                AND LastModified < @Cutoff
                AND NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = dbo.Songs.Id)
                AND NOT EXISTS (SELECT 1 FROM dbo.SeparatedTracks AS t WHERE t.SongId = dbo.Songs.Id)
                AND NOT EXISTS (SELECT 1 FROM dbo.Transcriptions AS tr WHERE tr.SongId = dbo.Songs.Id)
                AND NOT EXISTS (SELECT 1 FROM dbo.ChromaAnalysis AS c WHERE c.SongId = dbo.Songs.Id);
            SET @Batch = @@ROWCOUNT;
            SET @Songs = @Songs + @Batch;
        END;

        -- 4. old audit rows
        SET @Batch = @BatchSize;
        WHILE @Batch = @BatchSize
        BEGIN
            DELETE TOP (@BatchSize) FROM dbo.AuditLog
            WHERE [Timestamp] < @Cutoff;
            SET @Batch = @@ROWCOUNT;
            SET @Audit = @Audit + @Batch;
        END;

        INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details)
        VALUES (
            @RequestId,
            'system',
            N'dbo.sp_CleanupOldData',
            'cleaned_up',
            CONCAT(
                N'{"daysToKeep":', @DaysToKeep,
                N',"cutoff":"', CONVERT(nvarchar(30), @Cutoff, 126),
                N'","songs":', @Songs,
                N',"processingJobs":', @Jobs,
                N',"separatedTracks":', @Tracks,
                N',"transcriptions":', @Transcriptions,
                N',"chromaAnalysis":', @Chroma,
                N',"auditLog":', @Audit, N'}'
            )
        );

        EXEC sp_releaseapplock @Resource = N'songsdb.cleanup', @LockOwner = N'Session';
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        EXEC sp_releaseapplock @Resource = N'songsdb.cleanup', @LockOwner = N'Session';
        THROW;
    END CATCH;

    SELECT N'dbo.Songs' AS TableName, @Songs AS RowsDeleted
    UNION ALL
    SELECT N'dbo.ProcessingJobs', @Jobs
    UNION ALL
    SELECT N'dbo.SeparatedTracks', @Tracks
    UNION ALL
    SELECT N'dbo.Transcriptions', @Transcriptions
    UNION ALL
    SELECT N'dbo.ChromaAnalysis', @Chroma
    UNION ALL
    SELECT N'dbo.AuditLog', @Audit;
END;
GO
