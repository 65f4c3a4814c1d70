/* dbo.CheckLease - THROWs unless @ClaimToken is the current claim on running job @JobId.

   Called inside the caller's transaction by api.Heartbeat, api.CompleteJob and api.FailJob, which
   then change the row with a compare-and-set on the same token (correct even where locking hints
   are ignored).
   Errors: 50001 @JobId or @ClaimToken missing; 50201 no job has @JobId; 50202 the job is not
           running (completed, failed, cancelled or back in the queue); 50203 the token is stale:
           the lease expired and the job was claimed again.
   Example: EXEC dbo.CheckLease @JobId = @JobId, @ClaimToken = @ClaimToken; */
IF OBJECT_ID(N'dbo.CheckLease', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.CheckLease AS RETURN 0;');
GO
ALTER PROCEDURE dbo.CheckLease
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);
    DECLARE @Status varchar(20);
    DECLARE @Current uniqueidentifier;
    DECLARE @Worker nvarchar(100);
    DECLARE @JobIdText nvarchar(36) = CONVERT(nvarchar(36), @JobId);

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    IF @ClaimToken IS NULL
        THROW 50001, N'The parameter @ClaimToken is required. Supported values are the claim token that claim_next_job returned.', 1;

    SELECT
        @Status = j.Status,
        @Current = j.ClaimToken,
        @Worker = j.WorkerId
    FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
    WHERE j.JobId = @JobId;

    IF @Status IS NULL
    BEGIN
        SET @Message = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
        THROW 50201, @Message, 1;
    END;
    IF @Status <> 'running'
    BEGIN
        SET @Message = CONCAT(
            N'Job ''', @JobIdText, N''' is ', @Status, N', not running: a worker may only heartbeat, complete or fail a running job it holds.'
        );
        THROW 50202, @Message, 1;
    END;
    IF @Current IS NULL OR @Current <> @ClaimToken
    BEGIN
        SET @Message = CONCAT(
            N'The lease on job ''', @JobIdText, N''' was lost: it is now held by worker ''', COALESCE(@Worker, N'?'),
            N''' under another claim token. This worker''s lease expired; drop the job.'
        );
        THROW 50203, @Message, 1;
    END;
END;
GO
