/* worker.Heartbeat - a worker extends its lease and, optionally, records progress.

   Requires the claim token; a worker whose lease expired and whose job was claimed again is
   refused. A progress or message that differs from the stored one is audited ('updated', with the
   values sent); a bare lease extension, or a beat that repeats the stored progress and message (a
   worker's heartbeat thread resending its last progress every minute), writes no audit row: the
   audit trail records changes, not beats. The stored values are read by core.CheckLease under the
   job's lock on SQL Server (where hints are ignored, Babelfish, two simultaneous beats of one job
   may both audit the same change: harmless). Messages compare exactly (case, accents, trailing
   spaces).
   Safe to repeat: a beat sent again with the same token after the worker's own completion or
   failure report ended the attempt (a beat whose answer was lost, retried late) returns the job
   (without a token) and writes nothing; a token whose lease was lost is still refused (50203).
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the job, through core.ReturnJob, with its ClaimToken)
   Errors: 50001 @JobId or @ClaimToken missing; 50002 @Progress, @LeaseSeconds or @Message out
           of range; 50201 no job has @JobId; 50202 the job is not running; 50203 the lease was lost.
   Example: EXEC worker.Heartbeat @JobId = @JobId, @ClaimToken = @Token, @Progress = 40; */
IF OBJECT_ID(N'worker.Heartbeat', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.Heartbeat AS RETURN 0;');
GO
ALTER PROCEDURE worker.Heartbeat
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @Progress int = NULL,
    @Message nvarchar(4000) = NULL,
    @LeaseSeconds int = 300,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckNumber
        @Name = N'@Progress', @Value = @Progress, @Min = 0, @Max = 100,
        @Allowed = N'whole numbers from 0 to 100, or NULL';
    EXEC core.CheckText @Name = N'@Message', @Value = @Message, @MaxLength = 1000;
    EXEC core.CheckNumber
        @Name = N'@LeaseSeconds', @Value = @LeaseSeconds, @Min = 1, @Max = 86400,
        @Allowed = N'whole numbers of seconds from 1 to 86400', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Details nvarchar(max) = (
        SELECT
            @Progress AS progress,
            @Message AS message
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    DECLARE @WasProgress int;
    DECLARE @WasMessage nvarchar(1000);
    DECLARE @Repeat varchar(20);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        EXEC core.CheckLease
            @JobId = @JobId, @ClaimToken = @ClaimToken,
            @CurrentProgress = @WasProgress OUTPUT, @CurrentMessage = @WasMessage OUTPUT,
            @RepeatOutcomes = 'completed,requeued,failed', @Repeat = @Repeat OUTPUT;
        IF @Repeat IS NOT NULL  -- this token's attempt ended with its own report was made already: answer again, write nothing
        BEGIN
            IF @OwnTransaction = 1 COMMIT TRANSACTION;
            EXEC core.ReturnJob @JobId = @JobId;
            RETURN 0;
        END;

        UPDATE dbo.ProcessingJobs
        SET
            LeaseExpiresAt = DATEADD(SECOND, @LeaseSeconds, @Now),
            Progress = COALESCE(@Progress, Progress),
            Message = COALESCE(@Message, Message),
            UpdatedAt = @Now
        WHERE JobId = @JobId AND ClaimToken = @ClaimToken AND Status = 'running';
        IF @@ROWCOUNT = 0
            THROW 50203, N'The lease was lost while this heartbeat ran: the job was claimed again.', 1;

        IF
            (@Progress IS NOT NULL AND @Progress <> @WasProgress)
            OR (
                @Message IS NOT NULL
                AND (
                    @WasMessage IS NULL
                    OR @Message COLLATE Latin1_General_BIN2 <> @WasMessage COLLATE Latin1_General_BIN2
                    OR DATALENGTH(@Message) <> DATALENGTH(@WasMessage)  -- = ignores trailing spaces
                )
            )
            EXEC core.WriteAudit
                @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
                @Action = 'updated', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnJob @JobId = @JobId, @WithToken = 1;
END;
GO
