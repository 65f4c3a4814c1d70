/* api.GetSongResults - everything the models produced for a song, in three result sets.

   Returns 1: Id, SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration, CreatedAt
   Returns 2: Id, SongId, JobId, Language, FullText, Segments, ModelName, CreatedAt
   Returns 3: Id, SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence, ChromaVector,
            CreatedAt
   Errors: 50001 @SongId missing; 50101 no song has @SongId.
   Example: EXEC api.GetSongResults @SongId = @Id; */
IF OBJECT_ID(N'api.GetSongResults', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetSongResults AS RETURN 0;');
GO
ALTER PROCEDURE api.GetSongResults
    @SongId uniqueidentifier
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckSong @SongId = @SongId;

    EXEC dbo.ReturnResults @Kind = 'all', @SongId = @SongId;
END;
GO
