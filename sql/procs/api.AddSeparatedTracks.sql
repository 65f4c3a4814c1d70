/* api.AddSeparatedTracks - stores the stems of a separation job, several in one call, audited.

   @Tracks is a JSON array of objects: {"stemName": "vocals", "filePath": "/stems/v.wav",
   "fileSize": 123, "format": "wav", "sampleRate": 44100, "duration": 215.3}; stemName and
   filePath are required, each stem name at most once per job. All rows are written or none.
   Returns: Id, SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration, CreatedAt
   (all the job's stems, through dbo.ReturnResults)
   Errors: 50001 @JobId or @Tracks missing; 50003 not a separation job; 50004 @Tracks malformed
           (the message names the field); 50201 no job has @JobId.
   Example: EXEC api.AddSeparatedTracks @JobId = @JobId, @Tracks = N'[{"stemName":"vocals","filePath":"/s/v.wav"}]'; */
IF OBJECT_ID(N'api.AddSeparatedTracks', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.AddSeparatedTracks AS RETURN 0;');
GO
ALTER PROCEDURE api.AddSeparatedTracks
    @JobId uniqueidentifier,
    @Tracks nvarchar(max),
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    EXEC dbo.CheckJson @Name = N'@Tracks', @Value = @Tracks, @Shape = 'array', @Required = 1;
    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC dbo.CheckJobFor @JobId = @JobId, @SongId = NULL, @JobType = 'separation';

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
        r.StemName,
        r.FilePath,
        r.FileSize,
        r.Format,
        r.SampleRate,
        r.Duration
    FROM OPENJSON (@Tracks)
        WITH (
            StemName nvarchar(4000) '$.stemName',
            FilePath nvarchar(4000) '$.filePath',
            FileSize nvarchar(100) '$.fileSize',
            Format nvarchar(4000) '$.format',
            SampleRate nvarchar(100) '$.sampleRate',
            Duration nvarchar(100) '$.duration'
        ) AS r;

    DECLARE @Count int = (SELECT COUNT(*) FROM @Rows);
    IF @Count < 1 OR @Count > 32
        THROW 50004, N'The value for the parameter @Tracks is not supported. Supported values are a JSON array of 1 to 32 stems.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE StemName IS NULL OR LEN(StemName) = 0 OR LEN(StemName) > 50)
        THROW 50004, N'The value for the parameter @Tracks is not supported: every stem needs a stemName. Supported values are stem names of 1 to 50 characters.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE FilePath IS NULL OR LEN(FilePath) = 0 OR LEN(FilePath) > 1000)
        THROW 50004, N'The value for the parameter @Tracks is not supported: every stem needs a filePath. Supported values are paths of 1 to 1000 characters.', 1;
    IF EXISTS (
        SELECT 1 FROM @Rows
        WHERE FileSize IS NOT NULL AND (TRY_CAST(FileSize AS bigint) IS NULL OR TRY_CAST(FileSize AS bigint) < 0)
    )
        THROW 50004, N'The value for the parameter @Tracks is not supported: bad fileSize. Supported values are whole numbers of bytes from 0.', 1;
    IF EXISTS (SELECT 1 FROM @Rows WHERE LEN(Format) > 16)
        THROW 50004, N'The value for the parameter @Tracks is not supported: bad format. Supported values are formats of up to 16 characters.', 1;
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

    DECLARE @SongId uniqueidentifier = (SELECT j.SongId FROM dbo.ProcessingJobs AS j WHERE j.JobId = @JobId);
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Details nvarchar(max) = CONCAT(N'{"separatedTracks":', @Count, N'}');

    BEGIN TRY
        BEGIN TRANSACTION;

        INSERT INTO dbo.SeparatedTracks (SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration)
        SELECT
            @SongId,
            @JobId,
            r.StemName,
            r.FilePath,
            TRY_CAST(r.FileSize AS bigint),
            r.Format,
            TRY_CAST(r.SampleRate AS int),
            TRY_CAST(r.Duration AS float)
        FROM @Rows AS r;

        EXEC dbo.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
            @Action = 'processed', @Details = @Details;

        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC dbo.ReturnResults @Kind = 'tracks', @JobId = @JobId;
END;
GO
