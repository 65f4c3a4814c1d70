/* ops.FindSongs - songs by file id (exact) or by the start of their title, in title order, for the console.

   @FileId: one UQ_Songs_FileId seek (at most one song). @Title: the songs whose title starts with
   it (case as the database's collation compares; %, _ and [ match themselves), a range seek on
   IX_Songs_Title (0031) in (Title, Id) order (on Babelfish bounded above explicitly, see below), keyset paged: give the last song of the previous page
   as @AfterSongId (its title and id are read by the clustered key). Give one of the two.
   Returns: Id, FileId, Title, Artist, Album, FileName, OriginalFileName, FileSize, Duration,
            FileExtension, UploadedAt, LastModified, Metadata, Status
   Errors: 50001 neither @FileId nor @Title given; 50002 a text too long or @Limit out of range;
           50101 no song has @AfterSongId.
   Example: EXEC ops.FindSongs @Title = N'Intro'; */
IF OBJECT_ID(N'ops.FindSongs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.FindSongs AS RETURN 0;');
GO
ALTER PROCEDURE ops.FindSongs
    @FileId nvarchar(4000) = NULL,
    @Title nvarchar(4000) = NULL,
    @AfterSongId uniqueidentifier = NULL,
    @Limit int = 50
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF NULLIF(@FileId, N'') IS NULL AND NULLIF(@Title, N'') IS NULL
        THROW 50001, N'The parameter @FileId or @Title is required. Supported values are a file id, or the start of a title.', 1;
    EXEC core.CheckText @Name = N'@FileId', @Value = @FileId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@Title', @Value = @Title, @MaxLength = 400;
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 500,
        @Allowed = N'whole numbers from 1 to 500', @Required = 1;

    DECLARE @File nvarchar(100) = NULLIF(@FileId, N'');
    DECLARE @Prefix nvarchar(400) = @Title;
    DECLARE @Pattern nvarchar(1300) = CONCAT(
        REPLACE(REPLACE(REPLACE(REPLACE(@Title, N'\', N'\\'), N'%', N'\%'), N'_', N'\_'), N'[', N'\['), N'%'
    );
    -- Babelfish (PostgreSQL, a case-insensitive ICU collation) turns neither LIKE 'x%' nor a lone lower
    -- bound into a narrow index range: it is bounded above by the prefix followed by U+FFFF, which the
    -- Unicode collation algorithm (CLDR root) sorts after every character. SQL Server's optimizer
    -- derives the range from the LIKE itself, and its collations ignore U+FFFF: no upper bound there.
    DECLARE @UpTo nvarchar(401) = CONCAT(@Title, NCHAR(65535));
    DECLARE @AfterTitle nvarchar(400) = N'';
    DECLARE @AfterId uniqueidentifier = NULL;
    DECLARE @Text nvarchar(2048);

    IF @AfterSongId IS NOT NULL
    BEGIN
        SELECT @AfterTitle = COALESCE(s.Title, N''), @AfterId = s.Id
        FROM dbo.Songs AS s
        WHERE s.Id = @AfterSongId;
        IF @@ROWCOUNT = 0
        BEGIN
            SET @Text = CONCAT(N'No song has @AfterSongId = ''', CONVERT(nvarchar(36), @AfterSongId), N'''.');
            THROW 50101, @Text, 1;
        END;
    END;

    IF @File IS NOT NULL
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
        WHERE s.FileId = @File;
    ELSE IF @AfterId IS NULL
        SELECT TOP (@Limit)
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
        WHERE
            s.Title >= @Prefix
            {% if engine == "babelfish" %}AND s.Title < @UpTo{% endif %}
            AND s.Title LIKE @Pattern ESCAPE N'\'
        ORDER BY s.Title, s.Id;
    ELSE
        SELECT TOP (@Limit)
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
        WHERE
            s.Title >= @Prefix
            {% if engine == "babelfish" %}AND s.Title < @UpTo{% endif %}
            AND s.Title LIKE @Pattern ESCAPE N'\'
            AND (s.Title > @AfterTitle OR (s.Title = @AfterTitle AND s.Id > @AfterId))
        ORDER BY s.Title, s.Id;
END;
GO
