/* api.ListSongs - a page of songs, newest upload first, optionally filtered.

   @Status: one status; @Artist: exact artist; @TitleContains: text anywhere in the title
   (%, _ and [ are matched literally: each is escaped in brackets). @Offset 0 to 100000, @Limit 1 to 1000.
   One statement per access path (Sommarskog, "Dynamic Search Conditions"): each branch picks the
   page's keys with a seek or an ordered index scan that needs no sort (IX_Songs_UploadedAt,
   IX_Songs_Status_UploadedAt, IX_Songs_Artist_UploadedAt), then one SELECT reads those rows by
   their clustered key. A title search must read every title anyway: that branch alone is a
   catch-all with OPTION (RECOMPILE), so its plan fits the filters of each call.
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

    EXEC core.CheckOneOf @Name = N'@Status', @Value = @Status, @Allowed = N'uploaded,processing,completed,failed';
    EXEC core.CheckText @Name = N'@Artist', @Value = @Artist, @MaxLength = 400;
    EXEC core.CheckText @Name = N'@TitleContains', @Value = @TitleContains, @MaxLength = 400;
    EXEC core.CheckNumber
        @Name = N'@Offset', @Value = @Offset, @Min = 0, @Max = 100000,
        @Allowed = N'whole numbers from 0 to 100000', @Required = 1;
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @StatusValue varchar(20) = LOWER(@Status);
    DECLARE @ArtistValue nvarchar(400) = @Artist;
    DECLARE @Pattern nvarchar(4000) = CASE
        WHEN @TitleContains IS NOT NULL
            THEN CONCAT(
                N'%',
                REPLACE(REPLACE(REPLACE(@TitleContains, N'[', N'[[]'), N'%', N'[%]'), N'_', N'[_]'),
                N'%'
            )
    END;
    -- the page is rows @Offset + 1 .. @Through in order; Babelfish takes no OFFSET inside INSERT ... SELECT
    DECLARE @Through bigint = CAST(@Offset AS bigint) + @Limit;
    DECLARE @Page TABLE (Position bigint NOT NULL PRIMARY KEY, Id uniqueidentifier NOT NULL);

    IF @Pattern IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY s.UploadedAt DESC, s.Id DESC),
            s.Id
        FROM dbo.Songs AS s
        WHERE
            s.Title LIKE @Pattern
            AND (@StatusValue IS NULL OR s.Status = @StatusValue)
            AND (@ArtistValue IS NULL OR s.Artist = @ArtistValue)
        ORDER BY s.UploadedAt DESC, s.Id DESC
        OPTION (RECOMPILE);
    ELSE IF @ArtistValue IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY s.UploadedAt DESC, s.Id DESC),
            s.Id
        FROM dbo.Songs AS s
        WHERE s.Artist = @ArtistValue AND (@StatusValue IS NULL OR s.Status = @StatusValue)
        ORDER BY s.UploadedAt DESC, s.Id DESC;
    ELSE IF @StatusValue IS NOT NULL
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY s.UploadedAt DESC, s.Id DESC),
            s.Id
        FROM dbo.Songs AS s
        WHERE s.Status = @StatusValue
        ORDER BY s.UploadedAt DESC, s.Id DESC;
    ELSE
        INSERT INTO @Page (Position, Id)
        SELECT TOP (@Through)
            ROW_NUMBER() OVER (ORDER BY s.UploadedAt DESC, s.Id DESC),
            s.Id
        FROM dbo.Songs AS s
        ORDER BY s.UploadedAt DESC, s.Id DESC;

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
    FROM @Page AS p
    -- one key seek per row of the page. Not a join: Babelfish cannot estimate a table variable and
    -- joined it to the whole table by a merge over a sequential scan (tests/integration/test_page_reads.py).
    CROSS APPLY (
        SELECT TOP (1)
            x.Id,
            x.FileId,
            x.Title,
            x.Artist,
            x.Album,
            x.FileName,
            x.OriginalFileName,
            x.FileSize,
            x.Duration,
            x.FileExtension,
            x.UploadedAt,
            x.LastModified,
            x.Metadata,
            x.Status
        FROM dbo.Songs AS x
        WHERE x.Id = p.Id
    ) AS s
    WHERE p.Position > @Offset
    ORDER BY p.Position;
END;
GO
