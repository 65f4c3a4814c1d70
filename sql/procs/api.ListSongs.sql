/* api.ListSongs - a page of songs, newest upload first, optionally filtered.

   @Status: one status; @Artist: exact artist; @TitleContains: text anywhere in the title
   (%, _ and [ are matched literally: each is escaped in brackets). @Offset 0 or more, @Limit 1 to 1000.
   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   Errors: 50002 a text too long or @Offset/@Limit out of range; 50003 @Status unknown.
   Example: EXEC api.ListSongs @Status = 'completed', @Offset = 0, @Limit = 50; */
IF OBJECT_ID(N'api.ListSongs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.ListSongs AS RETURN 0;');
GO
ALTER PROCEDURE api.ListSongs
    @Status nvarchar(4000) = NULL,
    @Artist nvarchar(4000) = NULL,
    @TitleContains nvarchar(4000) = NULL,
    @Offset int = 0,
    @Limit int = 100
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckOneOf @Name = N'@Status', @Value = @Status, @Allowed = N'uploaded,processing,completed,failed';
    EXEC dbo.CheckText @Name = N'@Artist', @Value = @Artist, @MaxLength = 400;
    EXEC dbo.CheckText @Name = N'@TitleContains', @Value = @TitleContains, @MaxLength = 400;
    EXEC dbo.CheckNumber
        @Name = N'@Offset', @Value = @Offset, @Min = 0, @Max = 2147483647,
        @Allowed = N'whole numbers from 0', @Required = 1;
    EXEC dbo.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @Pattern nvarchar(4000) = CASE
        WHEN @TitleContains IS NOT NULL
            THEN CONCAT(
                N'%',
                REPLACE(REPLACE(REPLACE(@TitleContains, N'[', N'[[]'), N'%', N'[%]'), N'_', N'[_]'),
                N'%'
            )
    END;

    DECLARE @StatusValue varchar(20) = LOWER(@Status);
    DECLARE @ArtistValue nvarchar(400) = @Artist;
    EXEC dbo.ReturnSong
        @List = 1, @Status = @StatusValue, @Artist = @ArtistValue, @TitlePattern = @Pattern, @Offset = @Offset, @Limit = @Limit;
END;
GO
