/* ops.GetRequestTrail - everything one request (X-Request-ID) did, in order: audit rows, and the jobs they name.

   The audit rows of the request across every role (web, workers, ops), oldest first (Id order):
   a seek on IX_AuditLog_RequestId_Id, keyset paged by the audit row's Id (@AfterAuditId: the last
   Id of the previous page). The second result is each job those rows name (EntityType 'job'), one
   UQ_ProcessingJobs_JobId seek per job, in the order the page first names it.
   Returns 1: Id, RequestId, EntityType, EntityId, Action, UserId, Details, Timestamp, RecordedBy,
              Source
   Returns 2: JobId, SongId, ModelName, JobType, Status, Progress, Attempts, CreatedAt, UpdatedAt,
              ErrorMessage
   Errors: 50001 @RequestId missing; 50002 @RequestId too long or @Limit out of range.
   Example: EXEC ops.GetRequestTrail @RequestId = N'req-42'; */
IF OBJECT_ID(N'ops.GetRequestTrail', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.GetRequestTrail AS RETURN 0;');
GO
ALTER PROCEDURE ops.GetRequestTrail
    @RequestId nvarchar(4000),
    @AfterAuditId bigint = NULL,
    @Limit int = 200
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100, @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @Request nvarchar(100) = @RequestId;
    DECLARE @After bigint = COALESCE(@AfterAuditId, 0);
    DECLARE @Page TABLE (
        Id bigint NOT NULL PRIMARY KEY,
        EntityType varchar(20) NOT NULL,
        EntityId nvarchar(100) NULL
    );

    INSERT INTO @Page (Id, EntityType, EntityId)
    SELECT TOP (@Limit)
        a.Id,
        a.EntityType,
        a.EntityId
    FROM dbo.AuditLog AS a
    WHERE a.RequestId = @Request AND a.Id > @After
    ORDER BY a.Id;

    SELECT
        a.Id,
        a.RequestId,
        a.EntityType,
        a.EntityId,
        a.Action,
        a.UserId,
        a.Details,
        a.[Timestamp],
        a.RecordedBy,
        a.Source
    FROM @Page AS p
    -- one key seek per row of the page. Not a join: Babelfish cannot estimate a table variable and
    -- joined it to the whole table by a merge over a sequential scan (tests/integration/test_page_reads.py).
    CROSS APPLY (
        SELECT TOP (1)
            x.Id,
            x.RequestId,
            x.EntityType,
            x.EntityId,
            x.Action,
            x.UserId,
            x.Details,
            x.[Timestamp],
            x.RecordedBy,
            x.Source
        FROM dbo.AuditLog AS x
        WHERE x.Id = p.Id
    ) AS a
    ORDER BY a.Id;

    SELECT
        j.JobId,
        j.SongId,
        j.ModelName,
        j.JobType,
        j.Status,
        j.Progress,
        j.Attempts,
        j.CreatedAt,
        j.UpdatedAt,
        j.ErrorMessage
    FROM (
        SELECT
            TRY_CAST(p.EntityId AS uniqueidentifier) AS JobId,
            MIN(p.Id) AS FirstId
        FROM @Page AS p
        WHERE p.EntityType = 'job'
        GROUP BY TRY_CAST(p.EntityId AS uniqueidentifier)
    ) AS named
    -- one UQ_ProcessingJobs_JobId seek per job named (see above)
    CROSS APPLY (
        SELECT TOP (1)
            x.JobId,
            x.SongId,
            x.ModelName,
            x.JobType,
            x.Status,
            x.Progress,
            x.Attempts,
            x.CreatedAt,
            x.UpdatedAt,
            x.ErrorMessage
        FROM dbo.ProcessingJobs AS x
        WHERE x.JobId = named.JobId
    ) AS j
    ORDER BY named.FirstId;
END;
GO
