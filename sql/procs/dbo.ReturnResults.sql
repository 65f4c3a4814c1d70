/* dbo.ReturnResults - the SELECTs of result rows; api procedures end with it.

   @Kind 'tracks', 'transcriptions', 'chroma' or 'all'; rows of @SongId, or only of @JobId,
   or only the row @Id, whichever is given (most specific wins).
   Returns, in this order, only the sets @Kind asks for:
     1 (tracks): Id, SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration, CreatedAt
     2 (transcriptions): Id, SongId, JobId, Language, FullText, Segments, ModelName, CreatedAt
     3 (chroma): Id, SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence,
                 ChromaVector, CreatedAt
   Example: EXEC dbo.ReturnResults @Kind = 'all', @SongId = @SongId; */
IF OBJECT_ID(N'dbo.ReturnResults', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.ReturnResults AS RETURN 0;');
GO
ALTER PROCEDURE dbo.ReturnResults
    @Kind varchar(20),
    @SongId uniqueidentifier = NULL,
    @JobId uniqueidentifier = NULL,
    @Id bigint = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @Kind IN ('tracks', 'all')
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
        WHERE
            (@Id IS NULL OR t.Id = @Id)
            AND (@JobId IS NULL OR t.JobId = @JobId)
            AND (@SongId IS NULL OR t.SongId = @SongId)
        ORDER BY t.Id;

    IF @Kind IN ('transcriptions', 'all')
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
        WHERE
            (@Id IS NULL OR tr.Id = @Id)
            AND (@JobId IS NULL OR tr.JobId = @JobId)
            AND (@SongId IS NULL OR tr.SongId = @SongId)
        ORDER BY tr.Id;

    IF @Kind IN ('chroma', 'all')
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
        WHERE
            (@Id IS NULL OR c.Id = @Id)
            AND (@JobId IS NULL OR c.JobId = @JobId)
            AND (@SongId IS NULL OR c.SongId = @SongId)
        ORDER BY c.Id;
END;
GO
