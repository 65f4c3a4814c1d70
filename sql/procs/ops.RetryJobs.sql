/* ops.RetryJobs - queues a selection of failed jobs again (the console's "Retry selected"): one call, one transaction.

   @JobIds is a JSON array of 1 to 500 job ids. Each job that is failed is queued with a fresh
   budget of attempts and claimable at once (Delayed = 0: a job that failed while it waited out a
   back-off would otherwise stay out of the claim indexes until a claim's due-move; the DBA review's
   m1), as ops.RetryJob does, and audited ('retried', with @RequestId and the
   operator in UserId); the others are left alone and reported. The jobs are changed by JobId in
   one UPDATE that repeats the condition (Status = 'failed'), so a job retried or cancelled by
   someone else meanwhile is reported, never changed twice.
   Returns: JobId, Outcome
   (one row per distinct id, in the order given; Outcome is retried, not_failed or not_found)
   Errors: 50001 @JobIds missing; 50002 @RequestId or @UserId too long; 50004 @JobIds is not a JSON
           array of 1 to 500 job ids.
   Example: EXEC ops.RetryJobs @JobIds = N'["6F9619FF-8B86-D011-B42D-00C04FC964FF"]', @UserId = N'alice'; */
IF OBJECT_ID(N'ops.RetryJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.RetryJobs AS RETURN 0;');
GO
ALTER PROCEDURE ops.RetryJobs
    @JobIds nvarchar(max),
    @RequestId nvarchar(4000) = NULL,
    @UserId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckJson @Name = N'@JobIds', @Value = @JobIds, @Shape = 'array', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@UserId', @Value = @UserId, @MaxLength = 100;

    DECLARE @Given TABLE (Ordinal int NOT NULL PRIMARY KEY, JobId uniqueidentifier NULL);
    INSERT INTO @Given (Ordinal, JobId)
    SELECT
        CAST(o.[key] AS int),
        CASE WHEN o.[type] = 1 THEN TRY_CAST(o.[value] AS uniqueidentifier) END
    FROM OPENJSON(@JobIds) AS o;
    DECLARE @Count int = (SELECT COUNT(*) FROM @Given);
    IF @Count < 1 OR @Count > 500 OR EXISTS (SELECT 1 FROM @Given WHERE JobId IS NULL)
        THROW 50004, N'The value for the parameter @JobIds is not supported. Supported values are a JSON array of 1 to 500 job ids (strings).', 1;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @Done TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        UPDATE dbo.ProcessingJobs
        SET
            Status = 'queued',
            Attempts = 0,
            AvailableAt = @Now,
            Delayed = 0,
            CompletedAt = NULL,
            RequestId = COALESCE(@RequestId, RequestId),
            UpdatedAt = @Now
        OUTPUT inserted.JobId INTO @Done (JobId)
        WHERE JobId IN (SELECT g.JobId FROM @Given AS g) AND Status = 'failed';

        -- where from, as core.WriteAudit records it (0015); who: RecordedBy's default, ORIGINAL_LOGIN() (0052)
        INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, UserId, Source)
        SELECT
            @RequestId,
            'job',
            CONVERT(nvarchar(36), d.JobId),
            'retried',
            @UserId,
            CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
        FROM @Done AS d;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        g.JobId,
        CASE
            WHEN d.JobId IS NOT NULL THEN 'retried'
            WHEN EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.JobId = g.JobId) THEN 'not_failed'
            ELSE 'not_found'
        END AS Outcome
    FROM (SELECT x.JobId, MIN(x.Ordinal) AS Ordinal FROM @Given AS x GROUP BY x.JobId) AS g
    LEFT JOIN @Done AS d
        ON d.JobId = g.JobId
    ORDER BY g.Ordinal;
END;
GO
