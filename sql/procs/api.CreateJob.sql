/* api.CreateJob - queues one processing job for a song and audits it; with a job key, at most once per key.

   @JobType: separation, transcription or chroma. @Priority: higher runs first (-1000 to 1000).
   @JobKey (optional, 1 to 200 characters, compared exactly): makes the call safe to repeat. When a
   job with this key exists for the same song, model and job type, whatever its status (finished
   too), that job is returned and nothing is written (no second job, no audit row); the same key on
   another song, model or type is refused with 50205. A key is remembered as long as its job row
   exists (the cleanup removes finished jobs after their retention, keys with them). Two sessions
   creating with one key at once: the unique index IX_ProcessingJobs_JobKey (0023) lets one insert
   through; the other's insert fails with a duplicate key (2601/2627), which is caught here, rolled
   back, and answered by reading the first one's job (Babelfish ignores HOLDLOCK, so the index, not a
   range lock, is what decides on every engine). Inside a caller's transaction that race cannot be
   recovered (the error dooms the caller's transaction): it is re-thrown.
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the new job, or the key's existing one, through core.ReturnJob; Job in songsdb/models.py)
   Errors: 50001 @SongId, @ModelName or @JobType missing; 50002 text too long or number out of
           range; 50003 @JobType unknown; 50101 no song has @SongId; 50205 @JobKey belongs to a job
           of another song, model or job type.
   Example: EXEC api.CreateJob @SongId = @Id, @ModelName = N'demucs', @JobType = 'separation', @JobKey = N'req-42'; */
IF OBJECT_ID(N'api.CreateJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.CreateJob AS RETURN 0;');
GO
ALTER PROCEDURE api.CreateJob
    @SongId uniqueidentifier,
    @ModelName nvarchar(4000),
    @JobType nvarchar(4000),
    @Priority int = 0,
    @MaxAttempts int = 3,
    @RequestId nvarchar(4000) = NULL,
    @JobKey nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@ModelName', @Value = @ModelName, @MaxLength = 50, @Required = 1;
    EXEC core.CheckOneOf
        @Name = N'@JobType', @Value = @JobType, @Allowed = N'separation,transcription,chroma', @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@Priority', @Value = @Priority, @Min = -1000, @Max = 1000,
        @Allowed = N'whole numbers from -1000 to 1000', @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@MaxAttempts', @Value = @MaxAttempts, @Min = 1, @Max = 100,
        @Allowed = N'whole numbers from 1 to 100', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@JobKey', @Value = @JobKey, @MaxLength = 200;
    IF @JobKey IS NOT NULL AND LEN(@JobKey) = 0
        THROW 50001, N'The parameter @JobKey is empty. Supported values are text of 1 to 200 characters, or NULL for no key.', 1;

    EXEC core.CheckSong @SongId = @SongId;

    DECLARE @JobId uniqueidentifier;
    DECLARE @Existing uniqueidentifier;
    DECLARE @ExistingSong uniqueidentifier;
    DECLARE @ExistingModel nvarchar(50);
    DECLARE @ExistingType varchar(20);
    DECLARE @Text nvarchar(2048);
    DECLARE @Tries int = 0;
    DECLARE @Created uniqueidentifier;
    DECLARE @JobIdText nvarchar(100);
    DECLARE @New TABLE (JobId uniqueidentifier NOT NULL);
    DECLARE @Details nvarchar(max) = (
        SELECT
            CONVERT(nvarchar(36), @SongId) AS songId,
            @ModelName AS modelName,
            LOWER(@JobType) AS jobType,
            @Priority AS priority,
            @JobKey AS jobKey
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    WHILE @JobId IS NULL AND @Existing IS NULL
    BEGIN
        SET @Tries = @Tries + 1;
        IF @JobKey IS NOT NULL
        BEGIN
            -- the key's job, if any: a seek on IX_ProcessingJobs_JobKey (0023), covered
            SELECT
                @Existing = j.JobId,
                @ExistingSong = j.SongId,
                @ExistingModel = j.ModelName,
                @ExistingType = j.JobType
            FROM dbo.ProcessingJobs AS j
            WHERE j.JobKey = @JobKey;
            IF @Existing IS NOT NULL
            BEGIN
                IF @ExistingSong <> @SongId OR @ExistingModel <> @ModelName OR @ExistingType <> LOWER(@JobType)
                BEGIN
                    SET @Text = CONCAT(
                        N'The value for the parameter @JobKey is already used by job ''', CONVERT(nvarchar(36), @Existing),
                        N''' (song ''', CONVERT(nvarchar(36), @ExistingSong), N''', ', @ExistingModel, N' ', @ExistingType,
                        N'). Supported values are a key not used yet, or this same key with that job''s song, model and job type.'
                    );
                    THROW 50205, @Text, 1;
                END;
                BREAK;
            END;
        END;

        BEGIN TRY
            IF @OwnTransaction = 1 BEGIN TRANSACTION;

            DELETE FROM @New;
            INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Priority, MaxAttempts, RequestId, JobKey)
            OUTPUT inserted.JobId INTO @New (JobId)
            VALUES (@SongId, @ModelName, LOWER(@JobType), @Priority, @MaxAttempts, @RequestId, @JobKey);
            SET @Created = (SELECT TOP (1) n.JobId FROM @New AS n);
            SET @JobIdText = CONVERT(nvarchar(36), @Created);

            EXEC core.WriteAudit
                @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
                @Action = 'created', @Details = @Details, @ProcId = @@PROCID;

            IF @OwnTransaction = 1 COMMIT TRANSACTION;
            SET @JobId = @Created;
        END TRY
        BEGIN CATCH
            IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
            IF ERROR_NUMBER() = 547  -- the song was deleted between the check and the insert
            BEGIN
                SET @Text = CONCAT(N'No song has @SongId = ''', CONVERT(nvarchar(36), @SongId), N'''.');
                THROW 50101, @Text, 1;
            END;
            -- another session inserted this key first and committed: the loop reads its job (header)
            IF NOT (ERROR_NUMBER() IN (2601, 2627) AND @JobKey IS NOT NULL AND @OwnTransaction = 1 AND @Tries < 3)
                THROW;
        END CATCH;
    END;

    SET @JobId = COALESCE(@JobId, @Existing);
    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
