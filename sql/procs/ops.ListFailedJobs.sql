/* ops.ListFailedJobs - a page of failed jobs, newest first, by model and/or job type, with error and stack.

   Newest first is CreatedAt DESC, then Id DESC. Keyset paged: give the last job of the previous
   page as @AfterJobId (its CreatedAt and Id are read by UQ_ProcessingJobs_JobId; a job's CreatedAt
   never changes, so the cursor holds even when that job was retried or cancelled since).
   One statement per access path, each a seek in the page's order with no sort:
     no filter ............. IX_ProcessingJobs_Status_CreatedAt (Status, CreatedAt, Id)
     @ModelName (+ type) ... IX_ProcessingJobs_FailedByModel (0029; the type a residual filter)
     @JobType only ......... IX_ProcessingJobs_FailedByType (0030)
   then at most @Limit key lookups for the rest of each row, and a Songs seek for its title.
   Returns: JobId, SongId, SongTitle, ModelName, JobType, Status, Attempts, MaxAttempts, RequestId,
            WorkerId, CreatedAt, CompletedAt, ErrorMessage, ErrorStack
   Errors: 50002 @ModelName too long or @Limit out of range; 50003 @JobType unknown;
           50201 no job has @AfterJobId.
   Example: EXEC ops.ListFailedJobs @ModelName = N'htdemucs', @Limit = 50; */
IF OBJECT_ID(N'ops.ListFailedJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.ListFailedJobs AS RETURN 0;');
GO
ALTER PROCEDURE ops.ListFailedJobs
    @ModelName nvarchar(4000) = NULL,
    @JobType nvarchar(4000) = NULL,
    @AfterJobId uniqueidentifier = NULL,
    @Limit int = 50
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@ModelName', @Value = @ModelName, @MaxLength = 50;
    EXEC core.CheckOneOf @Name = N'@JobType', @Value = @JobType, @Allowed = N'separation,transcription,chroma';
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 500,
        @Allowed = N'whole numbers from 1 to 500', @Required = 1;

    DECLARE @Model nvarchar(50) = @ModelName;
    DECLARE @Type varchar(20) = LOWER(@JobType);
    DECLARE @AfterAt datetime2(3) = CAST('9999-12-31' AS datetime2(3));
    DECLARE @AfterId bigint = 9223372036854775807;
    DECLARE @Text nvarchar(2048);
    DECLARE @Page TABLE (Position int NOT NULL PRIMARY KEY, Id bigint NOT NULL);

    IF @AfterJobId IS NOT NULL
    BEGIN
        SELECT @AfterAt = j.CreatedAt, @AfterId = j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE j.JobId = @AfterJobId;
        IF @@ROWCOUNT = 0
        BEGIN
            SET @Text = CONCAT(N'No processing job has @AfterJobId = ''', CONVERT(nvarchar(36), @AfterJobId), N'''.');
            THROW 50201, @Text, 1;
        END;
    END;

    IF @Model IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Limit)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE
            j.Status = 'failed'
            AND j.ModelName = @Model
            AND (@Type IS NULL OR j.JobType = @Type)
            AND (j.CreatedAt < @AfterAt OR (j.CreatedAt = @AfterAt AND j.Id < @AfterId))
        ORDER BY j.CreatedAt DESC, j.Id DESC;
    ELSE IF @Type IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Limit)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE
            j.Status = 'failed'
            AND j.JobType = @Type
            AND (j.CreatedAt < @AfterAt OR (j.CreatedAt = @AfterAt AND j.Id < @AfterId))
        ORDER BY j.CreatedAt DESC, j.Id DESC;
    ELSE
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Limit)
            ROW_NUMBER() OVER (ORDER BY j.CreatedAt DESC, j.Id DESC),
            j.Id
        FROM dbo.ProcessingJobs AS j
        WHERE
            j.Status = 'failed'
            AND (j.CreatedAt < @AfterAt OR (j.CreatedAt = @AfterAt AND j.Id < @AfterId))
        ORDER BY j.CreatedAt DESC, j.Id DESC;

    SELECT
        j.JobId,
        j.SongId,
        s.Title AS SongTitle,
        j.ModelName,
        j.JobType,
        j.Status,
        j.Attempts,
        j.MaxAttempts,
        j.RequestId,
        j.WorkerId,
        j.CreatedAt,
        j.CompletedAt,
        j.ErrorMessage,
        j.ErrorStack
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
            x.Attempts,
            x.MaxAttempts,
            x.RequestId,
            x.WorkerId,
            x.CreatedAt,
            x.CompletedAt,
            x.ErrorMessage,
            x.ErrorStack
        FROM dbo.ProcessingJobs AS x
        WHERE x.Id = p.Id
    ) AS j
    OUTER APPLY (
        SELECT TOP (1)
            y.Title
        FROM dbo.Songs AS y
        WHERE y.Id = j.SongId
    ) AS s
    ORDER BY p.Position;
END;
GO
