/* core.ReturnJob - one processing job by its JobId (an index seek); procedures that change a job end with it.

   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (no row when no job has @JobId). ClaimToken is NULL unless @WithToken = 1: only the call that
   created the claim hands it out. Two statements rather than one CASE: without @WithToken the column
   is not named at all, because Babelfish (no ownership chaining) checks the caller's SELECT right on
   every column a statement names, and songsdb_ops, which ends ops.CancelJob and ops.RetryJob here, may
   not read claim tokens there (0054). Both return the same columns, as before.
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

    IF @WithToken = 1
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
            j.ClaimToken,
            j.LeaseExpiresAt,
            j.HeldBy
        FROM dbo.ProcessingJobs AS j
        WHERE j.JobId = @JobId;
    ELSE
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
            CAST(NULL AS uniqueidentifier) AS ClaimToken,
            j.LeaseExpiresAt,
            j.HeldBy
        FROM dbo.ProcessingJobs AS j
        WHERE j.JobId = @JobId;
END;
GO
