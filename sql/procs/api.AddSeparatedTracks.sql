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

    DECLARE @SongId uniqueidentifier = (SELECT j.SongId FROM dbo.ProcessingJobs AS j WHERE j.JobId = @JobId);
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Count int;
    DECLARE @Details nvarchar(max);

    BEGIN TRY
        BEGIN TRANSACTION;

        EXEC dbo.InsertSeparatedTracks @SongId = @SongId, @JobId = @JobId, @Tracks = @Tracks, @Count = @Count OUTPUT;
        SET @Details = CONCAT(N'{"separatedTracks":', @Count, N'}');

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
