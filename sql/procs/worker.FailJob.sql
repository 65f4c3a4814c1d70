/* worker.FailJob - a worker reports that its job failed; the job goes back to the queue or fails for good.

   While Attempts < MaxAttempts the job is queued again, available after @RetryDelaySeconds
   (default: exponential back-off, 30 s x 2^(attempt - 1), at most one hour); otherwise it ends
   'failed'. Either way the error is kept (the last one wins), the lease is dropped and the
   change is audited ('failed', with whether it was requeued); the attempt's row in dbo.JobAttempts
   ends 'requeued' or 'failed'. Safe to repeat: called again with the same token after it committed
   (its answer was lost), it returns the job as it is now (requeued, perhaps claimed again by
   another worker since) and writes nothing; a token whose lease was lost is still refused (50203).
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the job after the change, through core.ReturnJob)
   Errors: 50001 @JobId, @ClaimToken or @ErrorMessage missing; 50002 text too long or
           @RetryDelaySeconds out of range; 50201 no job has @JobId; 50202 the job is not running;
           50203 the lease was lost.
   Example: EXEC worker.FailJob @JobId = @JobId, @ClaimToken = @Token, @ErrorMessage = N'CUDA out of memory'; */
IF OBJECT_ID(N'worker.FailJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.FailJob AS RETURN 0;');
GO
ALTER PROCEDURE worker.FailJob
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @ErrorMessage nvarchar(max),
    @ErrorStack nvarchar(max) = NULL,
    @RetryDelaySeconds int = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@ErrorMessage', @Value = @ErrorMessage, @MaxLength = 4000, @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@RetryDelaySeconds', @Value = @RetryDelaySeconds, @Min = 0, @Max = 86400,
        @Allowed = N'whole numbers of seconds from 0 to 86400, or NULL for exponential back-off';
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Attempts int;
    DECLARE @MaxAttempts int;
    DECLARE @Requeue bit;
    DECLARE @Delay int;
    DECLARE @Details nvarchar(max);
    DECLARE @Repeat varchar(20);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        EXEC core.CheckLease
            @JobId = @JobId, @ClaimToken = @ClaimToken,
            @Attempts = @Attempts OUTPUT, @MaxAttempts = @MaxAttempts OUTPUT,
            @RepeatOutcomes = 'requeued,failed', @Repeat = @Repeat OUTPUT;
        IF @Repeat IS NOT NULL  -- this token's failure report was made already: answer again, write nothing
        BEGIN
            IF @OwnTransaction = 1 COMMIT TRANSACTION;
            EXEC core.ReturnJob @JobId = @JobId;
            RETURN 0;
        END;

        SET @Requeue = CASE WHEN @Attempts < @MaxAttempts THEN 1 ELSE 0 END;
        SET @Delay = COALESCE(
            @RetryDelaySeconds,
            CASE WHEN @Attempts >= 8 THEN 3600 ELSE 30 * POWER(2, CASE WHEN @Attempts < 1 THEN 0 ELSE @Attempts - 1 END) END
        );

        UPDATE dbo.ProcessingJobs
        SET
            Status = CASE WHEN @Requeue = 1 THEN 'queued' ELSE 'failed' END,
            AvailableAt = CASE WHEN @Requeue = 1 THEN DATEADD(SECOND, @Delay, @Now) ELSE AvailableAt END,
            CompletedAt = CASE WHEN @Requeue = 1 THEN NULL ELSE @Now END,
            ErrorMessage = @ErrorMessage,
            ErrorStack = @ErrorStack,
            ClaimToken = NULL,
            LeaseExpiresAt = NULL,
            HeldBy = NULL,
            UpdatedAt = @Now
        WHERE JobId = @JobId AND ClaimToken = @ClaimToken AND Status = 'running';
        IF @@ROWCOUNT = 0
            THROW 50203, N'The lease was lost while this call ran: the job was claimed again.', 1;
        UPDATE dbo.JobAttempts
        SET
            Outcome = CASE WHEN @Requeue = 1 THEN 'requeued' ELSE 'failed' END,
            EndedAt = @Now
        WHERE ClaimToken = @ClaimToken AND Outcome IS NULL;

        SET @Details = (
            SELECT
                @Requeue AS requeued,
                @Attempts AS attempts,
                @MaxAttempts AS maxAttempts,
                CASE WHEN @Requeue = 1 THEN @Delay END AS retryInSeconds
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
            @Action = 'failed', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
