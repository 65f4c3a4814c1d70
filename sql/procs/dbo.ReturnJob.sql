/* dbo.ReturnJob - the one SELECT of a processing-job row; api procedures end with it.

   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt
   (no row when @JobId names no job). ClaimToken is NULL unless @WithToken = 1: only the
   claim that created it hands it out.
   Example: EXEC dbo.ReturnJob @JobId = @JobId; */
IF OBJECT_ID(N'dbo.ReturnJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.ReturnJob AS RETURN 0;');
GO
ALTER PROCEDURE dbo.ReturnJob
    @JobId uniqueidentifier,
    @WithToken bit = 0
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    SELECT
        j.JobId,
        j.SongId,
        j.ModelName,
        j.JobType,
        j.Status,
        j.Progress,
        j.Message,
        j.RequestId,
        j.Priority,
        j.Attempts,
        j.MaxAttempts,
        j.CreatedAt,
        j.AvailableAt,
        j.UpdatedAt,
        j.StartedAt,
        j.CompletedAt,
        j.ErrorMessage,
        j.ErrorStack,
        j.ResultMetadata,
        j.WorkerId,
        CASE WHEN @WithToken = 1 THEN j.ClaimToken END AS ClaimToken,
        j.LeaseExpiresAt
    FROM dbo.ProcessingJobs AS j
    WHERE j.JobId = @JobId;
END;
GO
