/* api.UpdateSong - changes a song's descriptive fields or status; NULL leaves a field as it is.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (the updated song, through dbo.ReturnSong)
   Errors: 50001 @SongId missing; 50002 a text too long; 50003 @Status unknown;
           50004 @Metadata not a JSON object; 50101 no song has @SongId.
   Example: EXEC api.UpdateSong @SongId = @Id, @Status = 'completed'; */
IF OBJECT_ID(N'api.UpdateSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.UpdateSong AS RETURN 0;');
GO
ALTER PROCEDURE api.UpdateSong
    @SongId uniqueidentifier,
    @Title nvarchar(4000) = NULL,
    @Artist nvarchar(4000) = NULL,
    @Album nvarchar(4000) = NULL,
    @Metadata nvarchar(max) = NULL,
    @Status nvarchar(4000) = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @SongId IS NULL
        THROW 50001, N'The parameter @SongId is required. Supported values are a song id (uniqueidentifier).', 1;
    EXEC dbo.CheckText @Name = N'@Title', @Value = @Title, @MaxLength = 400;
    EXEC dbo.CheckText @Name = N'@Artist', @Value = @Artist, @MaxLength = 400;
    EXEC dbo.CheckText @Name = N'@Album', @Value = @Album, @MaxLength = 400;
    EXEC dbo.CheckJson @Name = N'@Metadata', @Value = @Metadata, @Shape = 'object';
    EXEC dbo.CheckOneOf @Name = N'@Status', @Value = @Status, @Allowed = N'uploaded,processing,completed,failed';
    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Message nvarchar(2048);
    DECLARE @SongIdText nvarchar(100) = CONVERT(nvarchar(36), @SongId);
    DECLARE @Details nvarchar(max) = (
        SELECT
            @Title AS title,
            @Artist AS artist,
            @Album AS album,
            LOWER(@Status) AS status,
            CASE WHEN @Metadata IS NOT NULL THEN 1 END AS metadataChanged
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    BEGIN TRY
        BEGIN TRANSACTION;

        UPDATE dbo.Songs
        SET
            Title = COALESCE(@Title, Title),
            Artist = COALESCE(@Artist, Artist),
            Album = COALESCE(@Album, Album),
            Metadata = COALESCE(@Metadata, Metadata),
            Status = COALESCE(LOWER(@Status), Status),
            LastModified = SYSUTCDATETIME()
        WHERE Id = @SongId;

        IF @@ROWCOUNT = 0
        BEGIN
            SET @Message = CONCAT(N'No song has @SongId = ''', @SongIdText, N'''.');
            THROW 50101, @Message, 1;
        END;

        EXEC dbo.WriteAudit
            @RequestId = @RequestId, @EntityType = 'song', @EntityId = @SongIdText,
            @Action = 'updated', @Details = @Details;

        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC dbo.ReturnSong @SongId = @SongId;
END;
GO
