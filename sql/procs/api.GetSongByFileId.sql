/* api.GetSongByFileId - one song by the separator backend's file identifier.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (through core.ReturnSong; no row when no song has that FileId)
   Errors: 50001 @FileId missing; 50002 @FileId longer than 100 characters.
   Example: EXEC api.GetSongByFileId @FileId = N'abc'; */
IF OBJECT_ID(N'api.GetSongByFileId', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetSongByFileId AS RETURN 0;');
GO
ALTER PROCEDURE api.GetSongByFileId
    @FileId nvarchar(4000)
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@FileId', @Value = @FileId, @MaxLength = 100, @Required = 1;

    DECLARE @SongId uniqueidentifier = (SELECT s.Id FROM dbo.Songs AS s WHERE s.FileId = @FileId);
    EXEC core.ReturnSong @SongId = @SongId;
END;
GO
