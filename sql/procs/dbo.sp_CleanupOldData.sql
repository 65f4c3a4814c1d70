/* dbo.sp_CleanupOldData - deletes finished work older than @DaysToKeep days and audit rows older than @AuditDaysToKeep.

   The runbooks' `EXEC sp_CleanupOldData @DaysToKeep = 30` keeps working; songsdb_retention (0047), the
   login only the cleanup uses, may run it on every engine (directly or through ops.CleanupOldData);
   songsdb_ops keeps EXECUTE, which is enough on SQL Server (ownership chaining) and not on Babelfish,
   where the caller needs the tables' DELETE rights and only songsdb_retention holds them (0048).
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
        that batch is rolled back whole (its results too) and left for the next run;
     3. audit rows older than the audit cutoff, in Id order (core.CleanupAuditLog).
   Below lock escalation (5,000 locks held by one statement on one index or table: "Transaction
   locking and row versioning guide"), no statement deletes more than @BatchSize (<= 4000) rows:
   stems fan out (32 per worker.AddSeparatedTracks call), so a batch holds at most @BatchSize jobs
   and @BatchSize stems as staged (at least one job), and results go in DELETE TOP (@BatchSize)
   statements until one deletes fewer.
   Audit, append-only: each step that ran writes one final row ('system', 'cleaned_up') with what
   its committed batches deleted (the jobs step counts their dbo.JobAttempts rows too, "jobAttempts"),
   "batches", "batchesSkipped" and "finished" (false when the time limit cut it short or an error
   stopped it: then with "error", raised again after). A session
   killed mid-run (a client timeout, KILL) leaves its committed batches unrecorded: give long runs
   a @TimeLimitSeconds below the client's timeout.
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

    -- per database: Babelfish shares app lock names between its T-SQL databases
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
    DECLARE @Attempts int = 0;
    DECLARE @Songs int = 0;
    DECLARE @Audit int = 0;
    DECLARE @JobsDone bit = 0;
    DECLARE @SongsDone bit = 0;
    DECLARE @AuditDone bit = 0;
    DECLARE @Details nvarchar(max);
    DECLARE @Last bigint;
    DECLARE @Upto bigint;
    DECLARE @More bit;
    DECLARE @Rows int;
    DECLARE @BatchRows int;
    DECLARE @BatchTracks int;
    DECLARE @BatchTranscriptions int;
    DECLARE @BatchChroma int;
    DECLARE @BatchAttempts int;
    DECLARE @SongTranscriptions int = 0;  -- job-less results deleted with their songs (step 2)
    DECLARE @SongChroma int = 0;
    DECLARE @StepBatches int = 0;
    DECLARE @StepSkipped int = 0;
    DECLARE @StepDetails nvarchar(max);  -- the running step's audit row so far; "finished" comes last
    DECLARE @Error int;

    DECLARE @Doomed TABLE (Id bigint NOT NULL PRIMARY KEY, JobId uniqueidentifier NOT NULL);
    DECLARE @DoomedSongs TABLE (Id uniqueidentifier NOT NULL PRIMARY KEY);
    CREATE TABLE #Jobs (Id bigint NOT NULL PRIMARY KEY, JobId uniqueidentifier NOT NULL, Stems int NOT NULL);
    CREATE TABLE #Songs (Seq bigint NOT NULL PRIMARY KEY, Id uniqueidentifier NOT NULL);

    BEGIN TRY
        -- 1. finished jobs with their stem counts (UQ_SeparatedTracks_JobId_StemName), staged once
        INSERT INTO #Jobs (Id, JobId, Stems)
        SELECT
            j.Id,
            j.JobId,
            t.Stems
        FROM dbo.ProcessingJobs AS j
        CROSS APPLY (SELECT COUNT(*) AS Stems FROM dbo.SeparatedTracks AS x WHERE x.JobId = j.JobId) AS t
        WHERE j.Status IN ('completed', 'failed', 'cancelled') AND j.CompletedAt < @Cutoff;

        IF @DryRun = 1
        BEGIN
            SET @Jobs = (SELECT COUNT(*) FROM #Jobs);
            SET @Tracks = COALESCE((SELECT SUM(c.Stems) FROM #Jobs AS c), 0);
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
            SET @JobsDone = 1;
            SET @SongsDone = 1;
        END;

        SET @Last = 0;
        WHILE @DryRun = 0 AND @JobsDone = 0
        BEGIN
            IF @Deadline IS NOT NULL AND SYSUTCDATETIME() >= @Deadline
                BREAK;
            -- the next jobs: at most @BatchSize of them and of their stems, at least one job
            SET @Upto = (
                SELECT MAX(b.Id)
                FROM (
                    SELECT TOP (@BatchSize)
                        c.Id,
                        SUM(c.Stems) OVER (ORDER BY c.Id ROWS UNBOUNDED PRECEDING) AS Stems,
                        ROW_NUMBER() OVER (ORDER BY c.Id) AS Seq
                    FROM #Jobs AS c
                    WHERE c.Id > @Last
                    ORDER BY c.Id
                ) AS b
                WHERE b.Stems <= @BatchSize OR b.Seq = 1
            );
            IF @Upto IS NULL
            BEGIN
                SET @JobsDone = 1;
                BREAK;
            END;

            BEGIN TRY
                BEGIN TRANSACTION;
                DELETE FROM @Doomed;
                -- lock its jobs still finished and old, a clustered-key seek each (a join was a scan on Babelfish)
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

                -- results in statements of at most @BatchSize rows, until none had more (header)
                SELECT @BatchTracks = 0, @BatchTranscriptions = 0, @BatchChroma = 0, @BatchAttempts = 0, @More = 1;
                WHILE @More = 1
                BEGIN
                    DELETE TOP (@BatchSize) FROM dbo.SeparatedTracks WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                    SET @Rows = @@ROWCOUNT;
                    SET @BatchTracks = @BatchTracks + @Rows;
                    SET @More = CASE WHEN @Rows = @BatchSize THEN 1 ELSE 0 END;
                    DELETE TOP (@BatchSize) FROM dbo.Transcriptions WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                    SET @Rows = @@ROWCOUNT;
                    SET @BatchTranscriptions = @BatchTranscriptions + @Rows;
                    SET @More = CASE WHEN @Rows = @BatchSize THEN 1 ELSE @More END;
                    DELETE TOP (@BatchSize) FROM dbo.ChromaAnalysis WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                    SET @Rows = @@ROWCOUNT;
                    SET @BatchChroma = @BatchChroma + @Rows;
                    SET @More = CASE WHEN @Rows = @BatchSize THEN 1 ELSE @More END;
                    DELETE TOP (@BatchSize) FROM dbo.JobAttempts WHERE JobId IN (SELECT d.JobId FROM @Doomed AS d);
                    SET @Rows = @@ROWCOUNT;
                    SET @BatchAttempts = @BatchAttempts + @Rows;
                    SET @More = CASE WHEN @Rows = @BatchSize THEN 1 ELSE @More END;
                END;
                DELETE FROM dbo.ProcessingJobs
                WHERE Id > @Last AND Id <= @Upto AND Id IN (SELECT d.Id FROM @Doomed AS d);
                SET @BatchRows = @@ROWCOUNT;
                COMMIT TRANSACTION;
                SET @Jobs = @Jobs + @BatchRows;
                SET @Tracks = @Tracks + @BatchTracks;
                SET @Transcriptions = @Transcriptions + @BatchTranscriptions;
                SET @Chroma = @Chroma + @BatchChroma;
                SET @Attempts = @Attempts + @BatchAttempts;
                SET @StepBatches = @StepBatches + 1;
            END TRY
            BEGIN CATCH
                IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
                -- a deadlock (1205) with a call changing one of these jobs: skipped, left for the next run
                IF ERROR_NUMBER() <> 1205
                    THROW;
                SET @StepSkipped = @StepSkipped + 1;
            END CATCH;
            SET @JobsDone = CASE WHEN EXISTS (SELECT 1 FROM #Jobs AS c WHERE c.Id > @Upto) THEN 0 ELSE 1 END;
            SET @Last = @Upto;
            SET @StepDetails = CONCAT(
                N'{"step":"jobs","daysToKeep":', @DaysToKeep, N',"cutoff":"', @CutoffText,
                N'","processingJobs":', @Jobs, N',"separatedTracks":', @Tracks,
                N',"transcriptions":', @Transcriptions, N',"chromaAnalysis":', @Chroma,
                N',"jobAttempts":', @Attempts,
                N',"batches":', @StepBatches, N',"batchesSkipped":', @StepSkipped
            );
        END;
        IF @StepDetails IS NOT NULL
        BEGIN
            SET @Details = CONCAT(@StepDetails, N',"finished":', CASE WHEN @JobsDone = 1 THEN N'true' ELSE N'false' END, N'}');
            EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @ProcId = @@PROCID;
            SET @StepDetails = NULL;
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
            SELECT @StepBatches = 0, @StepSkipped = 0, @Last = 0;
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
                -- HOLDLOCK: no job for these songs until the commit (its FK check then fails: SongNotFound)
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

                SELECT @BatchTranscriptions = 0, @BatchChroma = 0, @More = 1;
                WHILE @More = 1
                BEGIN
                    DELETE TOP (@BatchSize) FROM dbo.Transcriptions
                    WHERE JobId IS NULL AND SongId IN (SELECT d.Id FROM @DoomedSongs AS d);
                    SET @Rows = @@ROWCOUNT;
                    SET @BatchTranscriptions = @BatchTranscriptions + @Rows;
                    SET @More = CASE WHEN @Rows = @BatchSize THEN 1 ELSE 0 END;
                    DELETE TOP (@BatchSize) FROM dbo.ChromaAnalysis
                    WHERE JobId IS NULL AND SongId IN (SELECT d.Id FROM @DoomedSongs AS d);
                    SET @Rows = @@ROWCOUNT;
                    SET @BatchChroma = @BatchChroma + @Rows;
                    SET @More = CASE WHEN @Rows = @BatchSize THEN 1 ELSE @More END;
                END;
                -- should a job for one have slipped in (hints ignored), its foreign key fails the batch (547)
                DELETE FROM dbo.Songs WHERE Id IN (SELECT d.Id FROM @DoomedSongs AS d);
                SET @BatchRows = @@ROWCOUNT;
                COMMIT TRANSACTION;
                SET @Songs = @Songs + @BatchRows;
                SET @SongTranscriptions = @SongTranscriptions + @BatchTranscriptions;
                SET @SongChroma = @SongChroma + @BatchChroma;
                SET @StepBatches = @StepBatches + 1;
            END TRY
            BEGIN CATCH
                IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
                -- a job created for one of these songs meanwhile (547) or a deadlock (1205): skipped whole
                IF ERROR_NUMBER() NOT IN (547, 1205)
                    THROW;
                SET @StepSkipped = @StepSkipped + 1;
            END CATCH;
            SET @SongsDone = CASE WHEN EXISTS (SELECT 1 FROM #Songs AS c WHERE c.Seq > @Upto) THEN 0 ELSE 1 END;
            SET @Last = @Upto;
            SET @StepDetails = CONCAT(
                N'{"step":"songs","daysToKeep":', @DaysToKeep, N',"cutoff":"', @CutoffText,
                N'","songs":', @Songs, N',"transcriptions":', @SongTranscriptions,
                N',"chromaAnalysis":', @SongChroma,
                N',"batches":', @StepBatches, N',"batchesSkipped":', @StepSkipped
            );
        END;
        IF @StepDetails IS NOT NULL
        BEGIN
            SET @Details = CONCAT(@StepDetails, N',"finished":', CASE WHEN @SongsDone = 1 THEN N'true' ELSE N'false' END, N'}');
            EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @ProcId = @@PROCID;
            SET @StepDetails = NULL;
        END;

        -- 3. old audit rows (it records its own step's row)
        IF @SongsDone = 1
            EXEC core.CleanupAuditLog
                @AuditCutoff = @AuditCutoff, @AuditDaysToKeep = @AuditDaysToKeep, @BatchSize = @BatchSize,
                @DryRun = @DryRun, @Deadline = @Deadline, @RequestId = @RequestId, @ProcId = @@PROCID,
                @Deleted = @Audit OUTPUT, @Finished = @AuditDone OUTPUT;

        EXEC sp_releaseapplock @Resource = @LockName, @LockOwner = N'Session';
    END TRY
    BEGIN CATCH
        SET @Error = ERROR_NUMBER();
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        -- the running step records its committed batches; the original error is raised either way
        IF @StepDetails IS NOT NULL
        BEGIN
            BEGIN TRY
                SET @Details = CONCAT(@StepDetails, N',"finished":false,"error":', @Error, N'}');
                EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @ProcId = @@PROCID;
            END TRY
            BEGIN CATCH
                IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
            END CATCH;
        END;
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
-- the runbooks call this procedure directly (EXEC dbo.sp_CleanupOldData ...), on every engine, as the
-- retention login (0047), and as the operations login that ran them before it (on Babelfish that login no
-- longer holds the tables' DELETE rights, 0048: there only songsdb_retention can run it); the stub + ALTER
-- above keeps the grants on SQL Server, and they are made again anyway
GRANT EXECUTE ON dbo.sp_CleanupOldData TO songsdb_ops;
GO
-- only once the role exists: a deploy stopped at a maintenance step (0045) applies this file before 0047
-- makes songsdb_retention, and 0047 then grants it what this file would have
IF DATABASE_PRINCIPAL_ID(N'songsdb_retention') IS NOT NULL
    EXEC (N'GRANT EXECUTE ON dbo.sp_CleanupOldData TO songsdb_retention;');
GO
