/* api.UpdateJobStatus - moves a job through its state machine, records progress and errors, audits it.

   Allowed transitions (anything else is refused with the list allowed from the current status):
     queued  -> running, failed, cancelled
     running -> running (progress), completed, failed, cancelled, queued
     failed  -> queued (retry), cancelled
     completed, cancelled -> none (terminal)
   running sets StartedAt once; completed sets Progress 100; completed, failed and cancelled
   set CompletedAt; queued clears it. Leaving running drops the worker's lease and claim token,
   so that worker's later complete or fail is refused. NULL leaves Progress, Message, errors and metadata as they are.
   The change is a compare-and-set on the status read first, so it stays correct on engines that
   ignore locking hints.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt
   (the updated job, through dbo.ReturnJob)
   Errors: 50001 @JobId or @Status missing; 50002 text too long or @Progress out of range;
           50003 @Status unknown; 50004 @ResultMetadata not a JSON object; 50201 no job has
           @JobId; 50202 transition not allowed (or the status changed meanwhile).
   Example: EXEC api.UpdateJobStatus @JobId = @JobId, @Status = 'running', @Progress = 10; */
IF OBJECT_ID(N'api.UpdateJobStatus', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.UpdateJobStatus AS RETURN 0;');
GO
ALTER PROCEDURE api.UpdateJobStatus
    @JobId uniqueidentifier,
    @Status nvarchar(4000),
    @Progress int = NULL,
    @Message nvarchar(4000) = NULL,
    @ErrorMessage nvarchar(max) = NULL,
    @ErrorStack nvarchar(max) = NULL,
    @ResultMetadata nvarchar(max) = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    EXEC dbo.CheckOneOf
        @Name = N'@Status', @Value = @Status, @Allowed = N'queued,running,completed,failed,cancelled', @Required = 1;
    EXEC dbo.CheckNumber
        @Name = N'@Progress', @Value = @Progress, @Min = 0, @Max = 100,
        @Allowed = N'whole numbers from 0 to 100, or NULL';
    EXEC dbo.CheckText @Name = N'@Message', @Value = @Message, @MaxLength = 1000;
    EXEC dbo.CheckText @Name = N'@ErrorMessage', @Value = @ErrorMessage, @MaxLength = 4000;
    EXEC dbo.CheckJson @Name = N'@ResultMetadata', @Value = @ResultMetadata, @Shape = 'object';
    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @New varchar(20) = LOWER(@Status);
    DECLARE @Old varchar(20);
    DECLARE @Allowed nvarchar(100);
    DECLARE @Text nvarchar(2048);
    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Details nvarchar(max);

    BEGIN TRY
        BEGIN TRANSACTION;

        SET @Old = (SELECT j.Status FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK) WHERE j.JobId = @JobId);
        IF @Old IS NULL
        BEGIN
            SET @Text = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
            THROW 50201, @Text, 1;
        END;

        SET @Allowed = CASE @Old
            WHEN 'queued' THEN N'running,failed,cancelled'
            WHEN 'running' THEN N'running,completed,failed,cancelled,queued'
            WHEN 'failed' THEN N'queued,cancelled'
            ELSE N''
        END;
        IF CHARINDEX(CONCAT(N',', @New, N','), CONCAT(N',', @Allowed, N',')) = 0
        BEGIN
            SET @Text = CONCAT(
                N'Job ''', @JobIdText, N''' cannot change from ', @Old, N' to ', @New,
                N'. Allowed from ', @Old, N': ',
                CASE WHEN @Allowed = N'' THEN N'none' ELSE REPLACE(@Allowed, N',', N', ') END, N'.'
            );
            THROW 50202, @Text, 1;
        END;

        UPDATE dbo.ProcessingJobs
        SET
            Status = @New,
            Progress = CASE WHEN @New = 'completed' THEN 100 ELSE COALESCE(@Progress, Progress) END,
            Message = COALESCE(@Message, Message),
            RequestId = COALESCE(@RequestId, RequestId),
            StartedAt = CASE WHEN @New = 'running' THEN COALESCE(StartedAt, @Now) ELSE StartedAt END,
            CompletedAt = CASE
                WHEN @New IN ('completed', 'failed', 'cancelled') THEN @Now
                WHEN @New = 'queued' THEN NULL
                ELSE CompletedAt
            END,
            ErrorMessage = COALESCE(@ErrorMessage, ErrorMessage),
            ErrorStack = COALESCE(@ErrorStack, ErrorStack),
            ResultMetadata = COALESCE(@ResultMetadata, ResultMetadata),
            WorkerId = CASE WHEN @New = 'running' THEN WorkerId END,
            ClaimToken = CASE WHEN @New = 'running' THEN ClaimToken END,
            LeaseExpiresAt = CASE WHEN @New = 'running' THEN LeaseExpiresAt END,
            UpdatedAt = @Now
        WHERE JobId = @JobId AND Status = @Old;

        IF @@ROWCOUNT = 0
        BEGIN
            SET @Text = CONCAT(N'Job ''', @JobIdText, N''' changed status while this call ran; read it again and retry.');
            THROW 50202, @Text, 1;
        END;

        SET @Details = (
            SELECT
                @Old AS [from],
                @New AS [to],
                @Progress AS progress
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
        EXEC dbo.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
            @Action = 'status_changed', @Details = @Details;

        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC dbo.ReturnJob @JobId = @JobId;
END;
GO
