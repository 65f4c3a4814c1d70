/* core.CheckLease - THROWs unless @ClaimToken is the current claim on running job @JobId; returns the job's facts.

   Called inside the caller's transaction by the worker procedures (and api.UpdateJobStatus when
   given a token), which then change the row with a compare-and-set on the same token (correct
   even where locking hints are ignored). The row is read and locked by JobId, the key every
   procedure that changes a job locks and updates it by.
   @SongId, @JobType, @WorkerId, @Attempts, @MaxAttempts, @CurrentProgress and @CurrentMessage
   return the job's values (worker.Heartbeat audits only a progress or message that changed).
   Repeats (issue #21): a caller that answers a repeated report passes @RepeatOutcomes, the
   attempt outcomes after which its report counts as already made (e.g. 'completed' for
   worker.CompleteJob). When the token is no longer the job's current claim but dbo.JobAttempts
   (0024) has it for this job with one of those outcomes, nothing is thrown: @Repeat returns that
   outcome and the caller answers without writing. Otherwise (no such attempt, or it expired) the
   errors below are thrown as without @RepeatOutcomes.
   Errors: 50001 @JobId or @ClaimToken missing; 50201 no job has @JobId; 50202 the job is not
           running (completed, failed, cancelled or back in the queue); 50203 the token is stale:
           the lease expired and the job was claimed again.
   Example: EXEC core.CheckLease @JobId = @JobId, @ClaimToken = @ClaimToken, @JobType = @JobType OUTPUT; */
IF OBJECT_ID(N'core.CheckLease', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CheckLease AS RETURN 0;');
GO
ALTER PROCEDURE core.CheckLease
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @SongId uniqueidentifier = NULL OUTPUT,
    @JobType varchar(20) = NULL OUTPUT,
    @WorkerId nvarchar(100) = NULL OUTPUT,
    @Attempts int = NULL OUTPUT,
    @MaxAttempts int = NULL OUTPUT,
    @CurrentProgress int = NULL OUTPUT,
    @CurrentMessage nvarchar(1000) = NULL OUTPUT,
    @RepeatOutcomes varchar(100) = NULL,
    @Repeat varchar(20) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);
    DECLARE @Status varchar(20);
    DECLARE @Current uniqueidentifier;
    DECLARE @JobIdText nvarchar(36) = CONVERT(nvarchar(36), @JobId);

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    IF @ClaimToken IS NULL
        THROW 50001, N'The parameter @ClaimToken is required. Supported values are the claim token that claim_next_job returned.', 1;

    SELECT
        @Status = j.Status,
        @Current = j.ClaimToken,
        @WorkerId = j.WorkerId,
        @SongId = j.SongId,
        @JobType = j.JobType,
        @Attempts = j.Attempts,
        @MaxAttempts = j.MaxAttempts,
        @CurrentProgress = j.Progress,
        @CurrentMessage = j.Message
    FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
    WHERE j.JobId = @JobId;

    IF @Status IS NULL
    BEGIN
        SET @Message = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
        THROW 50201, @Message, 1;
    END;
    SET @Repeat = NULL;
    IF @RepeatOutcomes IS NOT NULL AND (@Status <> 'running' OR @Current IS NULL OR @Current <> @ClaimToken)
    BEGIN
        -- the token's attempt ended with this worker's own report: a repeat (header); a seek on UQ_JobAttempts_ClaimToken
        SELECT @Repeat = a.Outcome
        FROM dbo.JobAttempts AS a
        WHERE a.ClaimToken = @ClaimToken AND a.JobId = @JobId;
        IF @Repeat IS NOT NULL AND CHARINDEX(CONCAT(',', @Repeat, ','), CONCAT(',', @RepeatOutcomes, ',')) > 0
            RETURN 0;
        SET @Repeat = NULL;
    END;
    IF @Status <> 'running'
    BEGIN
        SET @Message = CONCAT(
            N'Job ''', @JobIdText, N''' is ', @Status,
            N', not running: only the holder of a running job may report on it, add results to it, complete or fail it.'
        );
        THROW 50202, @Message, 1;
    END;
    IF @Current IS NULL OR @Current <> @ClaimToken
    BEGIN
        SET @Message = CONCAT(
            N'The lease on job ''', @JobIdText, N''' was lost: it is now held by ''', COALESCE(@WorkerId, N'?'),
            N''' under another claim token. This worker''s lease expired; drop the job.'
        );
        THROW 50203, @Message, 1;
    END;
END;
GO
