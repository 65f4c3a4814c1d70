/* core.InsertSeparatedTracks - validates @Tracks (a JSON array of stems) and inserts them for @JobId.

   Runs inside the caller's transaction (worker.AddSeparatedTracks, worker.CompleteJob); writes no audit
   row. Each element: {"stemName", "filePath", "fileSize", "format", "sampleRate", "duration"};
   stemName and filePath are required, each stem name at most once per job; format is
   ASCII and stored lower case.
   @Count returns how many rows were inserted.
   Errors: 50001 @Tracks missing; 50004 @Tracks malformed (the message names the field).
   Example: EXEC core.InsertSeparatedTracks @SongId = @SongId, @JobId = @JobId, @Tracks = @Tracks,
                @Count = @Count OUTPUT; */
IF OBJECT_ID(N'core.InsertSeparatedTracks', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.InsertSeparatedTracks AS RETURN 0;');
GO
ALTER PROCEDURE core.InsertSeparatedTracks
    @SongId uniqueidentifier,
    @JobId uniqueidentifier,
    @Tracks nvarchar(max),
    @Count int = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckJson @Name = N'@Tracks', @Value = @Tracks, @Shape = 'array', @Required = 1;

    DECLARE @Rows TABLE (
        StemName nvarchar(4000) NULL,
        FilePath nvarchar(4000) NULL,
        FileSize nvarchar(100) NULL,
        Format nvarchar(4000) NULL,
        SampleRate nvarchar(100) NULL,
        Duration nvarchar(100) NULL
    );
    INSERT INTO @Rows (StemName, FilePath, FileSize, Format, SampleRate, Duration)
    SELECT
        core.JsonText(r.StemName),
        core.JsonText(
            -- by key: in its escaped form on Babelfish 4.2 (see core.JsonText) a path of up to 1000
            -- characters can be longer than the 4000 that OPENJSON ... WITH returns there
            (
                SELECT p.[value] FROM OPENJSON(o.[value]) AS p
                WHERE p.[key] = N'filePath' AND p.[type] NOT IN (4, 5)
            )
        ),
        r.FileSize,
        core.JsonText(r.Format),
        r.SampleRate,
        r.Duration
    FROM OPENJSON(@Tracks) AS o
    OUTER APPLY OPENJSON (CASE WHEN o.[type] = 5 THEN o.[value] END)
        WITH (
            StemName nvarchar(4000) '$.stemName',
            FileSize nvarchar(100) '$.fileSize',
            Format nvarchar(4000) '$.format',
            SampleRate nvarchar(100) '$.sampleRate',
            Duration nvarchar(100) '$.duration'
        ) AS r;

    SET @Count = (SELECT COUNT(*) FROM @Rows);
    IF @Count < 1 OR @Count > 32
        THROW 50004, N'The value for the parameter @Tracks is not supported. Supported values are a JSON array of 1 to 32 stems.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE StemName IS NULL OR LEN(StemName) = 0 OR core.TextLength(StemName) > 50)
        THROW 50004, N'The value for the parameter @Tracks is not supported: every stem needs a stemName. Supported values are stem names of 1 to 50 characters.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE FilePath IS NULL OR LEN(FilePath) = 0 OR core.TextLength(FilePath) > 1000)
        THROW 50004, N'The value for the parameter @Tracks is not supported: every stem needs a filePath. Supported values are paths of 1 to 1000 characters.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE FileSize IS NOT NULL AND (TRY_CAST(FileSize AS bigint) IS NULL OR TRY_CAST(FileSize AS bigint) < 0)
    )
        THROW 50004, N'The value for the parameter @Tracks is not supported: bad fileSize. Supported values are whole numbers of bytes from 0.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE
            core.TextLength(Format) > 16
            OR PATINDEX(N'%[^ -~]%', Format COLLATE Latin1_General_BIN2) > 0
    )
        THROW 50004, N'The value for the parameter @Tracks is not supported: bad format. Supported values are ASCII formats of up to 16 characters.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE
            SampleRate IS NOT NULL
            AND (TRY_CAST(SampleRate AS int) IS NULL OR TRY_CAST(SampleRate AS int) NOT BETWEEN 1 AND 768000)
    )
        THROW 50004, N'The value for the parameter @Tracks is not supported: bad sampleRate. Supported values are whole numbers from 1 to 768000.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE
            Duration IS NOT NULL
            AND (TRY_CAST(Duration AS float) IS NULL OR NOT (TRY_CAST(Duration AS float) BETWEEN 0 AND 604800))
    )
        THROW 50004, N'The value for the parameter @Tracks is not supported: bad duration. Supported values are 0 to 604800 seconds.', 1;
    IF EXISTS (SELECT 1 FROM @Rows GROUP BY StemName HAVING COUNT(*) > 1)
        OR EXISTS (
            SELECT 1 FROM @Rows AS r
            INNER JOIN dbo.SeparatedTracks AS t ON t.JobId = @JobId AND t.StemName = r.StemName
        )
        THROW 50004, N'The value for the parameter @Tracks is not supported: a stemName repeats. Supported values are stem names not yet stored for this job, each once.', 1;

    INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration)
    SELECT
        @SongId,
        @JobId,
        r.StemName,
        r.FilePath,
        TRY_CAST(r.FileSize AS bigint),
        LOWER(r.Format),
        TRY_CAST(r.SampleRate AS int),
        TRY_CAST(r.Duration AS float)
    FROM @Rows AS r;
END;
GO
