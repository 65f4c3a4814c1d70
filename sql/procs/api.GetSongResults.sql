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

    EXEC core.CheckSong @SongId = @SongId;

    SELECT
        t.Id,
        t.SongId,
        t.JobId,
        t.StemName,
        t.FilePath,
        t.FileSize,
        t.Format,
        t.SampleRate,
        t.Duration,
        t.CreatedAt
    FROM dbo.SeparatedTracks AS t
    WHERE t.SongId = @SongId
    ORDER BY t.Id;

    SELECT
        tr.Id,
        tr.SongId,
        tr.JobId,
        tr.Language,
        tr.FullText,
        tr.Segments,
        tr.ModelName,
        tr.CreatedAt
    FROM dbo.Transcriptions AS tr
    WHERE tr.SongId = @SongId
    ORDER BY tr.Id;

    SELECT
        c.Id,
        c.SongId,
        c.JobId,
        c.KeyName,
        c.Mode,
        c.Tempo,
        c.KeyConfidence,
        c.TempoConfidence,
        c.ChromaVector,
        c.CreatedAt
    FROM dbo.ChromaAnalysis AS c
    WHERE c.SongId = @SongId
    ORDER BY c.Id;
END;
GO
