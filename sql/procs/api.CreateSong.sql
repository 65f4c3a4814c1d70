/* api.CreateSong - registers an uploaded file as a song (Status 'uploaded') and audits it.

   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   (the new song, through core.ReturnSong; Song in songsdb/models.py)
   Errors: 50001 @FileId or @FileName missing; 50002 a text too long or a number out of range;
           50004 @Metadata not a JSON object; 50102 a song with @FileId exists (also when a concurrent
           call stores it first).
   Example: EXEC api.CreateSong @FileId = N'abc', @FileName = N'a.mp3', @Title = N'Intro'; */
IF OBJECT_ID(N'api.CreateSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.CreateSong AS RETURN 0;');
GO
ALTER PROCEDURE api.CreateSong
    @FileId nvarchar(4000),
    @FileName nvarchar(4000),
    @Title nvarchar(4000) = NULL,
    @Artist nvarchar(4000) = NULL,
    @Album nvarchar(4000) = NULL,
    @FileSize bigint = NULL,
    @Duration float = NULL,
    @FileExtension nvarchar(4000) = NULL,
    @OriginalFileName nvarchar(4000) = NULL,
    @Metadata nvarchar(max) = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@FileId', @Value = @FileId, @MaxLength = 100, @Required = 1;
    EXEC core.CheckText @Name = N'@FileName', @Value = @FileName, @MaxLength = 260, @Required = 1;
    EXEC core.CheckText @Name = N'@Title', @Value = @Title, @MaxLength = 400;
    EXEC core.CheckText @Name = N'@Artist', @Value = @Artist, @MaxLength = 400;
    EXEC core.CheckText @Name = N'@Album', @Value = @Album, @MaxLength = 400;
    EXEC core.CheckNumber
        @Name = N'@FileSize', @Value = @FileSize, @Min = 0, @Max = 1e15,
        @Allowed = N'0 to 1000000000000000 bytes, or NULL';
    EXEC core.CheckNumber
        @Name = N'@Duration', @Value = @Duration, @Min = 0, @Max = 604800,
        @Allowed = N'0 to 604800 seconds (one week), or NULL';
    EXEC core.CheckText @Name = N'@FileExtension', @Value = @FileExtension, @MaxLength = 16;
    EXEC core.CheckText @Name = N'@OriginalFileName', @Value = @OriginalFileName, @MaxLength = 260;
    EXEC core.CheckJson @Name = N'@Metadata', @Value = @Metadata, @Shape = 'object';
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Message nvarchar(2048);
    IF EXISTS (SELECT 1 FROM dbo.Songs WHERE FileId = @FileId)
    BEGIN
        SET @Message = CONCAT(N'A song with @FileId = ''', @FileId, N''' already exists.');
        THROW 50102, @Message, 1;
    END;

    DECLARE @SongId uniqueidentifier;
    DECLARE @New TABLE (Id uniqueidentifier NOT NULL);
    DECLARE @Details nvarchar(max) = (
        SELECT
            @FileId AS fileId,
            @FileName AS fileName
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        INSERT INTO dbo.Songs (
            FileId, FileName, Title, Artist, Album, FileSize, Duration, FileExtension, OriginalFileName, Metadata
        )
        OUTPUT inserted.Id INTO @New (Id)
        VALUES (
            @FileId, @FileName, @Title, @Artist, @Album, @FileSize, @Duration, @FileExtension, @OriginalFileName, @Metadata
        );
        SET @SongId = (SELECT TOP (1) n.Id FROM @New AS n);
        DECLARE @SongIdText nvarchar(100) = CONVERT(nvarchar(36), @SongId);

        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'song', @EntityId = @SongIdText,
            @Action = 'created', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        -- another call stored the same FileId after our check; any other duplicate key (a SongKey the sequence
        -- dbo.SongKeys gave again after it was set back: README, Roles) is not this song's, and is thrown as it is
        IF ERROR_NUMBER() IN (2601, 2627) AND LOWER(ERROR_MESSAGE()) LIKE N'%uq[_]songs[_]fileid%'
        BEGIN
            SET @Message = CONCAT(N'A song with @FileId = ''', @FileId, N''' already exists.');
            THROW 50102, @Message, 1;
        END;
        THROW;
    END CATCH;

    EXEC core.ReturnSong @SongId = @SongId;
END;
GO
