/* api.CreateJob - queues one processing job for a song and audits it.

   @JobType: separation, transcription or chroma. @Priority: higher runs first (-1000 to 1000).
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the new job, through core.ReturnJob; Job in songsdb/models.py)
   Errors: 50001 @SongId, @ModelName or @JobType missing; 50002 text too long or number out of
           range; 50003 @JobType unknown; 50101 no song has @SongId.
   Example: EXEC api.CreateJob @SongId = @Id, @ModelName = N'demucs', @JobType = 'separation'; */
IF OBJECT_ID(N'api.CreateJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.CreateJob AS RETURN 0;');
GO
ALTER PROCEDURE api.CreateJob
    @SongId uniqueidentifier,
    @ModelName nvarchar(4000),
    @JobType nvarchar(4000),
    @Priority int = 0,
    @MaxAttempts int = 3,
    @RequestId nvarchar(4000) = NULL
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

    EXEC core.CheckSong @SongId = @SongId;

    DECLARE @JobId uniqueidentifier;
    DECLARE @New TABLE (JobId uniqueidentifier NOT NULL);
    DECLARE @Details nvarchar(max) = (
        SELECT
            CONVERT(nvarchar(36), @SongId) AS songId,
            @ModelName AS modelName,
            LOWER(@JobType) AS jobType,
            @Priority AS priority
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Priority, MaxAttempts, RequestId)
        OUTPUT inserted.JobId INTO @New (JobId)
        VALUES (@SongId, @ModelName, LOWER(@JobType), @Priority, @MaxAttempts, @RequestId);
        SET @JobId = (SELECT TOP (1) n.JobId FROM @New AS n);
        DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);

        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
            @Action = 'created', @Details = @Details, @ProcId = @@PROCID;

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

    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
