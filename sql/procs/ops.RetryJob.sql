/* ops.RetryJob - puts a failed job back in the queue with a fresh budget of attempts, audited ('retried').

   Only a failed job can be retried; its last error stays on the row until the next one. @UserId is
   the operator (the console's signed-in name), stored in the audit row's UserId.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the job, through core.ReturnJob)
   Errors: 50001 @JobId missing; 50002 @RequestId or @UserId too long; 50201 no job has @JobId; 50202 the job is not failed.
   Example: EXEC ops.RetryJob @JobId = @JobId; */
IF OBJECT_ID(N'ops.RetryJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.RetryJob AS RETURN 0;');
GO
ALTER PROCEDURE ops.RetryJob
    @JobId uniqueidentifier,
    @RequestId nvarchar(4000) = NULL,
    @UserId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@UserId', @Value = @UserId, @MaxLength = 100;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Status varchar(20);
    DECLARE @Text nvarchar(2048);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        SET @Status = (SELECT j.Status FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK) WHERE j.JobId = @JobId);
        IF @Status IS NULL
        BEGIN
            SET @Text = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
            THROW 50201, @Text, 1;
        END;

        UPDATE dbo.ProcessingJobs
        SET
            Status = 'queued',
            Attempts = 0,
            AvailableAt = @Now,
            Delayed = 0,
            CompletedAt = NULL,
            RequestId = COALESCE(@RequestId, RequestId),
            UpdatedAt = @Now
        WHERE JobId = @JobId AND Status = 'failed';
        IF @@ROWCOUNT = 0
        BEGIN
            SET @Text = CONCAT(N'Job ''', @JobIdText, N''' is ', @Status, N'; only a failed job can be retried.');
            THROW 50202, @Text, 1;
        END;

        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText, @Action = 'retried',
            @UserId = @UserId, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
