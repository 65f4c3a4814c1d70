/* worker.ClaimNextJobs - gives one worker up to @Count jobs in one call and one hold of the queue lock.

   For a worker that batches (a GPU pass over eight songs): the jobs worker.ClaimNextJob would hand
   out one call at a time, in the same order (expired leases first, oldest expiry first; then queued
   jobs by Priority DESC, Id, AvailableAt come), claimed by set-based statements inside one
   transaction that holds the queue lock (songsdb.claim.<database>) once. Each job gets its own
   ClaimToken (NEWID() is evaluated per row) and lease, an attempt row (dbo.JobAttempts) and a
   'claimed' audit row, in the same transaction. An expired job on its last attempt is failed
   instead, audited, and does not count. The searches are those of worker.ClaimNextJob (TOP (@Count)
   per job type, or per job type and model, on IX_ProcessingJobs_Claim / IX_ProcessingJobs_ClaimByModel;
   expired leases on IX_ProcessingJobs_Running_LeaseExpiresAt), and the first one runs without the
   lock: when nothing is claimable the call ends there, so idle workers never wait for the lock.
   Delayed jobs (a back-off, 0024) are kept out of the claim indexes and moved back when due, under
   the lock, as worker.ClaimNextJob does (its header).
   The claim is a compare-and-set UPDATE by JobId that repeats the claimable condition, so it is
   correct where locking hints are ignored (Babelfish). Never inside a caller's transaction; row
   waits bounded by SET LOCK_TIMEOUT 2000 as in worker.ClaimNextJob.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (one row per job claimed, 0 to @Count, in claim order; each ClaimToken is that job's own)
   Errors: 50001 @WorkerId missing; 50002 text too long, @Count or @LeaseSeconds out of range; 50003
           an unknown job type; 50004 a filter not a JSON array; 50005 called inside a transaction;
           50901 the queue lock was busy for 10 s.
   Example: EXEC worker.ClaimNextJobs @WorkerId = N'gpu-1', @Count = 8, @JobTypes = N'["separation"]'; */
