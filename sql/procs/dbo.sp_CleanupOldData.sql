/* dbo.sp_CleanupOldData - deletes finished work older than @DaysToKeep days and audit rows older than @AuditDaysToKeep.

   The runbooks' `EXEC sp_CleanupOldData @DaysToKeep = 30` keeps working; only songsdb_ops may run it
   (through ops.CleanupOldData, or directly on SQL Server as the owner's code).
   Retention floors the caller cannot go under: @DaysToKeep >= 7 (results, jobs, songs) and
   @AuditDaysToKeep >= 90 (the audit trail; default 365).
   Steps, each linear in what it deletes (the candidates are staged once, then walked in key order):
     1. finished jobs (completed, failed, cancelled) that completed before the cutoff, each batch
        deleted together with its stems, transcriptions and analyses in one short transaction;
        a job queued again since staging (ops.RetryJob) is left alone; a batch that deadlocks with
        a call changing one of its jobs is rolled back whole and left for the next run;
     2. songs that are finished (completed, failed), were last modified before the cutoff and have
        no job left, with their job-less results; a job cannot be created for a song of the batch
        while it runs (a key-range lock), and should one slip in where locking hints are ignored,
        that batch is rolled back whole (its results too) and left for the next run: the run does
        not fail and nothing of a kept song is deleted;
     3. audit rows older than the audit cutoff (rows are walked by Id up to the newest old one).
   Batches of @BatchSize rows (default 1000) stay under SQL Server's lock-escalation threshold of
   5000 locks, so other sessions keep working. Each step writes its own audit row ('system',
   'cleaned_up') in the transaction of its first batch and brings it up to date in every later
   batch's transaction, so a failed or stopped run has recorded exactly what it deleted.
   @DryRun = 1 counts what would be deleted and deletes (and audits) nothing.
   @TimeLimitSeconds stops cleanly between batches once that many seconds have passed (NULL: none);
   the result says which steps finished. Only one cleanup runs at a time (a session-owned app lock);
   it never runs inside a caller's transaction.

   Returns: TableName, RowsDeleted, Finished
   (one row per table; RowsDeleted counts what would be deleted when @DryRun = 1; Finished is 0 for
   a step the time limit cut short or never reached)
   Errors: 50001 @DaysToKeep missing; 50002 a parameter below its floor or out of range;
   50005 called inside a transaction; 50901 another cleanup is running.
   Example: EXEC dbo.sp_CleanupOldData @DaysToKeep = 30, @DryRun = 1; */
