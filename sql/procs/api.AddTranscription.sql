/* api.AddTranscription - stores a transcription of a song (optionally from a transcription job), audited.

   @Segments is a JSON array of timed segments, e.g. [{"start": 0.0, "end": 2.5, "text": "..."}].
   Returns: Id, SongId, JobId, Language, FullText, Segments, ModelName, CreatedAt
   (the new row, through dbo.ReturnResults)
   Errors: 50001 @SongId missing; 50002 text too long; 50003 @JobId not a transcription job of
           this song; 50004 @Segments not a JSON array; 50101 no song has @SongId; 50201 no job has @JobId.
   Example: EXEC api.AddTranscription @SongId = @Id, @Language = N'en', @FullText = N'...'; */
IF OBJECT_ID(N'api.AddTranscription', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.AddTranscription AS RETURN 0;');
GO
ALTER PROCEDURE api.AddTranscription
    @SongId uniqueidentifier,
    @JobId uniqueidentifier = NULL,
    @Language nvarchar(4000) = NULL,
    @FullText nvarchar(max) = NULL,
    @Segments nvarchar(max) = NULL,
    @ModelName nvarchar(4000) = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    EXEC dbo.CheckSong @SongId = @SongId;
    IF @JobId IS NOT NULL
        EXEC dbo.CheckJobFor @JobId = @JobId, @SongId = @SongId, @JobType = 'transcription';

    DECLARE @Id bigint;
    DECLARE @IdText nvarchar(100);
    DECLARE @Details nvarchar(max) = (
        SELECT
            CONVERT(nvarchar(36), @SongId) AS songId,
            CONVERT(nvarchar(36), @JobId) AS jobId,
            @Language AS language
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    BEGIN TRY
        BEGIN TRANSACTION;

        EXEC dbo.InsertTranscription
            @SongId = @SongId, @JobId = @JobId, @Language = @Language, @FullText = @FullText,
            @Segments = @Segments, @ModelName = @ModelName, @Id = @Id OUTPUT;
        SET @IdText = CONVERT(nvarchar(100), @Id);

        EXEC dbo.WriteAudit
            @RequestId = @RequestId, @EntityType = 'transcription', @EntityId = @IdText,
            @Action = 'created', @Details = @Details;

        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC dbo.ReturnResults @Kind = 'transcriptions', @Id = @Id;
END;
GO
