/* api.EnqueueJobs - queues several jobs for one song in one call and one transaction, each audited.

   @Jobs is a JSON array of 1 to 100 objects: {"modelName": "demucs", "jobType": "separation",
   "priority": 0, "maxAttempts": 3}; modelName and jobType are required.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the new jobs, in the order given)
   An element that is not an object (a number, a string, an array: `[1]`, `["x"]`) is refused with
   50004 naming @Jobs; its fields are read only from objects, so JSON_VALUE never meets a scalar
   (SQL Server raises 13609 for JSON_VALUE over the text of a scalar element, Babelfish an error of
   its own).
   Errors: 50001 @SongId or @Jobs missing; 50004 @Jobs malformed (the message names the field);
           50101 no song has @SongId.
   Example: EXEC api.EnqueueJobs @SongId = @Id,
                @Jobs = N'[{"modelName":"demucs","jobType":"separation"},{"modelName":"whisper","jobType":"transcription"}]'; */
IF OBJECT_ID(N'api.EnqueueJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.EnqueueJobs AS RETURN 0;');
GO
ALTER PROCEDURE api.EnqueueJobs
    @SongId uniqueidentifier,
    @Jobs nvarchar(max),
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckJson @Name = N'@Jobs', @Value = @Jobs, @Shape = 'array', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Rows TABLE (
        Ordinal int NOT NULL,
        IsObject bit NOT NULL,
        ModelName nvarchar(4000) NULL,
        JobType nvarchar(4000) NULL,
        Priority nvarchar(100) NULL,
        MaxAttempts nvarchar(100) NULL
    );
    -- OPENJSON's type 5 is an object: only objects are read by path (header)
    INSERT INTO @Rows (Ordinal, IsObject, ModelName, JobType, Priority, MaxAttempts)
    SELECT
        CAST(o.[key] AS int),
        CASE WHEN o.[type] = 5 THEN 1 ELSE 0 END,
        core.JsonText(JSON_VALUE(j.Object, '$.modelName')),
        core.JsonText(JSON_VALUE(j.Object, '$.jobType')),
        JSON_VALUE(j.Object, '$.priority'),
        JSON_VALUE(j.Object, '$.maxAttempts')
    FROM OPENJSON(@Jobs) AS o
    CROSS APPLY (SELECT CASE WHEN o.[type] = 5 THEN o.[value] END AS Object) AS j;

    DECLARE @Count int = (SELECT COUNT(*) FROM @Rows);
    IF @Count < 1 OR @Count > 100
        THROW 50004, N'The value for the parameter @Jobs is not supported. Supported values are a JSON array of 1 to 100 jobs.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE IsObject = 0)
        THROW 50004, N'The value for the parameter @Jobs is not supported: every job must be a JSON object. Supported values are objects with modelName and jobType.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE ModelName IS NULL OR LEN(ModelName) = 0 OR LEN(ModelName) > 50)
        THROW 50004, N'The value for the parameter @Jobs is not supported: every job needs a modelName. Supported values are model names of 1 to 50 characters.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE JobType IS NULL OR JobType NOT IN ('separation', 'transcription', 'chroma'))
        THROW 50004, N'The value for the parameter @Jobs is not supported: bad jobType. Supported values are separation, transcription, chroma.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE Priority IS NOT NULL AND (TRY_CAST(Priority AS int) IS NULL OR TRY_CAST(Priority AS int) NOT BETWEEN -1000 AND 1000)
    )
        THROW 50004, N'The value for the parameter @Jobs is not supported: bad priority. Supported values are whole numbers from -1000 to 1000.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE MaxAttempts IS NOT NULL AND (TRY_CAST(MaxAttempts AS int) IS NULL OR TRY_CAST(MaxAttempts AS int) NOT BETWEEN 1 AND 100)
    )
        THROW 50004, N'The value for the parameter @Jobs is not supported: bad maxAttempts. Supported values are whole numbers from 1 to 100.', 1;

    EXEC core.CheckSong @SongId = @SongId;

    DECLARE @New TABLE (JobId uniqueidentifier NOT NULL, ModelName nvarchar(50) NOT NULL, JobType varchar(20) NOT NULL);
    DECLARE @SongIdText nvarchar(36) = CONVERT(nvarchar(36), @SongId);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Priority, MaxAttempts, RequestId)
        OUTPUT inserted.JobId, inserted.ModelName, inserted.JobType INTO @New (JobId, ModelName, JobType)
        SELECT
            @SongId,
            r.ModelName,
            LOWER(r.JobType),
            COALESCE(TRY_CAST(r.Priority AS int), 0),
            COALESCE(TRY_CAST(r.MaxAttempts AS int), 3),
            @RequestId
        FROM @Rows AS r
        ORDER BY r.Ordinal;

        -- who and where from, as core.WriteAudit records them (0015)
        INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, RecordedBy, Source)
        SELECT
            @RequestId,
            'job',
            CONVERT(nvarchar(36), n.JobId),
            'created',
            (
                SELECT
                    @SongIdText AS songId,
                    n.ModelName AS modelName,
                    n.JobType AS jobType
                FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
            ),
            ORIGINAL_LOGIN(),
            CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
        FROM @New AS n;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        IF ERROR_NUMBER() = 547  -- the song was deleted between the check and the insert
        BEGIN
            DECLARE @Text nvarchar(2048) = CONCAT(N'No song has @SongId = ''', CONVERT(nvarchar(36), @SongId), N'''.');
            THROW 50101, @Text, 1;
        END;
        THROW;
    END CATCH;

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
    FROM @New AS n
    INNER JOIN dbo.ProcessingJobs AS j
        ON j.JobId = n.JobId
    ORDER BY j.Id;
END;
GO