IF OBJECT_ID(N'worker.ClaimNextJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.ClaimNextJobs AS RETURN 0;');
GO
ALTER PROCEDURE worker.ClaimNextJobs
    @WorkerId nvarchar(4000),
    @Count int = 1,
    @JobTypes nvarchar(max) = NULL,
    @ModelNames nvarchar(max) = NULL,
    @LeaseSeconds int = 300,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    SET LOCK_TIMEOUT 2000;  -- bounds every row wait, above all while the queue lock is held (header)

    IF @@TRANCOUNT > 0 OR (@@OPTIONS & 2) = 2
        THROW 50005, N'worker.ClaimNextJobs cannot run inside a transaction: it holds the queue lock until it commits. Supported: a call outside any transaction (not inside transaction()).', 1;
    EXEC core.CheckText @Name = N'@WorkerId', @Value = @WorkerId, @MaxLength = 100, @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@Count', @Value = @Count, @Min = 1, @Max = 100,
        @Allowed = N'whole numbers of jobs from 1 to 100', @Required = 1;
    EXEC core.CheckJson @Name = N'@JobTypes', @Value = @JobTypes, @Shape = 'array';
    IF EXISTS (
        SELECT 1 FROM OPENJSON(@JobTypes) AS t
        WHERE t.[value] IS NULL OR core.JsonText(t.[value]) NOT IN ('separation', 'transcription', 'chroma')
    )
        THROW 50003, N'The value for the parameter @JobTypes is not supported. Supported values are a JSON array of separation, transcription, chroma.', 1;
    EXEC core.CheckJson @Name = N'@ModelNames', @Value = @ModelNames, @Shape = 'array';
    IF EXISTS (SELECT 1 FROM OPENJSON(@ModelNames) AS m WHERE core.TextLength(core.JsonText(m.[value])) > 50)
        THROW 50002, N'The value for the parameter @ModelNames is not supported. Supported values are a JSON array of model names of up to 50 characters.', 1;
    EXEC core.CheckNumber
        @Name = N'@LeaseSeconds', @Value = @LeaseSeconds, @Min = 1, @Max = 86400,
        @Allowed = N'whole numbers of seconds from 1 to 86400', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Types TABLE (JobType varchar(20) NOT NULL PRIMARY KEY);
    DECLARE @Models TABLE (ModelName nvarchar(50) NOT NULL PRIMARY KEY);
    INSERT INTO @Types (JobType) SELECT DISTINCT LOWER(core.JsonText(t.[value])) FROM OPENJSON(@JobTypes) AS t;
    IF @JobTypes IS NULL  -- any type: one seek per type of the closed list
        INSERT INTO @Types (JobType) VALUES ('separation'), ('transcription'), ('chroma');
    INSERT INTO @Models (ModelName)
    SELECT DISTINCT core.JsonText(m.[value]) FROM OPENJSON(@ModelNames) AS m WHERE m.[value] IS NOT NULL;
    DECLARE @AnyType bit = CASE WHEN @JobTypes IS NULL THEN 1 ELSE 0 END;
    DECLARE @AnyModel bit = CASE WHEN @ModelNames IS NULL THEN 1 ELSE 0 END;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @LockResult int;
    DECLARE @LockName nvarchar(255) = CONCAT(N'songsdb.claim.', DB_NAME());
    DECLARE @Pass int = 0;
    DECLARE @Candidates TABLE (
        JobId uniqueidentifier NOT NULL PRIMARY KEY,
        Expired bit NOT NULL,
        OldWorker nvarchar(100) NULL,
        Attempts int NOT NULL,
        MaxAttempts int NOT NULL,
        Seq int NOT NULL
    );
    DECLARE @Failed TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY);
    DECLARE @Claimed TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY, ClaimToken uniqueidentifier NOT NULL, Attempts int NOT NULL);
    DECLARE @Due TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY);
    DECLARE @Heads TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY, Attempts int NOT NULL, MaxAttempts int NOT NULL, Priority int NOT NULL, Id bigint NOT NULL);
    DECLARE @FirstModel nvarchar(50) = (SELECT MIN(m.ModelName) FROM @Models AS m);
    DECLARE @Model nvarchar(50);

    BEGIN TRY
        -- pass 1 looks without the lock (nothing claimable: the call ends); pass 2 under it
        WHILE @Pass < 2
        BEGIN
            SET @Pass = @Pass + 1;
            DELETE FROM @Candidates;

            -- 1. running jobs whose holder stopped renewing its lease, oldest expiry first
            INSERT INTO @Candidates (JobId, Expired, OldWorker, Attempts, MaxAttempts, Seq)
            SELECT TOP (@Count)
                j.JobId,
                1,
                j.WorkerId,
                j.Attempts,
                j.MaxAttempts,
                ROW_NUMBER() OVER (ORDER BY j.LeaseExpiresAt, j.Id)
            FROM dbo.ProcessingJobs AS j
            WHERE
                j.Status = 'running'
                AND j.LeaseExpiresAt < @Now
                AND (@AnyType = 1 OR j.JobType IN (SELECT t.JobType FROM @Types AS t))
                AND (@AnyModel = 1 OR j.ModelName IN (SELECT m.ModelName FROM @Models AS m))
            ORDER BY j.LeaseExpiresAt, j.Id;

            -- 2. queued jobs in claim order: the first @Count of each job type (or job type and model)
            -- in claim order, one index range each; then the first @Count of those
            IF @AnyModel = 1
                INSERT INTO @Candidates (JobId, Expired, OldWorker, Attempts, MaxAttempts, Seq)
                SELECT TOP (@Count)
                    q.JobId,
                    0,
                    NULL,
                    q.Attempts,
                    q.MaxAttempts,
                    1000 + ROW_NUMBER() OVER (ORDER BY q.Priority DESC, q.Id ASC)
                FROM @Types AS t
                CROSS APPLY (
                    SELECT TOP (@Count)
                        j.JobId,
                        j.Attempts,
                        j.MaxAttempts,
                        j.Priority,
                        j.Id
                    FROM dbo.ProcessingJobs AS j
                    WHERE
                        j.Status = 'queued'
                        AND j.Delayed = 0
                        AND j.JobType = t.JobType
                        AND j.AvailableAt <= @Now
                    ORDER BY j.Priority DESC, j.Id ASC
                ) AS q
                ORDER BY q.Priority DESC, q.Id ASC;
            IF @AnyModel = 0
            BEGIN
                -- one statement per model, the model a scalar (worker.ClaimNextJob's header says why):
                -- the first @Count of each (job type, model), then the first @Count of those
                DELETE FROM @Heads;
                SET @Model = @FirstModel;
                WHILE @Model IS NOT NULL
                BEGIN
                    INSERT INTO @Heads (JobId, Attempts, MaxAttempts, Priority, Id)
                    SELECT q.JobId, q.Attempts, q.MaxAttempts, q.Priority, q.Id
                    FROM @Types AS t
                    CROSS APPLY (
                        SELECT TOP (@Count)
                            j.JobId,
                            j.Attempts,
                            j.MaxAttempts,
                            j.Priority,
                            j.Id
                        FROM dbo.ProcessingJobs AS j
                        WHERE
                            j.Status = 'queued'
                            AND j.Delayed = 0
                            AND j.JobType = t.JobType
                            AND j.ModelName = @Model
                            AND j.AvailableAt <= @Now
                        ORDER BY j.Priority DESC, j.Id ASC
                    ) AS q;
                    SET @Model = (SELECT MIN(m.ModelName) FROM @Models AS m WHERE m.ModelName > @Model);
                END;
                INSERT INTO @Candidates (JobId, Expired, OldWorker, Attempts, MaxAttempts, Seq)
                SELECT TOP (@Count)
                    h.JobId,
                    0,
                    NULL,
                    h.Attempts,
                    h.MaxAttempts,
                    1000 + ROW_NUMBER() OVER (ORDER BY h.Priority DESC, h.Id ASC)
                FROM @Heads AS h
                ORDER BY h.Priority DESC, h.Id ASC;
            END;

            IF @Pass = 2 OR (NOT EXISTS (SELECT 1 FROM @Candidates) AND NOT EXISTS (
                SELECT 1 FROM dbo.ProcessingJobs AS j
                WHERE j.Status = 'queued' AND j.Delayed = 1 AND j.AvailableAt <= @Now
            ))
                BREAK;
            BEGIN TRANSACTION;
            EXEC @LockResult = sp_getapplock
                @Resource = @LockName,
                @LockMode = N'Exclusive',
                @LockOwner = N'Transaction',
                @LockTimeout = 10000;
            IF @LockResult < 0
                THROW 50901, N'The job queue is busy: another claim held its lock for 10 seconds. Try again.', 1;
            SET @Now = SYSUTCDATETIME();
            -- jobs whose back-off has ended move to the claim indexes (Delayed = 0), under the lock (header)
            DELETE FROM @Due;
            INSERT INTO @Due (JobId)
            SELECT TOP (1000) j.JobId
            FROM dbo.ProcessingJobs AS j
            WHERE j.Status = 'queued' AND j.Delayed = 1 AND j.AvailableAt <= @Now
            ORDER BY j.AvailableAt, j.Id;
            -- READPAST: a due job that an open transaction has locked is skipped (moved by a later claim),
            -- not waited for under the queue lock, where every other claim would wait behind it (SQL Server;
            -- Babelfish ignores the hint and its writers never block this search)
            UPDATE j
            SET Delayed = 0
            FROM dbo.ProcessingJobs AS j WITH (READPAST, ROWLOCK)
            WHERE j.JobId IN (SELECT d.JobId FROM @Due AS d) AND j.Status = 'queued' AND j.Delayed = 1;
        END;

        IF @Pass = 2
        BEGIN
            -- an expired job on its last attempt: failed (keeping its last error), not claimed
            UPDATE dbo.ProcessingJobs
            SET
                Status = 'failed',
                CompletedAt = @Now,
                UpdatedAt = @Now,
                ErrorMessage = COALESCE(
                    ErrorMessage,
                    CONCAT(N'The lease of ''', WorkerId, N''' expired on attempt ', Attempts, N' of ', MaxAttempts, N'.')
                ),
                ClaimToken = NULL,
                LeaseExpiresAt = NULL,
                HeldBy = NULL
            OUTPUT inserted.JobId INTO @Failed (JobId)
            WHERE
                JobId IN (SELECT c.JobId FROM @Candidates AS c WHERE c.Expired = 1 AND c.Attempts >= c.MaxAttempts)
                AND Status = 'running'
                AND LeaseExpiresAt < @Now;
            UPDATE dbo.JobAttempts
            SET Outcome = 'expired', EndedAt = @Now
            WHERE JobId IN (SELECT f.JobId FROM @Failed AS f) AND Outcome IS NULL;
            INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, Source)
            SELECT
                @RequestId,
                'job',
                CONVERT(nvarchar(36), f.JobId),
                'failed',
                (
                    SELECT
                        c.OldWorker AS expiredWorker,
                        c.Attempts AS attempts,
                        CAST(0 AS bit) AS requeued
                    FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
                ),
                CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
            FROM @Failed AS f
            INNER JOIN @Candidates AS c
                ON c.JobId = f.JobId;
            DELETE FROM @Candidates WHERE Expired = 1 AND Attempts >= MaxAttempts;
            -- at most @Count in all, in claim order
            DELETE FROM @Candidates
            WHERE Seq NOT IN (SELECT TOP (@Count) x.Seq FROM @Candidates AS x ORDER BY x.Seq);

            -- the claim: one compare-and-set UPDATE by JobId; a token per row
            UPDATE dbo.ProcessingJobs
            SET
                Status = 'running',
                HeldBy = 'worker',
                WorkerId = @WorkerId,
                ClaimToken = NEWID(),
                LeaseExpiresAt = DATEADD(SECOND, @LeaseSeconds, @Now),
                Attempts = Attempts + 1,
                StartedAt = COALESCE(StartedAt, @Now),
                CompletedAt = NULL,
                RequestId = COALESCE(@RequestId, RequestId),
                UpdatedAt = @Now
            OUTPUT inserted.JobId, inserted.ClaimToken, inserted.Attempts INTO @Claimed (JobId, ClaimToken, Attempts)
            WHERE
                JobId IN (SELECT c.JobId FROM @Candidates AS c)
                AND ((Status = 'queued' AND AvailableAt <= @Now) OR (Status = 'running' AND LeaseExpiresAt < @Now));

            UPDATE dbo.JobAttempts
            SET Outcome = 'expired', EndedAt = @Now
            WHERE JobId IN (SELECT c.JobId FROM @Claimed AS c) AND Outcome IS NULL;
            INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, ClaimedAt)
            SELECT c.JobId, c.Attempts, c.ClaimToken, @WorkerId, @Now FROM @Claimed AS c;
            INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, Source)
            SELECT
                @RequestId,
                'job',
                CONVERT(nvarchar(36), c.JobId),
                'claimed',
                (
                    SELECT
                        @WorkerId AS workerId,
                        c.Attempts AS attempt,
                        CASE WHEN x.Expired = 1 THEN x.OldWorker END AS reclaimedFrom
                    FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
                ),
                CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
            FROM @Claimed AS c
            INNER JOIN @Candidates AS x
                ON x.JobId = c.JobId;

            COMMIT TRANSACTION;
        END;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        j.JobId,
        j.SongId,
        j.ModelName,
        j.JobType,
        j.Status,
        j.Progress,
        j.Message,
        j.RequestId,
        j.Priority,
        j.Attempts,
        j.MaxAttempts,
        j.CreatedAt,
        j.AvailableAt,
        j.UpdatedAt,
        j.StartedAt,
        j.CompletedAt,
        j.ErrorMessage,
        j.ErrorStack,
        j.ResultMetadata,
        j.WorkerId,
        c.ClaimToken,
        j.LeaseExpiresAt,
        j.HeldBy
    FROM @Claimed AS c
    INNER JOIN @Candidates AS x
        ON x.JobId = c.JobId
    INNER JOIN dbo.ProcessingJobs AS j
        ON j.JobId = c.JobId
    ORDER BY x.Seq;
END;
GO
