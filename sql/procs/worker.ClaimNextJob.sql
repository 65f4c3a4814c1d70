/* worker.ClaimNextJob - gives one worker the next job; the cost does not grow with the backlog.

   Which job: first a running job whose lease expired (its worker or web runner died; oldest
   expiry first), else the queued job with the highest Priority, oldest first within a priority,
   whose AvailableAt has come. Each is a TOP (1) seek in claim order: per job type the worker takes
   (all three when @JobTypes is NULL) on IX_ProcessingJobs_Claim (filtered on Status = 'queued',
   keyed JobType, Priority DESC, Id), or, when @ModelNames is given, per (job type, model) pair on
   IX_ProcessingJobs_ClaimByModel (keyed JobType, ModelName, Priority DESC, Id); then the first of
   those (with @ModelNames, one statement per model, the model a scalar: see below); and
   IX_ProcessingJobs_Running_LeaseExpiresAt, which holds running jobs only (about one
   per worker), with type and model as residual filters. Jobs waiting out a back-off
   (worker.FailJob; Delayed = 1, 0024) are in neither claim index (IX_ProcessingJobs_ClaimReady and
   IX_ProcessingJobs_ClaimByModelReady, filtered on Delayed = 0, 0025 and 0026), so the seeks read no
   job that is not yet available however many wait: the cost stays flat. A claim that takes the
   lock first moves the delayed jobs that have come due (up to 1000, a range seek on
   IX_ProcessingJobs_Delayed, 0027) back to Delayed = 0; the unlocked first search also counts a
   due delayed job as a reason to take the lock. A reclaimed job whose attempts are used up is failed
   instead (keeping its last error) and the search goes on. The claim sets Status 'running',
   HeldBy 'worker', WorkerId, a new ClaimToken, LeaseExpiresAt = now + @LeaseSeconds and
   Attempts + 1; it is audited ('claimed') and recorded as an attempt in dbo.JobAttempts (0024; a
   reclaimed job's previous attempt ends 'expired', in the same transaction).

   Two workers never receive the same job: claimers are serialised by a transaction-owned app
   lock, and the UPDATE repeats the claimable condition (compare-and-set), so the claim stays
   correct on engines that parse locking hints but ignore them (Babelfish): one code path for
   every engine. The row is locked and updated by JobId only, as in every procedure that changes
   a job, so no two of them lock one job's index keys in opposite orders. The first search runs
   without the lock: when nothing is claimable for this worker's @JobTypes and @ModelNames, the
   call ends there, so idle workers of other types never queue behind it; when it finds a
   candidate, the claim takes the lock and searches again under it.

   Why one statement per model: Babelfish plans each call with its values (the client's session
   set-up), so a model named by a scalar variable is a constant to the planner, which then estimates
   that model's own queued jobs and seeks IX_ProcessingJobs_ClaimByModelReady. A model read from a
   table (@Models) is a parameter the planner estimates as one model in n: when statistics show one
   model (a bulk load of another model's jobs not yet analysed, or one model holding most of the
   backlog), it read IX_ProcessingJobs_ClaimReady in claim order and filtered the model, through
   every queued job of the other model ahead of this one (8 ms per pass at 10,000 jobs, growing;
   bench/long_lived.py, tests/integration/test_claim_plans.py). SQL Server estimates a variable by
   density either way; the per-model seek is the plan it already had.

   It never runs inside a caller's transaction (it would hold the queue lock until that commits).
   No row wait lasts more than 2 s (SET LOCK_TIMEOUT 2000, for this call only: SQL Server and
   Babelfish restore the caller's setting when a procedure returns): under SQL Server's locking read
   committed, without READ_COMMITTED_SNAPSHOT (0014), a search would otherwise wait for as long as
   any writer holds an uncommitted job in its path, while holding the queue lock that every other
   claimer waits for. A claim that waited too long fails with 1222, rolled back; the client retries
   it (songsdb/retry.py: nothing was committed).
   @JobTypes / @ModelNames: JSON arrays to filter on (NULL: any), e.g. N'["separation"]'; model
   names of up to 50 characters, as stored.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (no row when nothing is claimable; ClaimToken is the worker's proof of its lease)
   Errors: 50001 @WorkerId missing; 50002 text too long or @LeaseSeconds out of range; 50003 an
           unknown job type; 50004 a filter not a JSON array; 50005 called inside a transaction;
           50901 the queue lock was busy for 10 s; 1222 (not a catalogue number) a row lock waited
           for over 2 s.
   Example: EXEC worker.ClaimNextJob @WorkerId = N'gpu-1', @JobTypes = N'["separation"]', @LeaseSeconds = 300; */
