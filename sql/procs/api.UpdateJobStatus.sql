/* api.UpdateJobStatus - the web service moves a job it runs itself, or cancels any job; audited.

   The states, and who moves a job between them (README, "Job states"):
     queued  -> running     the web service takes the job to run it itself: like a worker's claim it
                            gets HeldBy 'web', a ClaimToken (returned by this call only) and a lease of
                            @LeaseSeconds (default 900); if the web service dies, the lease expires
                            and the next worker claim takes the job back, so it never stays running.
     queued  -> completed, failed   the original design's synchronous flow: run, then report.
     running -> running (progress: renews the lease), completed, failed, queued (give it back)
                            only while the web holds it, or given the holder's @ClaimToken.
     queued | running | failed -> cancelled   always allowed; a worker holding the job then gets
                            InvalidStatusTransition on its next call.
     failed -> queued is ops.RetryJob's; completed and cancelled are terminal.
   A job a worker holds cannot be moved without its @ClaimToken (50204), except to cancel it.
   running sets StartedAt once; completed sets Progress 100; completed, failed and cancelled set
   CompletedAt. Leaving running drops the holder, its token and lease. NULL leaves Progress,
   Message, errors and metadata as they are. The row is read, locked and changed by JobId, with a
   compare-and-set on the status read, so it stays correct where locking hints are ignored.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the updated job; ClaimToken only when this call took the job or was given its token)
   Errors: 50001 @JobId or @Status missing; 50002 text too long or @Progress/@LeaseSeconds out of
           range; 50003 @Status unknown; 50004 @ResultMetadata not a JSON object; 50201 no job has
           @JobId; 50202 transition not allowed (or the status changed meanwhile); 50203 @ClaimToken
           is not the job's current claim; 50204 a worker holds the job.
   Example: EXEC api.UpdateJobStatus @JobId = @JobId, @Status = 'completed', @Progress = 100; */
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
    @ClaimToken uniqueidentifier = NULL,
    @LeaseSeconds int = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    EXEC core.CheckOneOf
        @Name = N'@Status', @Value = @Status, @Allowed = N'queued,running,completed,failed,cancelled', @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@Progress', @Value = @Progress, @Min = 0, @Max = 100,
        @Allowed = N'whole numbers from 0 to 100, or NULL';
    EXEC core.CheckText @Name = N'@Message', @Value = @Message, @MaxLength = 1000;
    EXEC core.CheckText @Name = N'@ErrorMessage', @Value = @ErrorMessage, @MaxLength = 4000;
    EXEC core.CheckJson @Name = N'@ResultMetadata', @Value = @ResultMetadata, @Shape = 'object';
    EXEC core.CheckNumber
        @Name = N'@LeaseSeconds', @Value = @LeaseSeconds, @Min = 1, @Max = 86400,
        @Allowed = N'whole numbers of seconds from 1 to 86400, or NULL for 900';
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @New varchar(20) = LOWER(@Status);
    DECLARE @Old varchar(20);
    DECLARE @HeldBy varchar(6);
    DECLARE @Holder nvarchar(100);
    DECLARE @Current uniqueidentifier;
    DECLARE @Token uniqueidentifier;
    DECLARE @Allowed nvarchar(100);
    DECLARE @Text nvarchar(2048);
    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @Lease int = COALESCE(@LeaseSeconds, 900);
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Details nvarchar(max);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        SELECT
            @Old = j.Status,
            @HeldBy = j.HeldBy,
            @Holder = j.WorkerId,
            @Current = j.ClaimToken
        FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
        WHERE j.JobId = @JobId;
        IF @Old IS NULL
        BEGIN
            SET @Text = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
            THROW 50201, @Text, 1;
        END;
        IF @ClaimToken IS NOT NULL AND (@Old <> 'running' OR @Current IS NULL OR @Current <> @ClaimToken)
        BEGIN
            SET @Text = CONCAT(
                N'The value for the parameter @ClaimToken is not the current claim on job ''', @JobIdText,
                N''' (it is ', @Old, N'). Supported values are the token of the claim that holds the job.'
            );
            THROW 50203, @Text, 1;
        END;
        IF @Old = 'running' AND @HeldBy = 'worker' AND @ClaimToken IS NULL AND @New <> 'cancelled'
        BEGIN
            SET @Text = CONCAT(
                N'Job ''', @JobIdText, N''' is held by worker ''', @Holder,
                N'''. Supported: pass its @ClaimToken, or set @Status = ''cancelled''.'
            );
            THROW 50204, @Text, 1;
        END;

        SET @Allowed = CASE @Old
            WHEN 'queued' THEN N'running,completed,failed,cancelled'
            WHEN 'running' THEN N'running,completed,failed,cancelled,queued'
            WHEN 'failed' THEN N'cancelled'
            ELSE N''
        END;
        IF CHARINDEX(CONCAT(N',', @New, N','), CONCAT(N',', @Allowed, N',')) = 0
        BEGIN
            SET @Text = CONCAT(
                N'Job ''', @JobIdText, N''' cannot change from ', @Old, N' to ', @New,
                N'. Allowed from ', @Old, N': ',
                CASE WHEN @Allowed = N'' THEN N'none' ELSE REPLACE(@Allowed, N',', N', ') END,
                CASE WHEN @Old = 'failed' THEN N' (ops.RetryJob queues a failed job again)' ELSE N'' END, N'.'
            );
            THROW 50202, @Text, 1;
        END;

        -- queued -> running is the web's own claim: a fresh token and a lease
        SET @Token = CASE
            WHEN @Old = 'queued' AND @New = 'running' THEN NEWID()
            WHEN @Old = 'running' AND @New = 'running' THEN @Current
        END;

        UPDATE dbo.ProcessingJobs
        SET
            Status = @New,
            Progress = CASE WHEN @New = 'completed' THEN 100 ELSE COALESCE(@Progress, Progress) END,
            Message = COALESCE(@Message, Message),
            RequestId = COALESCE(@RequestId, RequestId),
            Attempts = CASE WHEN @Old = 'queued' AND @New = 'running' THEN Attempts + 1 ELSE Attempts END,
            StartedAt = CASE WHEN @New IN ('running', 'completed') THEN COALESCE(StartedAt, @Now) ELSE StartedAt END,
            CompletedAt = CASE
                WHEN @New IN ('completed', 'failed', 'cancelled') THEN @Now
                WHEN @New = 'queued' THEN NULL
                ELSE CompletedAt
            END,
            AvailableAt = CASE WHEN @New = 'queued' THEN @Now ELSE AvailableAt END,
            Delayed = CASE WHEN @New = 'queued' THEN 0 ELSE Delayed END,
            ErrorMessage = COALESCE(@ErrorMessage, ErrorMessage),
            ErrorStack = COALESCE(@ErrorStack, ErrorStack),
            ResultMetadata = COALESCE(@ResultMetadata, ResultMetadata),
            HeldBy = CASE WHEN @New = 'running' THEN COALESCE(HeldBy, 'web') END,
            -- taking a queued job names the web as its holder (a requeued job still names its last worker)
            WorkerId = CASE WHEN @New = 'running' AND @Old = 'queued' THEN N'web' WHEN @New = 'running' THEN WorkerId END,
            ClaimToken = @Token,
            LeaseExpiresAt = CASE WHEN @New = 'running' THEN DATEADD(SECOND, @Lease, @Now) END,
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
                @Progress AS progress,
                CASE WHEN @Old = 'running' THEN @Holder END AS heldBy
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
            @Action = 'status_changed', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    DECLARE @WithToken bit = CASE WHEN @Token IS NOT NULL THEN 1 ELSE 0 END;
    EXEC core.ReturnJob @JobId = @JobId, @WithToken = @WithToken;
END;
GO
