/* core.CheckSong - validation helper: THROWs unless @SongId is given and names a song.

   Errors: 50001 @SongId missing; 50101 no song has @SongId.
   Example: EXEC core.CheckSong @SongId = @SongId; */
IF OBJECT_ID(N'core.CheckSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CheckSong AS RETURN 0;');
GO
ALTER PROCEDURE core.CheckSong
    @SongId uniqueidentifier
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);

    IF @SongId IS NULL
        THROW 50001, N'The parameter @SongId is required. Supported values are a song id (uniqueidentifier).', 1;
    IF NOT EXISTS (SELECT 1 FROM dbo.Songs WHERE Id = @SongId)
    BEGIN
        SET @Message = CONCAT(N'No song has @SongId = ''', CONVERT(nvarchar(36), @SongId), N'''.');
        THROW 50101, @Message, 1;
    END;
END;
GO
