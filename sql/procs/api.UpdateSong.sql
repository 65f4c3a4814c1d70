/* api.UpdateSong - changes a song's descriptive fields or status; NULL leaves a field as it is.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (the updated song, through core.ReturnSong)
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
    EXEC core.CheckText @Name = N'@Title', @Value = @Title, @MaxLength = 400;
    EXEC core.CheckText @Name = N'@Artist', @Value = @Artist, @MaxLength = 400;
    EXEC core.CheckText @Name = N'@Album', @Value = @Album, @MaxLength = 400;
    EXEC core.CheckJson @Name = N'@Metadata', @Value = @Metadata, @Shape = 'object';
    EXEC core.CheckOneOf @Name = N'@Status', @Value = @Status, @Allowed = N'uploaded,processing,completed,failed';
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

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

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

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

        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'song', @EntityId = @SongIdText,
            @Action = 'updated', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnSong @SongId = @SongId;
END;
GO
