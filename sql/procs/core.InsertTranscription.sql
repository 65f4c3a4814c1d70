/* core.InsertTranscription - validates and inserts one transcription; runs in the caller's transaction.

   Called by worker.AddTranscription and worker.CompleteJob; writes no audit row. @Id returns the new row's Id.
   Errors: 50002 text too long; 50004 @Segments not a JSON array.
   Example: EXEC core.InsertTranscription @SongId = @SongId, @JobId = NULL, @Language = N'en',
                @FullText = N'...', @Segments = NULL, @ModelName = N'whisper', @Id = @Id OUTPUT; */
IF OBJECT_ID(N'core.InsertTranscription', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.InsertTranscription AS RETURN 0;');
GO
ALTER PROCEDURE core.InsertTranscription
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

    EXEC core.CheckText @Name = N'@Language', @Value = @Language, @MaxLength = 20;
    EXEC core.CheckJson @Name = N'@Segments', @Value = @Segments, @Shape = 'array';
    EXEC core.CheckText @Name = N'@ModelName', @Value = @ModelName, @MaxLength = 50;

    INSERT INTO dbo.Transcriptions (SongId, JobId, Language, FullText, Segments, ModelName)
    VALUES (@SongId, @JobId, @Language, @FullText, @Segments, @ModelName);
    SET @Id = CAST(SCOPE_IDENTITY() AS bigint);
END;
GO
