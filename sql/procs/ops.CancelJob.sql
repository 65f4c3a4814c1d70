/* ops.CancelJob - cancels a queued, running or failed job, audited ('cancelled') with the operator's name.

   The console's Cancel button. A running job loses its holder, claim token and lease: its worker
   gets InvalidStatusTransition (50202) on its next call and writes nothing more, and its worker
   attempt (dbo.JobAttempts) ends 'cancelled' in the same transaction (0049-0051; the DBA review's m2). A deploy
   stopped at a maintenance step (0043, 0045) has this procedure before 0050 drops the previous release's CHECK on
   the attempts' outcome, which has no 'cancelled' (the DBA's reading of session 8, B1): there the attempt's UPDATE
   fails with 547 and the cancel goes on without it, the attempt left open as that release left it. That one
   statement runs with XACT_ABORT OFF in its own TRY, so a 547 undoes only it and leaves the transaction
   committable ("SET XACT_ABORT": with it OFF a statement's error rolls back only that statement; measured the same
   on Babelfish 4.2 under both drivers); any other error, and a 547 of any other constraint, is thrown with
   XACT_ABORT set back ON first (THROW honours it: a caller's transaction is doomed, as before this change, and a
   half-done cancel cannot be committed). One statement runs with XACT_ABORT OFF: a client that cancels the call
   during it leaves this procedure's own transaction open until its connection is closed (songsdb's client
   discards a connection whose call timed out, never pools it). No metadata test instead: the
   caller sees the constraint's OBJECT_ID only with rights on the table, on SQL Server (metadata visibility) and on
   Babelfish (measured: NULL with column rights), which this role does not hold. Once 0050 is applied the UPDATE
   cannot fail with 547 (the CHECK left allows 'cancelled', and CK_JobAttempts_Ended holds: both columns are set).
   Completed and
   cancelled jobs are final. @UserId is the operator (the console's signed-in name), stored in the
   audit row's UserId; RecordedBy is the session's login, as for every audit row.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the job, through core.ReturnJob)
   Errors: 50001 @JobId missing; 50002 @RequestId or @UserId too long; 50201 no job has @JobId;
           50202 the job is completed or cancelled already.
   Example: EXEC ops.CancelJob @JobId = @JobId, @UserId = N'alice'; */
IF OBJECT_ID(N'ops.CancelJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.CancelJob AS RETURN 0;');
GO
ALTER PROCEDURE ops.CancelJob
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
    DECLARE @HeldBy varchar(6);
    DECLARE @Text nvarchar(2048);
    DECLARE @Details nvarchar(max);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        SELECT
            @Status = j.Status,
            @HeldBy = j.HeldBy
        FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
        WHERE j.JobId = @JobId;
        IF @Status IS NULL
        BEGIN
            SET @Text = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
            THROW 50201, @Text, 1;
        END;

        UPDATE dbo.ProcessingJobs
        SET
            Status = 'cancelled',
            CompletedAt = @Now,
            HeldBy = NULL,
            ClaimToken = NULL,
            LeaseExpiresAt = NULL,
            RequestId = COALESCE(@RequestId, RequestId),
            UpdatedAt = @Now
        WHERE JobId = @JobId AND Status = @Status AND Status IN ('queued', 'running', 'failed');
        IF @@ROWCOUNT = 0
        BEGIN
            SET @Text = CONCAT(N'Job ''', @JobIdText, N''' is ', @Status, N'; only a queued, running or failed job can be cancelled.');
            THROW 50202, @Text, 1;
        END;
        -- the running attempt, if a worker held it, ends with the job (jobs before attempts, as the worker procedures);
        -- where the previous release's CHECK still refuses 'cancelled' (547: a deploy stopped at a maintenance step,
        -- header), only this statement is undone and the attempt stays open, as that release left it
        IF @Status = 'running'
        BEGIN
            SET XACT_ABORT OFF;
            BEGIN TRY
                UPDATE dbo.JobAttempts
                SET Outcome = 'cancelled', EndedAt = @Now
                WHERE JobId = @JobId AND Outcome IS NULL;
            END TRY
            BEGIN CATCH
                -- only the previous release's CHECK ("CK_JobAttempts_Outcome", quoted in the message on both engines, so not
                -- 0049's CK_JobAttempts_OutcomeValues); anything else is thrown with XACT_ABORT back ON, so that a caller's
                -- transaction is doomed as before and a half-done cancel can never be committed
                IF ERROR_NUMBER() <> 547 OR LOWER(ERROR_MESSAGE()) NOT LIKE N'%"ck[_]jobattempts[_]outcome"%'
                BEGIN
                    SET XACT_ABORT ON;
                    THROW;
                END;
            END CATCH;
            SET XACT_ABORT ON;
        END;

        SET @Details = (
            SELECT
                @Status AS [from],
                'cancelled' AS [to],
                @HeldBy AS heldBy
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText, @Action = 'cancelled',
            @Details = @Details, @UserId = @UserId, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
