/* worker.AddSeparatedTracks - the worker holding a separation job stores stems for it, several in one call, audited.

   Fenced like worker.CompleteJob: @ClaimToken must be the job's current claim, so a worker whose
   lease expired (and whose job was claimed again), or whose job was cancelled, is refused and
   nothing is written; a queued or finished job takes no results.
   @Tracks is a JSON array of objects: {"stemName": "vocals", "filePath": "/stems/v.wav",
   "fileSize": 123, "format": "wav", "sampleRate": 44100, "duration": 215.3}; stemName and
   filePath are required, each stem name at most once per job. All rows are written or none.
   Safe to repeat: when every stem given is stored for the job already with the same path, the
   call is a repeat of one that committed (its answer was lost): it returns the stems and writes
   nothing, while the token is still the job's claim or after the worker's own completion or
   failure report ended its attempt (dbo.JobAttempts). A token whose lease was lost is still
   refused (50203).
   Returns: Id, SongId, JobId, StemName, FilePath, FileSize, Format, SampleRate, Duration, CreatedAt
   (all the job's stems, oldest first: a seek on UQ_SeparatedTracks_JobId_StemName)
   Errors: 50001 @JobId, @ClaimToken or @Tracks missing; 50003 not a separation job; 50004 @Tracks
           malformed or a stem name already stored (the message names the field); 50201 no job has
           @JobId; 50202 the job is not running; 50203 the lease was lost.
   Example: EXEC worker.AddSeparatedTracks @JobId = @JobId, @ClaimToken = @Token,
                @Tracks = N'[{"stemName":"vocals","filePath":"/s/v.wav"}]'; */
IF OBJECT_ID(N'worker.AddSeparatedTracks', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.AddSeparatedTracks AS RETURN 0;');
GO
ALTER PROCEDURE worker.AddSeparatedTracks
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @Tracks nvarchar(max),
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @JobId IS NULL
        THROW 50001, N'The parameter @JobId is required. Supported values are a job id (uniqueidentifier).', 1;
    EXEC core.CheckJson @Name = N'@Tracks', @Value = @Tracks, @Shape = 'array', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @SongId uniqueidentifier;
    DECLARE @JobType varchar(20);
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @Count int;
    DECLARE @Details nvarchar(max);
    DECLARE @Repeat varchar(20);
    DECLARE @Stored bit = 0;

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        EXEC core.CheckLease
            @JobId = @JobId, @ClaimToken = @ClaimToken, @SongId = @SongId OUTPUT, @JobType = @JobType OUTPUT,
            @RepeatOutcomes = 'completed,requeued,failed', @Repeat = @Repeat OUTPUT;
        IF @JobType <> 'separation'
            THROW 50003, N'The value for the parameter @JobId is not supported: stems belong to separation jobs. Supported values are separation jobs.', 1;

        -- a repeat: at least one element, and every element an object whose stem is stored for this
        -- job with the same path (header); an empty array is no repeat (it is refused below, 1 to 32 stems)
        IF EXISTS (SELECT 1 FROM OPENJSON(@Tracks)) AND NOT EXISTS (
            SELECT 1
            FROM OPENJSON(@Tracks) AS o
            WHERE
                o.[type] <> 5
                OR NOT EXISTS (
                    SELECT 1
                    FROM dbo.SeparatedTracks AS t
                    WHERE
                        t.JobId = @JobId
                        AND t.StemName = core.JsonText(JSON_VALUE(o.[value], '$.stemName'))
                        AND t.FilePath COLLATE Latin1_General_BIN2 = core.JsonText(
                            (
                                SELECT p.[value] FROM OPENJSON(o.[value]) AS p
                                WHERE p.[key] = N'filePath' AND p.[type] NOT IN (4, 5)
                            )
                        ) COLLATE Latin1_General_BIN2
                )
        )
            SET @Stored = 1;
        IF @Stored = 0 AND @Repeat IS NOT NULL  -- the attempt ended and these stems are not its own: refused as before
            EXEC core.CheckLease @JobId = @JobId, @ClaimToken = @ClaimToken;

        IF @Stored = 0
        BEGIN
            EXEC core.InsertSeparatedTracks @SongId = @SongId, @JobId = @JobId, @Tracks = @Tracks, @Count = @Count OUTPUT;
            SET @Details = CONCAT(N'{"separatedTracks":', @Count, N'}');

            EXEC core.WriteAudit
                @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
                @Action = 'processed', @Details = @Details, @ProcId = @@PROCID;
        END;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        IF ERROR_NUMBER() IN (2601, 2627)  -- a concurrent call stored the same stem first
            THROW 50004, N'The value for the parameter @Tracks is not supported: a stemName repeats. Supported values are stem names not yet stored for this job, each once.', 1;
        THROW;
    END CATCH;

    SELECT
        t.Id,
        t.SongId,
        t.JobId,
        t.StemName,
        t.FilePath,
        t.FileSize,
        t.Format,
        t.SampleRate,
        t.Duration,
        t.CreatedAt
    FROM dbo.SeparatedTracks AS t
    WHERE t.JobId = @JobId
    ORDER BY t.Id;
END;
GO
