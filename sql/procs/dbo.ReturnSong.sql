/* dbo.ReturnSong - the one SELECT of song rows; api procedures end with it.

   One song by @SongId, or with @List = 1 a page (@Offset, @Limit; newest upload first) filtered
   by @Status, @Artist and a LIKE @TitlePattern. Callers validate the filters and escape the pattern.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (no row when nothing matches).
   Example: EXEC dbo.ReturnSong @SongId = @SongId; */
IF OBJECT_ID(N'dbo.ReturnSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.ReturnSong AS RETURN 0;');
GO
ALTER PROCEDURE dbo.ReturnSong
    @SongId uniqueidentifier = NULL,
    @Status varchar(20) = NULL,
    @Artist nvarchar(400) = NULL,
    @TitlePattern nvarchar(4000) = NULL,
    @List bit = 0,
    @Offset int = 0,
    @Limit int = 1
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    SELECT
        s.Id,
        s.FileId,
        s.Title,
        s.Artist,
        s.Album,
        s.FileName,
        s.OriginalFileName,
        s.FileSize,
        s.Duration,
        s.FileExtension,
        s.UploadedAt,
        s.LastModified,
        s.Metadata,
        s.Status
    FROM dbo.Songs AS s
    WHERE
        (s.Id = @SongId OR @List = 1)
        AND (@Status IS NULL OR s.Status = @Status)
        AND (@Artist IS NULL OR s.Artist = @Artist)
        AND (@TitlePattern IS NULL OR s.Title LIKE @TitlePattern)
    ORDER BY s.UploadedAt DESC, s.Id ASC
    OFFSET @Offset ROWS FETCH NEXT @Limit ROWS ONLY;
END;
GO