IF OBJECT_ID(N'worker.ClaimNextJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.ClaimNextJob AS RETURN 0;');
GO
ALTER PROCEDURE worker.ClaimNextJob
    @WorkerId nvarchar(4000),
    @JobTypes nvarchar(max) = NULL,
    @ModelNames nvarchar(max) = NULL,
    @LeaseSeconds int = 300,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    SET LOCK_TIMEOUT 2000;  -- bounds every row wait, above all while the queue lock is held (header)

    IF @@TRANCOUNT > 0 OR (@@OPTIONS & 2) = 2
        THROW 50005, N'worker.ClaimNextJob cannot run inside a transaction: it holds the queue lock until it commits. Supported: a call outside any transaction (not inside transaction()).', 1;
    EXEC core.CheckText @Name = N'@WorkerId', @Value = @WorkerId, @MaxLength = 100, @Required = 1;
    EXEC core.CheckJson @Name = N'@JobTypes', @Value = @JobTypes, @Shape = 'array';
    IF EXISTS (
        SELECT 1 FROM OPENJSON(@JobTypes) AS t
        WHERE t.[value] IS NULL OR core.JsonText(t.[value]) NOT IN ('separation', 'transcription', 'chroma')
    )
        THROW 50003, N'The value for the parameter @JobTypes is not supported. Supported values are a JSON array of separation, transcription, chroma.', 1;
    EXEC core.CheckJson @Name = N'@ModelNames', @Value = @ModelNames, @Shape = 'array';
    -- a longer name matches no stored model (ModelName is nvarchar(50)); cut to 50, it could match another
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
    DECLARE @AnyType bit = CASE WHEN @JobTypes IS NULL THEN 1 ELSE 0 END;  -- for the expired-lease search
    DECLARE @AnyModel bit = CASE WHEN @ModelNames IS NULL THEN 1 ELSE 0 END;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @JobId uniqueidentifier;
    DECLARE @Candidate uniqueidentifier;
    DECLARE @Old varchar(20);
    DECLARE @OldWorker nvarchar(100);
    DECLARE @Attempts int;
    DECLARE @MaxAttempts int;
    DECLARE @Token uniqueidentifier;
    DECLARE @LockResult int;
    -- per database: Babelfish keeps every T-SQL database in one PostgreSQL database, where app lock
    -- names are shared by all of them
    DECLARE @LockName nvarchar(255) = CONCAT(N'songsdb.claim.', DB_NAME());
    DECLARE @Locked bit = 0;
    DECLARE @Passes int = 0;
    DECLARE @Text nvarchar(100);
    DECLARE @Details nvarchar(max);
    DECLARE @Due TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY);
    DECLARE @DueWaiting bit = 0;
    DECLARE @FirstModel nvarchar(50) = (SELECT MIN(m.ModelName) FROM @Models AS m);
    DECLARE @Model nvarchar(50);
    DECLARE @BestPriority int;
    DECLARE @BestId bigint;
    DECLARE @Next uniqueidentifier;
    DECLARE @NextAttempts int;
    DECLARE @NextMaxAttempts int;
    DECLARE @NextPriority int;
    DECLARE @NextId bigint;

    BEGIN TRY
        -- The first pass looks without the lock: when it finds nothing, the call ends there.
        -- When it finds a candidate, it takes the lock and looks again (the candidate may be gone).
        WHILE @JobId IS NULL AND @Passes < 20
        BEGIN
            SET @Passes = @Passes + 1;
            SET @Candidate = NULL;

            -- 1. a running job whose holder stopped renewing its lease
            SELECT TOP (1)
                @Candidate = j.JobId,
                @Old = j.Status,
                @OldWorker = j.WorkerId,
                @Attempts = j.Attempts,
                @MaxAttempts = j.MaxAttempts
            FROM dbo.ProcessingJobs AS j
            WHERE
                j.Status = 'running'
                AND j.LeaseExpiresAt < @Now
                AND (@AnyType = 1 OR j.JobType IN (SELECT t.JobType FROM @Types AS t))
                AND (@AnyModel = 1 OR j.ModelName IN (SELECT m.ModelName FROM @Models AS m))
            ORDER BY j.LeaseExpiresAt;

            -- 2. else the next queued job in claim order: the first of each job type (or of each
            -- job type and model) in claim order, one index seek each; then the first of those
            IF @Candidate IS NULL AND @AnyModel = 1
                SELECT TOP (1)
                    @Candidate = q.JobId,
                    @Old = 'queued',
                    @OldWorker = NULL,
                    @Attempts = q.Attempts,
                    @MaxAttempts = q.MaxAttempts
                FROM @Types AS t
                CROSS APPLY (
                    SELECT TOP (1)
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
            IF @Candidate IS NULL AND @AnyModel = 0
            BEGIN
                -- one model at a time, the model a scalar (the header says why). Each model's head is
                -- read into variables of its own, then kept when it comes before the best so far in
                -- claim order: no statement reads a variable it assigns
                SET @Model = @FirstModel;
                WHILE @Model IS NOT NULL
                BEGIN
                    SET @Next = NULL;
                    SELECT TOP (1)
                        @Next = q.JobId,
                        @NextAttempts = q.Attempts,
                        @NextMaxAttempts = q.MaxAttempts,
                        @NextPriority = q.Priority,
                        @NextId = q.Id
                    FROM @Types AS t
                    CROSS APPLY (
                        SELECT TOP (1)
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
                    ) AS q
                    ORDER BY q.Priority DESC, q.Id ASC;
                    IF @Next IS NOT NULL
                        AND (@Candidate IS NULL OR @NextPriority > @BestPriority OR (@NextPriority = @BestPriority AND @NextId < @BestId))
                        SELECT
                            @Candidate = @Next,
                            @Old = 'queued',
                            @OldWorker = NULL,
                            @Attempts = @NextAttempts,
                            @MaxAttempts = @NextMaxAttempts,
                            @BestPriority = @NextPriority,
                            @BestId = @NextId;
                    SET @Model = (SELECT MIN(m.ModelName) FROM @Models AS m WHERE m.ModelName > @Model);
                END;
            END;

            IF @Candidate IS NULL AND @Locked = 0
                SET @DueWaiting = CASE WHEN EXISTS (
                SELECT 1 FROM dbo.ProcessingJobs AS j
                WHERE j.Status = 'queued' AND j.Delayed = 1 AND j.AvailableAt <= @Now
            ) THEN 1 ELSE 0 END;
            IF @Candidate IS NULL AND (@Locked = 1 OR @DueWaiting = 0)
                BREAK;
            IF @Locked = 0
            BEGIN
                BEGIN TRANSACTION;
                EXEC @LockResult = sp_getapplock
                    @Resource = @LockName,
                    @LockMode = N'Exclusive',
                    @LockOwner = N'Transaction',
                    @LockTimeout = 10000;
                IF @LockResult < 0
                    THROW 50901, N'The job queue is busy: another claim held its lock for 10 seconds. Try again.', 1;
                SET @Locked = 1;
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
                SET @Passes = 0;
                CONTINUE;
            END;
            SET @Text = CONVERT(nvarchar(36), @Candidate);

            IF @Old = 'running' AND @Attempts >= @MaxAttempts
            BEGIN
                -- its last holder died holding it and no attempt is left: fail it, keep looking
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
                WHERE JobId = @Candidate AND Status = 'running' AND LeaseExpiresAt < @Now;
                IF @@ROWCOUNT = 1
                BEGIN
                    UPDATE dbo.JobAttempts SET Outcome = 'expired', EndedAt = @Now WHERE JobId = @Candidate AND Outcome IS NULL;
                    SET @Details = (
                        SELECT
                            @OldWorker AS expiredWorker,
                            @Attempts AS attempts,
                            CAST(0 AS bit) AS requeued
                        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
                    );
                    EXEC core.WriteAudit
                        @RequestId = @RequestId, @EntityType = 'job', @EntityId = @Text,
                        @Action = 'failed', @Details = @Details, @ProcId = @@PROCID;
                END;
                CONTINUE;
            END;

            SET @Token = NEWID();
            UPDATE dbo.ProcessingJobs
            SET
                Status = 'running',
                HeldBy = 'worker',
                WorkerId = @WorkerId,
                ClaimToken = @Token,
                LeaseExpiresAt = DATEADD(SECOND, @LeaseSeconds, @Now),
                Attempts = Attempts + 1,
                StartedAt = COALESCE(StartedAt, @Now),
                CompletedAt = NULL,
                RequestId = COALESCE(@RequestId, RequestId),
                UpdatedAt = @Now
            WHERE
                JobId = @Candidate
                AND ((Status = 'queued' AND AvailableAt <= @Now) OR (Status = 'running' AND LeaseExpiresAt < @Now));
            IF @@ROWCOUNT = 1
            BEGIN
                SET @JobId = @Candidate;
                IF @Old = 'running'
                    UPDATE dbo.JobAttempts SET Outcome = 'expired', EndedAt = @Now WHERE JobId = @Candidate AND Outcome IS NULL;
                INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, ClaimedAt)
                VALUES (@Candidate, @Attempts + 1, @Token, @WorkerId, @Now);
                SET @Details = (
                    SELECT
                        @WorkerId AS workerId,
                        @Attempts + 1 AS attempt,
                        CASE WHEN @Old = 'running' THEN @OldWorker END AS reclaimedFrom
                    FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
                );
                EXEC core.WriteAudit
                    @RequestId = @RequestId, @EntityType = 'job', @EntityId = @Text,
                    @Action = 'claimed', @Details = @Details, @ProcId = @@PROCID;
            END;
        END;

        IF @Locked = 1
            COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnJob @JobId = @JobId, @WithToken = 1;
END;
GO
