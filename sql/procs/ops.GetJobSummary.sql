/* ops.GetJobSummary - rows of dbo.vw_JobSummary, newest first, by status and/or song.

   One statement per access path picks the page's JobIds from IX_ProcessingJobs_SongId_CreatedAt,
   IX_ProcessingJobs_Status_CreatedAt or IX_ProcessingJobs_CreatedAt in order; the view is then
   read for those jobs only (a JobId seek each). Newest first: CreatedAt DESC, then Id DESC.

   Returns: JobId, SongId, SongTitle, SongArtist, ModelName, JobType, Status, Progress, Message,
            RequestId, Priority, Attempts, MaxAttempts, CreatedAt, StartedAt, CompletedAt,
            DurationSeconds, ErrorMessage, TrackCount, TranscriptionCount, ChromaCount
   Errors: 50002 @Limit out of range; 50003 @Status unknown.
   Example: EXEC ops.GetJobSummary @Status = 'failed', @Limit = 20; */
IF OBJECT_ID(N'ops.GetJobSummary', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.GetJobSummary AS RETURN 0;');
GO
ALTER PROCEDURE ops.GetJobSummary
    @Status nvarchar(4000) = NULL,
    @SongId uniqueidentifier = NULL,
    @Limit int = 100
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckOneOf
        @Name = N'@Status', @Value = @Status, @Allowed = N'queued,running,completed,failed,cancelled';
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @StatusValue varchar(20) = LOWER(@Status);
    DECLARE @Page TABLE (Position int NOT NULL PRIMARY KEY, JobId uniqueidentifier NOT NULL);

    -- pick the page's jobs in index order (no sort), then read the view for those rows only
    IF @SongId IS NOT NULL
        INSERT INTO @Page (Position, JobId)
        SELECT TOP (@Limit)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.JobId
        FROM dbo.ProcessingJobs AS j
        WHERE j.SongId = @SongId AND (@StatusValue IS NULL OR j.Status = @StatusValue)
        ORDER BY j.CreatedAt DESC, j.Id DESC;
    ELSE IF @StatusValue IS NOT NULL
        INSERT INTO @Page (Position, JobId)
        SELECT TOP (@Limit)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.JobId
        FROM dbo.ProcessingJobs AS j
        WHERE j.Status = @StatusValue
        ORDER BY j.CreatedAt DESC, j.Id DESC;
    ELSE
        INSERT INTO @Page (Position, JobId)
        SELECT TOP (@Limit)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.JobId
        FROM dbo.ProcessingJobs AS j
        ORDER BY j.CreatedAt DESC, j.Id DESC;

    SELECT
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
    FROM @Page AS p
    -- one key seek per row of the page. Not a join: Babelfish cannot estimate a table variable and
    -- joined it to the whole table by a merge over a sequential scan (tests/integration/test_page_reads.py).
    CROSS APPLY (
        SELECT TOP (1)
            x.JobId,
            x.SongId,
            x.SongTitle,
            x.SongArtist,
            x.ModelName,
            x.JobType,
            x.Status,
            x.Progress,
            x.Message,
            x.RequestId,
            x.Priority,
            x.Attempts,
            x.MaxAttempts,
            x.CreatedAt,
            x.StartedAt,
            x.CompletedAt,
            x.DurationSeconds,
            x.ErrorMessage,
            x.TrackCount,
            x.TranscriptionCount,
            x.ChromaCount
        FROM dbo.vw_JobSummary AS x
        WHERE x.JobId = p.JobId
    ) AS v
    ORDER BY p.Position;
END;
GO
