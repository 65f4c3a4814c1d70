/* dbo.ReturnJob - the one SELECT of processing-job rows; api procedures end with it.

   One job by @JobId, several by @JobIds (a JSON array of ids, oldest first), or with @List = 1
   a page (@Offset, @Limit; newest first) filtered by @SongId and/or @Status. Callers validate the filters.

   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt
   (no row when nothing matches). ClaimToken is NULL unless @WithToken = 1: only the claim
   that created it hands it out.
   Example: EXEC dbo.ReturnJob @JobId = @JobId;  EXEC dbo.ReturnJob @List = 1, @SongId = @Id, @Limit = 100; */
IF OBJECT_ID(N'dbo.ReturnJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.ReturnJob AS RETURN 0;');
GO
ALTER PROCEDURE dbo.ReturnJob
    @JobId uniqueidentifier = NULL,
    @WithToken bit = 0,
    @JobIds nvarchar(max) = NULL,
    @SongId uniqueidentifier = NULL,
    @Status varchar(20) = NULL,
    @List bit = 0,
    @Offset int = 0,
    @Limit int = 1000
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
    WHERE
        (
            j.JobId = @JobId
            OR j.JobId IN (SELECT TRY_CAST(v.[value] AS uniqueidentifier) FROM OPENJSON(@JobIds) AS v)
            OR @List = 1
        )
        AND (@SongId IS NULL OR j.SongId = @SongId)
        AND (@Status IS NULL OR j.Status = @Status)
    ORDER BY CASE WHEN @JobIds IS NULL THEN -j.Id ELSE j.Id END
    OFFSET @Offset ROWS FETCH NEXT @Limit ROWS ONLY;
END;
GO
