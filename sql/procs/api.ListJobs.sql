/* api.ListJobs - a page of processing jobs, newest first, by song and/or status.

   One statement per access path: each branch picks the page's keys in index order with no sort
   (IX_ProcessingJobs_SongId_CreatedAt for a song's jobs, with the status as a residual filter:
   a song has few jobs; IX_ProcessingJobs_Status_CreatedAt by status; IX_ProcessingJobs_CreatedAt
   for all), then one SELECT reads those rows by their clustered key, one seek each. Newest first is CreatedAt
   DESC, then the clustered key Id DESC. @Offset 0 to 100000 (deeper pages: filter instead), @Limit 1 to 1000.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (ClaimToken is always NULL here)
   Errors: 50002 @Offset or @Limit out of range; 50003 @Status unknown.
   Example: EXEC api.ListJobs @SongId = @Id, @Status = 'running'; */
IF OBJECT_ID(N'api.ListJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.ListJobs AS RETURN 0;');
GO
ALTER PROCEDURE api.ListJobs
    @SongId uniqueidentifier = NULL,
    @Status nvarchar(4000) = NULL,
    @Offset int = 0,
    @Limit int = 100
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckOneOf
        @Name = N'@Status', @Value = @Status, @Allowed = N'queued,running,completed,failed,cancelled';
    EXEC core.CheckNumber
        @Name = N'@Offset', @Value = @Offset, @Min = 0, @Max = 100000,
        @Allowed = N'whole numbers from 0 to 100000', @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @StatusValue varchar(20) = LOWER(@Status);
    -- the page is rows @Offset + 1 .. @Through in order; Babelfish takes no OFFSET inside INSERT ... SELECT
    DECLARE @Through bigint = CAST(@Offset AS bigint) + @Limit;
    DECLARE @Page TABLE (Position bigint NOT NULL PRIMARY KEY, Id bigint NOT NULL);

    IF @SongId IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE j.SongId = @SongId AND (@StatusValue IS NULL OR j.Status = @StatusValue)
        ORDER BY j.CreatedAt DESC, j.Id DESC;
    ELSE IF @StatusValue IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE j.Status = @StatusValue
        ORDER BY j.CreatedAt DESC, j.Id DESC;
    ELSE
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.Id
        FROM dbo.ProcessingJobs AS j
        ORDER BY j.CreatedAt DESC, j.Id DESC;

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
    FROM @Page AS p
    -- one clustered-key seek per row of the page. Not a join: an engine that cannot estimate the
    -- table variable (Babelfish) planned the join as a merge over every row of the table.
    CROSS APPLY (
        SELECT TOP (1)
            x.JobId,
            x.SongId,
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
            x.AvailableAt,
            x.UpdatedAt,
            x.StartedAt,
            x.CompletedAt,
            x.ErrorMessage,
            x.ErrorStack,
            x.ResultMetadata,
            x.WorkerId,
            x.LeaseExpiresAt,
            x.HeldBy
        FROM dbo.ProcessingJobs AS x
        WHERE x.Id = p.Id
    ) AS j
    WHERE p.Position > @Offset
    ORDER BY p.Position;
END;
GO
