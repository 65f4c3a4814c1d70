/* dbo.ReturnSong - the one SELECT of a song row; api procedures end with it.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (no row when @SongId names no song).
   Example: EXEC dbo.ReturnSong @SongId = @SongId; */
IF OBJECT_ID(N'dbo.ReturnSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.ReturnSong AS RETURN 0;');
GO
ALTER PROCEDURE dbo.ReturnSong
    @SongId uniqueidentifier
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
    WHERE s.Id = @SongId;
END;
GO
