/* ops.GetJobDetail - one job for the console: the job with its song, and its state history from the audit trail.

   The job: a UQ_ProcessingJobs_JobId seek and a Songs seek. Its history: the audit rows of entity
   'job' with this id, oldest first, a seek on IX_AuditLog_EntityType_EntityId (EntityType,
   EntityId, Id), at most @Limit rows (every claim, heartbeat that changed progress, status change,
   failure, retry and cancel, with who wrote it: RecordedBy, Source, UserId).
   Returns 1: JobId, SongId, SongTitle, SongFileId, ModelName, JobType, Status, Progress, Message,
              RequestId, Priority, Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt,
              StartedAt, CompletedAt, ErrorMessage, ErrorStack, ResultMetadata, WorkerId,
              LeaseExpiresAt, HeldBy
   Returns 2: Id, RequestId, EntityType, EntityId, Action, UserId, Details, Timestamp, RecordedBy,
              Source
   Errors: 50001 @JobId missing; 50002 @Limit out of range; 50201 no job has @JobId.
   Example: EXEC ops.GetJobDetail @JobId = @JobId; */
IF OBJECT_ID(N'ops.GetJobDetail', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.GetJobDetail AS RETURN 0;');
GO
ALTER PROCEDURE ops.GetJobDetail
    @JobId uniqueidentifier,
    @Limit int = 500
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Text nvarchar(2048);

    IF NOT EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.JobId = @JobId)
    BEGIN
        SET @Text = CONCAT(N'No processing job has @JobId = ''', @JobIdText, N'''.');
        THROW 50201, @Text, 1;
    END;

    SELECT
        j.JobId,
        j.SongId,
        s.Title AS SongTitle,
        s.FileId AS SongFileId,
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
        j.LeaseExpiresAt,
        j.HeldBy
    FROM dbo.ProcessingJobs AS j
    LEFT JOIN dbo.Songs AS s
        ON s.Id = j.SongId
    WHERE j.JobId = @JobId;

    SELECT TOP (@Limit)
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
    FROM dbo.AuditLog AS a
    WHERE a.EntityType = 'job' AND a.EntityId = @JobIdText
    ORDER BY a.Id;
END;
GO
