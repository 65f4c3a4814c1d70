/* core.ReturnJob - one processing job by its JobId (an index seek); procedures that change a job end with it.

   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (no row when no job has @JobId). ClaimToken is NULL unless @WithToken = 1: only the call that
   created the claim hands it out.
   Example: EXEC core.ReturnJob @JobId = @JobId; */
IF OBJECT_ID(N'core.ReturnJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.ReturnJob AS RETURN 0;');
GO
ALTER PROCEDURE core.ReturnJob
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
        j.LeaseExpiresAt,
        j.HeldBy
    FROM dbo.ProcessingJobs AS j
    WHERE j.JobId = @JobId;
END;
GO
