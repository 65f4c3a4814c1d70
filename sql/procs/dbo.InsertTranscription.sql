/* dbo.InsertTranscription - validates and inserts one transcription; runs in the caller's transaction.

   Called by api.AddTranscription and api.CompleteJob; writes no audit row. @Id returns the new row's Id.
   Errors: 50002 text too long; 50004 @Segments not a JSON array.
   Example: EXEC dbo.InsertTranscription @SongId = @SongId, @JobId = NULL, @Language = N'en',
                @FullText = N'...', @Segments = NULL, @ModelName = N'whisper', @Id = @Id OUTPUT; */
IF OBJECT_ID(N'dbo.InsertTranscription', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.InsertTranscription AS RETURN 0;');
GO
ALTER PROCEDURE dbo.InsertTranscription
    @SongId uniqueidentifier,
    @JobId uniqueidentifier,
    @Language nvarchar(4000),
    @FullText nvarchar(max),
    @Segments nvarchar(max),
    @ModelName nvarchar(4000),
    @Id bigint = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckText @Name = N'@Language', @Value = @Language, @MaxLength = 20;
    EXEC dbo.CheckJson @Name = N'@Segments', @Value = @Segments, @Shape = 'array';
    EXEC dbo.CheckText @Name = N'@ModelName', @Value = @ModelName, @MaxLength = 50;

    INSERT INTO dbo.Transcriptions (SongId, JobId, Language, FullText, Segments, ModelName)
    VALUES (@SongId, @JobId, @Language, @FullText, @Segments, @ModelName);
    SET @Id = CAST(SCOPE_IDENTITY() AS bigint);
END;
GO