IF OBJECT_ID(N'dbo.sp_CleanupOldData', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_CleanupOldData AS RETURN 0;');
GO
ALTER PROCEDURE dbo.sp_CleanupOldData
    @DaysToKeep int,
    @AuditDaysToKeep int = 365,
    @BatchSize int = 1000,
    @DryRun bit = 0,
    @TimeLimitSeconds int = NULL,
    @RequestId nvarchar(100) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
{% if engine == "sqlserver" %}
    SET DEADLOCK_PRIORITY LOW;
{% endif %}

    IF @@TRANCOUNT > 0 OR (@@OPTIONS & 2) = 2
        THROW 50005, N'dbo.sp_CleanupOldData cannot run inside a transaction: it commits batch by batch. Supported: a call outside any transaction.', 1;
    IF @DaysToKeep IS NULL
        THROW 50001, N'The parameter @DaysToKeep is required. Supported values are whole numbers of days from 7 to 36500.', 1;
    IF @DaysToKeep < 7 OR @DaysToKeep > 36500
        THROW 50002, N'The value for the parameter @DaysToKeep is not supported. Supported values are whole numbers of days from 7 (the retention floor) to 36500.', 1;
    IF @AuditDaysToKeep IS NULL OR @AuditDaysToKeep < 90 OR @AuditDaysToKeep > 36500
        THROW 50002, N'The value for the parameter @AuditDaysToKeep is not supported. Supported values are whole numbers of days from 90 (the audit retention floor) to 36500; the default is 365.', 1;
    IF @BatchSize IS NULL OR @BatchSize < 1 OR @BatchSize > 4000
        THROW 50002, N'The value for the parameter @BatchSize is not supported. Supported values are 1 to 4000.', 1;
    IF @DryRun IS NULL
        THROW 50002, N'The value for the parameter @DryRun is not supported. Supported values are 0 and 1.', 1;
    IF @TimeLimitSeconds < 1 OR @TimeLimitSeconds > 86400
        THROW 50002, N'The value for the parameter @TimeLimitSeconds is not supported. Supported values are 1 to 86400 seconds, or NULL for no limit.', 1;

    -- the database's name is part of the lock: Babelfish keeps every T-SQL database in one
    -- PostgreSQL database, where an app lock's name is shared by all of them
    DECLARE @LockName nvarchar(255) = CONCAT(N'songsdb.cleanup.', DB_NAME());
    DECLARE @LockResult int;
    EXEC @LockResult = sp_getapplock
        @Resource = @LockName,
        @LockMode = N'Exclusive',
        @LockOwner = N'Session',
        @LockTimeout = 0;
    IF @LockResult < 0
        THROW 50901, N'Another dbo.sp_CleanupOldData is running in this database. Try again when it has finished.', 1;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @Deadline datetime2(3) = CASE
        WHEN @TimeLimitSeconds IS NOT NULL THEN DATEADD(SECOND, @TimeLimitSeconds, @Now)
    END;
    DECLARE @Cutoff datetime2(3) = DATEADD(DAY, -@DaysToKeep, @Now);
    DECLARE @AuditCutoff datetime2(3) = DATEADD(DAY, -@AuditDaysToKeep, @Now);
    DECLARE @CutoffText nvarchar(30) = CONVERT(nvarchar(30), @Cutoff, 126);
    DECLARE @Tracks int = 0;
    DECLARE @Transcriptions int = 0;
    DECLARE @Chroma int = 0;
    DECLARE @Jobs int = 0;
    DECLARE @Songs int = 0;
    DECLARE @Audit int = 0;
    DECLARE @JobsDone bit = 0;
    DECLARE @SongsDone bit = 0;
    DECLARE @AuditDone bit = 0;
    DECLARE @StepAuditId bigint;
    DECLARE @Details nvarchar(max);
    DECLARE @Last bigint;
    DECLARE @Upto bigint;
    DECLARE @BatchUpto bigint;
    DECLARE @Count int;
    DECLARE @BatchRows int;
    DECLARE @BatchTracks int;
    DECLARE @BatchTranscriptions int;
    DECLARE @BatchChroma int;
    DECLARE @SongTranscriptions int = 0;  -- job-less results deleted with their songs (step 2)
    DECLARE @SongChroma int = 0;
    DECLARE @Skipped int = 0;

    DECLARE @Doomed TABLE (Id bigint NOT NULL PRIMARY KEY, JobId uniqueidentifier NOT NULL);
    DECLARE @DoomedSongs TABLE (Id uniqueidentifier NOT NULL PRIMARY KEY);
    CREATE TABLE #Jobs (Id bigint NOT NULL PRIMARY KEY, JobId uniqueidentifier NOT NULL);
    CREATE TABLE #Songs (Seq bigint NOT NULL PRIMARY KEY, Id uniqueidentifier NOT NULL);

    BEGIN TRY
        -- 1. finished jobs, staged once (IX_ProcessingJobs_Status_CompletedAt), walked by Id
        INSERT INTO #Jobs (Id, JobId)
        SELECT
            j.Id,
            j.JobId
        FROM dbo.ProcessingJobs AS j
        WHERE j.Status IN ('completed', 'failed', 'cancelled') AND j.CompletedAt < @Cutoff;

        IF @DryRun = 1
        BEGIN
            SET @Jobs = (SELECT COUNT(*) FROM #Jobs);
            SET @Tracks = (SELECT COUNT(*) FROM #Jobs AS c INNER JOIN dbo.SeparatedTracks AS t ON t.JobId = c.JobId);
            SET @Transcriptions = (SELECT COUNT(*) FROM #Jobs AS c INNER JOIN dbo.Transcriptions AS t ON t.JobId = c.JobId);
            SET @Chroma = (SELECT COUNT(*) FROM #Jobs AS c INNER JOIN dbo.ChromaAnalysis AS t ON t.JobId = c.JobId);
            SET @Songs = (
                SELECT COUNT(*)
                FROM dbo.Songs AS s
                WHERE
                    s.Status IN ('completed', 'failed')
                    AND s.LastModified < @Cutoff
                    AND NOT EXISTS (
                        SELECT 1
                        FROM dbo.ProcessingJobs AS j
                        WHERE j.SongId = s.Id AND NOT EXISTS (SELECT 1 FROM #Jobs AS c WHERE c.Id = j.Id)
                    )
            );
            SET @Audit = (SELECT COUNT(*) FROM dbo.AuditLog AS a WHERE a.[Timestamp] < @AuditCutoff);
            SET @JobsDone = 1;
            SET @SongsDone = 1;
            SET @AuditDone = 1;
        END;

        SET @Last = 0;
        WHILE @DryRun = 0 AND @JobsDone = 0
        BEGIN
            IF @Deadline IS NOT NULL AND SYSUTCDATETIME() >= @Deadline
                BREAK;
            SET @Upto = (SELECT MAX(b.Id) FROM (SELECT TOP (@BatchSize) c.Id FROM #Jobs AS c WHERE c.Id > @Last ORDER BY c.Id) AS b);
            IF @Upto IS NULL
            BEGIN
                SET @JobsDone = 1;
                BREAK;
            END;

            BEGIN TRY
                BEGIN TRANSACTION;
                DELETE FROM @Doomed;
                -- lock the batch's jobs that are still finished and old: the batch's range of #Jobs,
                -- then one clustered-key seek per job (a join or IN could be planned as a scan of
                -- the table, and was on Babelfish, which cannot estimate temporary tables)
                INSERT INTO @Doomed (Id, JobId)
                SELECT
                    j.Id,
                    j.JobId
                FROM #Jobs AS c
                CROSS APPLY (
                    SELECT TOP (1)
                        x.Id,
                        x.JobId
                    FROM dbo.ProcessingJobs AS x WITH (UPDLOCK, ROWLOCK)
                    WHERE
                        x.Id = c.Id
                        AND x.Status IN ('completed', 'failed', 'cancelled')
                        AND x.CompletedAt < @Cutoff
                ) AS j
                WHERE c.Id > @Last AND c.Id <= @Upto;

                DELETE FROM dbo.SeparatedTracks WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                SET @BatchTracks = @@ROWCOUNT;
                DELETE FROM dbo.Transcriptions WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                SET @BatchTranscriptions = @@ROWCOUNT;
                DELETE FROM dbo.ChromaAnalysis WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                SET @BatchChroma = @@ROWCOUNT;
                DELETE FROM dbo.ProcessingJobs
                WHERE Id > @Last AND Id <= @Upto AND Id IN (SELECT d.Id FROM @Doomed AS d);
                SET @BatchRows = @@ROWCOUNT;
                SET @JobsDone = CASE WHEN EXISTS (SELECT 1 FROM #Jobs AS c WHERE c.Id > @Upto) THEN 0 ELSE 1 END;

                SET @Details = CONCAT(
                    N'{"step":"jobs","daysToKeep":', @DaysToKeep, N',"cutoff":"', @CutoffText,
                    N'","processingJobs":', @Jobs + @BatchRows, N',"separatedTracks":', @Tracks + @BatchTracks,
                    N',"transcriptions":', @Transcriptions + @BatchTranscriptions,
                    N',"chromaAnalysis":', @Chroma + @BatchChroma, N',"batchesSkipped":', @Skipped,
                    N',"finished":', CASE WHEN @JobsDone = 1 THEN N'true' ELSE N'false' END, N'}'
                );
                EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @AuditId = @StepAuditId OUTPUT;
                COMMIT TRANSACTION;
                SET @Jobs = @Jobs + @BatchRows;
                SET @Tracks = @Tracks + @BatchTracks;
                SET @Transcriptions = @Transcriptions + @BatchTranscriptions;
                SET @Chroma = @Chroma + @BatchChroma;
            END TRY
            BEGIN CATCH
                IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
                -- a deadlock (1205) with a call that changes one of these jobs: the whole batch is rolled
                -- back, counted as skipped, and left for the next run; anything else stops the run
                IF ERROR_NUMBER() <> 1205
                    THROW;
                SET @Skipped = @Skipped + 1;
                SET @JobsDone = CASE WHEN EXISTS (SELECT 1 FROM #Jobs AS c WHERE c.Id > @Upto) THEN 0 ELSE 1 END;
            END CATCH;
            SET @Last = @Upto;
        END;

        -- 2. finished songs left without jobs, staged once (IX_Songs_Status_LastModified), walked in order
        IF @DryRun = 0 AND @JobsDone = 1
        BEGIN
            INSERT INTO #Songs (Seq, Id)
            SELECT
                ROW_NUMBER() OVER (ORDER BY s.LastModified, s.Id),
                s.Id
            FROM dbo.Songs AS s
            WHERE
                s.Status IN ('completed', 'failed')
                AND s.LastModified < @Cutoff
                AND NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = s.Id);
            SET @StepAuditId = NULL;
            SET @Last = 0;
        END;
        WHILE @DryRun = 0 AND @JobsDone = 1 AND @SongsDone = 0
        BEGIN
            IF @Deadline IS NOT NULL AND SYSUTCDATETIME() >= @Deadline
                BREAK;
            IF NOT EXISTS (SELECT 1 FROM #Songs AS c WHERE c.Seq > @Last)
            BEGIN
                SET @SongsDone = 1;
                BREAK;
            END;
            SET @Upto = @Last + @BatchSize;

            BEGIN TRY
                BEGIN TRANSACTION;
                DELETE FROM @DoomedSongs;
                -- HOLDLOCK on the jobs check: a job for one of these songs cannot be created until this
                -- batch commits (its foreign key check then finds the song gone: SongNotFound)
                INSERT INTO @DoomedSongs (Id)
                SELECT s.Id
                FROM #Songs AS c
                CROSS APPLY (
                    SELECT TOP (1) x.Id
                    FROM dbo.Songs AS x WITH (UPDLOCK, ROWLOCK)
                    WHERE
                        x.Id = c.Id
                        AND x.Status IN ('completed', 'failed')
                        AND x.LastModified < @Cutoff
                        AND NOT EXISTS (
                            SELECT 1 FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, HOLDLOCK) WHERE j.SongId = x.Id
                        )
                ) AS s
                WHERE c.Seq > @Last AND c.Seq <= @Upto;

                DELETE FROM dbo.Transcriptions
                WHERE JobId IS NULL AND SongId IN (SELECT d.Id FROM @DoomedSongs AS d);
                SET @BatchTranscriptions = @@ROWCOUNT;
                DELETE FROM dbo.ChromaAnalysis
                WHERE JobId IS NULL AND SongId IN (SELECT d.Id FROM @DoomedSongs AS d);
                SET @BatchChroma = @@ROWCOUNT;
                -- every doomed song goes; should a job for one have slipped in anyway (an engine that
                -- ignores the hints), its foreign key fails this batch, which is rolled back whole below
                DELETE FROM dbo.Songs WHERE Id IN (SELECT d.Id FROM @DoomedSongs AS d);
                SET @BatchRows = @@ROWCOUNT;
                SET @SongsDone = CASE WHEN EXISTS (SELECT 1 FROM #Songs AS c WHERE c.Seq > @Upto) THEN 0 ELSE 1 END;

                SET @Details = CONCAT(
                    N'{"step":"songs","daysToKeep":', @DaysToKeep, N',"cutoff":"', @CutoffText,
                    N'","songs":', @Songs + @BatchRows,
                    N',"transcriptions":', @SongTranscriptions + @BatchTranscriptions,
                    N',"chromaAnalysis":', @SongChroma + @BatchChroma, N',"batchesSkipped":', @Skipped,
                    N',"finished":', CASE WHEN @SongsDone = 1 THEN N'true' ELSE N'false' END, N'}'
                );
                EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @AuditId = @StepAuditId OUTPUT;
                COMMIT TRANSACTION;
                SET @Songs = @Songs + @BatchRows;
                SET @SongTranscriptions = @SongTranscriptions + @BatchTranscriptions;
                SET @SongChroma = @SongChroma + @BatchChroma;
            END TRY
            BEGIN CATCH
                IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
                -- a job created for one of these songs meanwhile (547) or a deadlock (1205): the batch
                -- is rolled back whole (no result of a kept song is lost), skipped, left for the next run
                IF ERROR_NUMBER() NOT IN (547, 1205)
                    THROW;
                SET @Skipped = @Skipped + 1;
                SET @SongsDone = CASE WHEN EXISTS (SELECT 1 FROM #Songs AS c WHERE c.Seq > @Upto) THEN 0 ELSE 1 END;
            END CATCH;
            SET @Last = @Upto;
        END;

        -- 3. old audit rows, by Id up to the newest old one (IX_AuditLog_Timestamp finds it once)
        IF @DryRun = 0 AND @SongsDone = 1
        BEGIN
            SET @Upto = (SELECT MAX(a.Id) FROM dbo.AuditLog AS a WHERE a.[Timestamp] < @AuditCutoff);
            SET @StepAuditId = NULL;
            SET @Last = 0;
            IF @Upto IS NULL
                SET @AuditDone = 1;
        END;
        WHILE @DryRun = 0 AND @SongsDone = 1 AND @AuditDone = 0
        BEGIN
            IF @Deadline IS NOT NULL AND SYSUTCDATETIME() >= @Deadline
                BREAK;
            -- the batch is a range of the clustered key: from @Last to the @BatchSize-th old row after it
            SET @BatchUpto = (
                SELECT MAX(b.Id)
                FROM (
                    SELECT TOP (@BatchSize) a.Id
                    FROM dbo.AuditLog AS a
                    WHERE a.Id > @Last AND a.Id <= @Upto AND a.[Timestamp] < @AuditCutoff
                    ORDER BY a.Id
                ) AS b
            );
            IF @BatchUpto IS NULL
            BEGIN
                SET @AuditDone = 1;
                BREAK;
            END;

            BEGIN TRANSACTION;
            DELETE FROM dbo.AuditLog WHERE Id > @Last AND Id <= @BatchUpto AND [Timestamp] < @AuditCutoff;
            SET @Count = @@ROWCOUNT;
            SET @Audit = @Audit + @Count;
            SET @Last = @BatchUpto;
            IF @Count < @BatchSize
                SET @AuditDone = 1;
            SET @Details = CONCAT(
                N'{"step":"audit","auditDaysToKeep":', @AuditDaysToKeep,
                N',"cutoff":"', CONVERT(nvarchar(30), @AuditCutoff, 126), N'","auditLog":', @Audit,
                N',"finished":', CASE WHEN @AuditDone = 1 THEN N'true' ELSE N'false' END, N'}'
            );
            EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @AuditId = @StepAuditId OUTPUT;
            COMMIT TRANSACTION;
        END;

        EXEC sp_releaseapplock @Resource = @LockName, @LockOwner = N'Session';
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        EXEC sp_releaseapplock @Resource = @LockName, @LockOwner = N'Session';
        THROW;
    END CATCH;

    DECLARE @ResultsDone bit = CASE WHEN @JobsDone = 1 AND @SongsDone = 1 THEN 1 ELSE 0 END;
    SELECT
        r.TableName,
        r.RowsDeleted,
        r.Finished
    FROM (
        VALUES
        (N'dbo.Songs', @Songs, @SongsDone),
        (N'dbo.ProcessingJobs', @Jobs, @JobsDone),
        (N'dbo.SeparatedTracks', @Tracks, @JobsDone),
        (N'dbo.Transcriptions', @Transcriptions + @SongTranscriptions, @ResultsDone),
        (N'dbo.ChromaAnalysis', @Chroma + @SongChroma, @ResultsDone),
        (N'dbo.AuditLog', @Audit, @AuditDone)
    ) AS r(TableName, RowsDeleted, Finished);
END;
GO
-- the operations role's runbooks call this procedure directly (EXEC dbo.sp_CleanupOldData ...), on every
-- engine; only that role may (the stub + ALTER above keeps the grant on SQL Server; it is made again anyway)
GRANT EXECUTE ON dbo.sp_CleanupOldData TO songsdb_ops;
GO
