/* core.ReturnSong - one song by its Id (a clustered index seek); procedures that write a song end with it.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (no row when no song has @SongId).
   Example: EXEC core.ReturnSong @SongId = @SongId; */
IF OBJECT_ID(N'core.ReturnSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.ReturnSong AS RETURN 0;');
GO
ALTER PROCEDURE core.ReturnSong
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
