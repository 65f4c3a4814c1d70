/* ops.ListHeldJobs - the running jobs and who holds them, expired leases first, with lease ages.

   Every running job has a holder (HeldBy 'worker' or 'web', WorkerId) and a lease. Ordered by
   LeaseExpiresAt, then Id: a seek on IX_ProcessingJobs_Running_LeaseExpiresAt (filtered on
   Status = 'running', so it holds the running jobs only: about one per worker), then at most
   @Limit key lookups. LeaseSecondsLeft is negative for an expired lease (the next claim takes that
   job back); HeldSeconds is how long ago the job first started (StartedAt). Keyset paged: give the
   last job of the previous page as @AfterJobId; a lease renewed between two pages moves its job,
   so a live list may show it twice or not at all (refresh from the first page).
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, HeldBy, WorkerId, StartedAt,
            UpdatedAt, LeaseExpiresAt, LeaseSecondsLeft, HeldSeconds, RequestId
   Errors: 50002 @Limit out of range; 50201 no job has @AfterJobId.
   Example: EXEC ops.ListHeldJobs @Limit = 100; */
IF OBJECT_ID(N'ops.ListHeldJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.ListHeldJobs AS RETURN 0;');
GO
ALTER PROCEDURE ops.ListHeldJobs
    @AfterJobId uniqueidentifier = NULL,
    @Limit int = 100
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @AfterAt datetime2(3) = CAST('0001-01-01' AS datetime2(3));
    DECLARE @AfterId bigint = 0;
    DECLARE @Text nvarchar(2048);
    DECLARE @Page TABLE (Position int NOT NULL PRIMARY KEY, Id bigint NOT NULL);

    IF @AfterJobId IS NOT NULL
    BEGIN
        SELECT @AfterAt = COALESCE(j.LeaseExpiresAt, @AfterAt), @AfterId = j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE j.JobId = @AfterJobId;
        IF @@ROWCOUNT = 0
        BEGIN
            SET @Text = CONCAT(N'No processing job has @AfterJobId = ''', CONVERT(nvarchar(36), @AfterJobId), N'''.');
            THROW 50201, @Text, 1;
        END;
    END;

    INSERT INTO @Page (Position, Id)
    SELECT TOP (@Limit)
        ROW_NUMBER() OVER (ORDER BY j.LeaseExpiresAt, j.Id),
        j.Id
    FROM dbo.ProcessingJobs AS j
    WHERE
        j.Status = 'running'
        AND (j.LeaseExpiresAt > @AfterAt OR (j.LeaseExpiresAt = @AfterAt AND j.Id > @AfterId))
    ORDER BY j.LeaseExpiresAt, j.Id;

    SELECT
        j.JobId,
        j.SongId,
        j.ModelName,
        j.JobType,
        j.Status,
        j.Progress,
        j.Message,
        j.HeldBy,
        j.WorkerId,
        j.StartedAt,
        j.UpdatedAt,
        j.LeaseExpiresAt,
        DATEDIFF(SECOND, @Now, j.LeaseExpiresAt) AS LeaseSecondsLeft,
        DATEDIFF(SECOND, j.StartedAt, @Now) AS HeldSeconds,
        j.RequestId
    FROM @Page AS p
    -- one key seek per row of the page. Not a join: Babelfish cannot estimate a table variable and
    -- joined it to the whole table by a merge over a sequential scan (tests/integration/test_page_reads.py).
    CROSS APPLY (
        SELECT TOP (1)
            x.JobId,
            x.SongId,
            x.ModelName,
            x.JobType,
            x.Status,
            x.Progress,
            x.Message,
            x.HeldBy,
            x.WorkerId,
            x.StartedAt,
            x.UpdatedAt,
            x.LeaseExpiresAt,
            x.RequestId
        FROM dbo.ProcessingJobs AS x
        WHERE x.Id = p.Id
    ) AS j
    ORDER BY p.Position;
END;
GO
