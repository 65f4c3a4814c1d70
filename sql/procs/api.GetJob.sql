/* api.GetJob - one processing job by its JobId.

   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (through core.ReturnJob; no row when no job has that JobId)
   Errors: 50001 @JobId missing.
   Example: EXEC api.GetJob @JobId = @JobId; */
IF OBJECT_ID(N'api.GetJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetJob AS RETURN 0;');
GO
ALTER PROCEDURE api.GetJob
    @JobId uniqueidentifier
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;

    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
