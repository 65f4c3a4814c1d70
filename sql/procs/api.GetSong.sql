/* api.GetSong - one song by its Id.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (through core.ReturnSong; no row when no song has that Id)
   Errors: 50001 @SongId missing.
   Example: EXEC api.GetSong @SongId = '6F9619FF-8B86-D011-B42D-00C04FC964FF'; */
IF OBJECT_ID(N'api.GetSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetSong AS RETURN 0;');
GO
ALTER PROCEDURE api.GetSong
    @SongId uniqueidentifier
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @SongId IS NULL
        THROW 50001, N'The parameter @SongId is required. Supported values are a song id (uniqueidentifier).', 1;

    EXEC core.ReturnSong @SongId = @SongId;
END;
GO
