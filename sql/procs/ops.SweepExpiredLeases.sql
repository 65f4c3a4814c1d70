/* ops.SweepExpiredLeases - requeues or fails running jobs whose lease expired, of every job type and model.

   A claim takes back expired leases only of the job types and models it asks for, so a job whose
   holder died stays 'running' as long as no live worker claims its type (issue #21 §4). This
   sweep (songsdb queue --sweep, OpsClient.sweep_expired_leases, or a scheduler) finds them on
   IX_ProcessingJobs_Running_LeaseExpiresAt, oldest expiry first, up to @Limit, and in one
   transaction: a job with attempts left goes back to the queue at once (the expired attempt
   counts), one on its last attempt ends 'failed' keeping its last error (else "The lease of ...
   expired"), as worker.ClaimNextJob does when it meets one; the attempt's row in dbo.JobAttempts
   ends 'expired', and each job gets a 'failed' audit row (details: expiredWorker, attempts,
   requeued, swept). The change is a compare-and-set UPDATE by JobId that repeats the condition
   (still running, lease still expired), so a job a claim took back meanwhile, or whose worker
   renewed its lease, is left alone. Joins a caller's transaction.
   Returns: JobId, ModelName, JobType, WorkerId, Attempts, MaxAttempts, Status
   (one row per job swept; Status 'queued' or 'failed'; SweptJob in songsdb/models.py)
   Errors: 50002 @Limit out of range or @RequestId too long.
   Example: EXEC ops.SweepExpiredLeases @Limit = 1000; */
IF OBJECT_ID(N'ops.SweepExpiredLeases', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.SweepExpiredLeases AS RETURN 0;');
GO
ALTER PROCEDURE ops.SweepExpiredLeases
    @Limit int = 1000,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 4000,
        @Allowed = N'whole numbers of jobs from 1 to 4000', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @Expired TABLE (
        JobId uniqueidentifier NOT NULL PRIMARY KEY,
        WorkerId nvarchar(100) NULL,
        Attempts int NOT NULL,
        Seq int NOT NULL
    );
    DECLARE @Swept TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY, Status varchar(20) NOT NULL);

    INSERT INTO @Expired (JobId, WorkerId, Attempts, Seq)
    SELECT TOP (@Limit)
        j.JobId,
        j.WorkerId,
        j.Attempts,
        ROW_NUMBER() OVER (ORDER BY j.LeaseExpiresAt, j.Id)
    FROM dbo.ProcessingJobs AS j
    WHERE j.Status = 'running' AND j.LeaseExpiresAt < @Now
    ORDER BY j.LeaseExpiresAt, j.Id;

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        UPDATE dbo.ProcessingJobs
        SET
            Status = CASE WHEN Attempts < MaxAttempts THEN 'queued' ELSE 'failed' END,
            AvailableAt = CASE WHEN Attempts < MaxAttempts THEN @Now ELSE AvailableAt END,
            Delayed = 0,
            CompletedAt = CASE WHEN Attempts < MaxAttempts THEN NULL ELSE @Now END,
            ErrorMessage = CASE
                WHEN Attempts < MaxAttempts THEN ErrorMessage
                ELSE COALESCE(
                    ErrorMessage,
                    CONCAT(N'The lease of ''', WorkerId, N''' expired on attempt ', Attempts, N' of ', MaxAttempts, N'.')
                )
            END,
            ClaimToken = NULL,
            LeaseExpiresAt = NULL,
            HeldBy = NULL,
            UpdatedAt = @Now
        OUTPUT inserted.JobId, inserted.Status INTO @Swept (JobId, Status)
        WHERE
            JobId IN (SELECT e.JobId FROM @Expired AS e)
            AND Status = 'running'
            AND LeaseExpiresAt < @Now;

        UPDATE dbo.JobAttempts
        SET Outcome = 'expired', EndedAt = @Now
        WHERE JobId IN (SELECT s.JobId FROM @Swept AS s) AND Outcome IS NULL;

        -- where from, as core.WriteAudit records it (0015); who: RecordedBy's default, ORIGINAL_LOGIN() (0052)
        INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, Source)
        SELECT
            @RequestId,
            'job',
            CONVERT(nvarchar(36), s.JobId),
            'failed',
            (
                SELECT
                    e.WorkerId AS expiredWorker,
                    e.Attempts AS attempts,
                    CAST(CASE WHEN s.Status = 'queued' THEN 1 ELSE 0 END AS bit) AS requeued,
                    CAST(1 AS bit) AS swept
                FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
            ),
            CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
        FROM @Swept AS s
        INNER JOIN @Expired AS e
            ON e.JobId = s.JobId;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        j.JobId,
        j.ModelName,
        j.JobType,
        e.WorkerId,
        j.Attempts,
        j.MaxAttempts,
        s.Status
    FROM @Swept AS s
    INNER JOIN @Expired AS e
        ON e.JobId = s.JobId
    INNER JOIN dbo.ProcessingJobs AS j
        ON j.JobId = s.JobId
    ORDER BY e.Seq;
END;
GO
