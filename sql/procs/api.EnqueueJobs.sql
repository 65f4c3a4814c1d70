/* api.EnqueueJobs - queues several jobs for one song in one call and one transaction, each audited.

   @Jobs is a JSON array of 1 to 100 objects: {"modelName": "demucs", "jobType": "separation",
   "priority": 0, "maxAttempts": 3, "jobKey": "req-42/demucs"}; modelName and jobType are required.
   jobKey (optional, 1 to 200 characters) follows api.CreateJob's rule: a job whose key already
   exists for this song, model and job type is not queued again, and the existing job is returned in
   its place; a key on another song, model or type is refused with 50205 and nothing is written. A
   key given twice in one call is one job (and must name one model and type). Two sessions queueing
   one key at once: the loser's duplicate-key error is caught, its transaction rolled back and the
   call made again, now finding the winner's job (as api.CreateJob; not inside a caller's
   transaction, which that error dooms).
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (one row per element, in the order given: the new job, or the key's existing one)
   An element that is not an object (a number, a string, an array: `[1]`, `["x"]`) is refused with
   50004 naming @Jobs; its fields are read only from objects, so JSON_VALUE never meets a scalar
   (SQL Server raises 13609 for JSON_VALUE over the text of a scalar element, Babelfish an error of
   its own).
   Errors: 50001 @SongId or @Jobs missing; 50004 @Jobs malformed (the message names the field);
           50101 no song has @SongId; 50205 a jobKey belongs to a job of another song, model or job
           type (or repeats in @Jobs with another model or type).
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
        MaxAttempts nvarchar(100) NULL,
        JobKey nvarchar(4000) COLLATE Latin1_General_BIN2 NULL
    );
    -- OPENJSON's type 5 is an object: only objects are read by path (header)
    INSERT INTO @Rows (Ordinal, IsObject, ModelName, JobType, Priority, MaxAttempts, JobKey)
    SELECT
        CAST(o.[key] AS int),
        CASE WHEN o.[type] = 5 THEN 1 ELSE 0 END,
        core.JsonText(JSON_VALUE(j.Object, '$.modelName')),
        core.JsonText(JSON_VALUE(j.Object, '$.jobType')),
        JSON_VALUE(j.Object, '$.priority'),
        JSON_VALUE(j.Object, '$.maxAttempts'),
        core.JsonText(JSON_VALUE(j.Object, '$.jobKey'))
    FROM OPENJSON(@Jobs) AS o
    CROSS APPLY (SELECT CASE WHEN o.[type] = 5 THEN o.[value] END AS Object) AS j;

    DECLARE @Count int = (SELECT COUNT(*) FROM @Rows);
    IF @Count < 1 OR @Count > 100
        THROW 50004, N'The value for the parameter @Jobs is not supported. Supported values are a JSON array of 1 to 100 jobs.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE IsObject = 0)
        THROW 50004, N'The value for the parameter @Jobs is not supported: every job must be a JSON object. Supported values are objects with modelName and jobType.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE ModelName IS NULL OR LEN(ModelName) = 0 OR core.TextLength(ModelName) > 50)
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
    IF EXISTS (SELECT 1 FROM @Rows WHERE LEN(JobKey) = 0 OR core.TextLength(JobKey) > 200)
        THROW 50004, N'The value for the parameter @Jobs is not supported: bad jobKey. Supported values are keys of 1 to 200 characters, or no jobKey.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE JobKey IS NOT NULL
        GROUP BY JobKey
        HAVING MIN(LOWER(JobType)) <> MAX(LOWER(JobType)) OR MIN(ModelName) <> MAX(ModelName)
    )
        THROW 50205, N'The value for the parameter @Jobs is not supported: a jobKey repeats with another modelName or jobType. Supported values are one model and job type per key.', 1;

    EXEC core.CheckSong @SongId = @SongId;

    DECLARE @Map TABLE (Ordinal int NOT NULL PRIMARY KEY, JobId uniqueidentifier NULL);
    DECLARE @New TABLE (
        Id bigint NOT NULL,
        JobId uniqueidentifier NOT NULL,
        ModelName nvarchar(50) NOT NULL,
        JobType varchar(20) NOT NULL,
        JobKey nvarchar(200) COLLATE Latin1_General_BIN2 NULL
    );
    DECLARE @SongIdText nvarchar(36) = CONVERT(nvarchar(36), @SongId);
    DECLARE @Text nvarchar(2048);
    DECLARE @Tries int = 0;
    DECLARE @Done bit = 0;

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    WHILE @Done = 0
    BEGIN
        SET @Tries = @Tries + 1;
        DELETE FROM @Map;
        DELETE FROM @New;
        -- the keys' existing jobs: a seek each on IX_ProcessingJobs_JobKey (0023), covered
        INSERT INTO @Map (Ordinal, JobId)
        SELECT
            r.Ordinal,
            j.JobId
        FROM @Rows AS r
        LEFT JOIN dbo.ProcessingJobs AS j
            ON r.JobKey IS NOT NULL AND j.JobKey = r.JobKey;
        SET @Text = (
            SELECT TOP (1)
                CONCAT(
                    N'The value for the parameter @Jobs is not supported: jobKey ''', r.JobKey,
                    N''' is already used by job ''', CONVERT(nvarchar(36), j.JobId), N''' (song ''',
                    CONVERT(nvarchar(36), j.SongId), N''', ', j.ModelName, N' ', j.JobType,
                    N'). Supported values are a key not used yet, or this same key with that job''s song, model and job type.'
                )
            FROM @Map AS m
            INNER JOIN @Rows AS r
                ON r.Ordinal = m.Ordinal
            INNER JOIN dbo.ProcessingJobs AS j
                ON j.JobId = m.JobId
            WHERE j.SongId <> @SongId OR j.ModelName <> r.ModelName OR j.JobType <> LOWER(r.JobType)
            ORDER BY m.Ordinal
        );
        IF @Text IS NOT NULL
            THROW 50205, @Text, 1;

        BEGIN TRY
            IF @OwnTransaction = 1 BEGIN TRANSACTION;

            -- the elements without a job: a key's first element only, every element without a key
            INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Priority, MaxAttempts, RequestId, JobKey)
            OUTPUT
                inserted.Id,
                inserted.JobId,
                inserted.ModelName,
                inserted.JobType,
                inserted.JobKey
            INTO @New (Id, JobId, ModelName, JobType, JobKey)
            SELECT
                @SongId,
                r.ModelName,
                LOWER(r.JobType),
                COALESCE(TRY_CAST(r.Priority AS int), 0),
                COALESCE(TRY_CAST(r.MaxAttempts AS int), 3),
                @RequestId,
                r.JobKey
            FROM @Rows AS r
            INNER JOIN @Map AS m
                ON m.Ordinal = r.Ordinal
            WHERE
                m.JobId IS NULL
                AND (r.JobKey IS NULL OR r.Ordinal = (SELECT MIN(x.Ordinal) FROM @Rows AS x WHERE x.JobKey = r.JobKey))
            ORDER BY r.Ordinal;

            -- where from, as core.WriteAudit records it (0015); who: RecordedBy's default, ORIGINAL_LOGIN() (0052)
            INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, Source)
            SELECT
                @RequestId,
                'job',
                CONVERT(nvarchar(36), n.JobId),
                'created',
                (
                    SELECT
                        @SongIdText AS songId,
                        n.ModelName AS modelName,
                        n.JobType AS jobType,
                        n.JobKey AS jobKey
                    FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
                ),
                CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
            FROM @New AS n;

            IF @OwnTransaction = 1 COMMIT TRANSACTION;
            SET @Done = 1;
        END TRY
        BEGIN CATCH
            IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
            IF ERROR_NUMBER() = 547  -- the song was deleted between the check and the insert
            BEGIN
                SET @Text = CONCAT(N'No song has @SongId = ''', CONVERT(nvarchar(36), @SongId), N'''.');
                THROW 50101, @Text, 1;
            END;
            -- another session inserted one of these keys first and committed: the loop reads its job (header)
            IF NOT (ERROR_NUMBER() IN (2601, 2627) AND @OwnTransaction = 1 AND @Tries < 3)
                THROW;
        END CATCH;
    END;

    -- the new jobs in the order given: a key's by its key, the others in insert order (Id follows the ORDER BY)
    UPDATE m
    SET m.JobId = j.JobId
    FROM @Map AS m
    INNER JOIN @Rows AS r
        ON r.Ordinal = m.Ordinal
    INNER JOIN dbo.ProcessingJobs AS j
        ON j.JobKey = r.JobKey
    WHERE m.JobId IS NULL AND r.JobKey IS NOT NULL;
    UPDATE m
    SET m.JobId = n.JobId
    FROM @Map AS m
    INNER JOIN (
        SELECT
            x.Ordinal,
            ROW_NUMBER() OVER (ORDER BY x.Ordinal) AS Seq
        FROM @Map AS x
        WHERE x.JobId IS NULL
    ) AS o
        ON o.Ordinal = m.Ordinal
    INNER JOIN (
        SELECT
            y.JobId,
            ROW_NUMBER() OVER (ORDER BY y.Id) AS Seq
        FROM @New AS y
        WHERE y.JobKey IS NULL
    ) AS n
        ON n.Seq = o.Seq;

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
    FROM @Map AS m
    INNER JOIN dbo.ProcessingJobs AS j
        ON j.JobId = m.JobId
    ORDER BY m.Ordinal;
END;
GO
