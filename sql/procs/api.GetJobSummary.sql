/* api.GetJobSummary - rows of dbo.vw_JobSummary, newest first, by status and/or song.

   Returns: JobId, SongId, SongTitle, SongArtist, ModelName, JobType, Status, Progress, Message,
            RequestId, Priority, Attempts, MaxAttempts, CreatedAt, StartedAt, CompletedAt,
            DurationSeconds, ErrorMessage, TrackCount, TranscriptionCount, ChromaCount
   Errors: 50002 @Limit out of range; 50003 @Status unknown.
   Example: EXEC api.GetJobSummary @Status = 'failed', @Limit = 20; */
IF OBJECT_ID(N'api.GetJobSummary', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetJobSummary AS RETURN 0;');
GO
ALTER PROCEDURE api.GetJobSummary
    @Status nvarchar(4000) = NULL,
    @SongId uniqueidentifier = NULL,
    @Limit int = 100
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckOneOf
        @Name = N'@Status', @Value = @Status, @Allowed = N'queued,running,completed,failed,cancelled';
    EXEC dbo.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    SELECT TOP (@Limit)
        v.JobId,
        v.SongId,
        v.SongTitle,
        v.SongArtist,
        v.ModelName,
        v.JobType,
        v.Status,
        v.Progress,
        v.Message,
        v.RequestId,
        v.Priority,
        v.Attempts,
        v.MaxAttempts,
        v.CreatedAt,
        v.StartedAt,
        v.CompletedAt,
        v.DurationSeconds,
        v.ErrorMessage,
        v.TrackCount,
        v.TranscriptionCount,
        v.ChromaCount
    FROM dbo.vw_JobSummary AS v
    WHERE
        (@Status IS NULL OR v.Status = LOWER(@Status))
        AND (@SongId IS NULL OR v.SongId = @SongId)
    ORDER BY v.CreatedAt DESC, v.JobId;
END;
GO
