/* worker.AddTranscription - the worker holding a transcription job stores its transcription, audited.

   Fenced like worker.CompleteJob: @ClaimToken must be the job's current claim; a stale worker, a
   cancelled job or a queued one is refused and nothing is written. The song is the job's.
   @Segments is a JSON array of timed segments, e.g. [{"start": 0.0, "end": 2.5, "text": "..."}].
   Safe to repeat: when the job has a transcription with exactly these values already, the call is
   a repeat of one that committed (its answer was lost): it returns that row and writes nothing,
   while the token is still the job's claim or after the worker's own completion or failure
   report ended its attempt (dbo.JobAttempts). A token whose lease was lost is still refused (50203).
   Returns: Id, SongId, JobId, Language, FullText, Segments, ModelName, CreatedAt
   (the new row: a clustered index seek)
   Errors: 50001 @JobId or @ClaimToken missing; 50002 text too long; 50003 not a transcription
           job; 50004 @Segments not a JSON array; 50201 no job has @JobId; 50202 the job is not
           running; 50203 the lease was lost.
   Example: EXEC worker.AddTranscription @JobId = @JobId, @ClaimToken = @Token, @Language = N'en', @FullText = N'...'; */
IF OBJECT_ID(N'worker.AddTranscription', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.AddTranscription AS RETURN 0;');
GO
ALTER PROCEDURE worker.AddTranscription
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @Language nvarchar(4000) = NULL,
    @FullText nvarchar(max) = NULL,
    @Segments nvarchar(max) = NULL,
    @ModelName nvarchar(4000) = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @SongId uniqueidentifier;
    DECLARE @JobType varchar(20);
    DECLARE @Id bigint;
    DECLARE @IdText nvarchar(100);
    DECLARE @Details nvarchar(max);
    DECLARE @Repeat varchar(20);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        EXEC core.CheckLease
            @JobId = @JobId, @ClaimToken = @ClaimToken, @SongId = @SongId OUTPUT, @JobType = @JobType OUTPUT,
            @RepeatOutcomes = 'completed,requeued,failed', @Repeat = @Repeat OUTPUT;
        IF @JobType <> 'transcription'
            THROW 50003, N'The value for the parameter @JobId is not supported: transcriptions belong to transcription jobs. Supported values are transcription jobs.', 1;

        -- a repeat: the job's transcription with exactly these values (compared in binary, lengths too)
        SET @Id = (
            SELECT TOP (1) tr.Id
            FROM dbo.Transcriptions AS tr
            WHERE
                tr.JobId = @JobId
                AND (
                    (tr.Language IS NULL AND @Language IS NULL)
                    OR (tr.Language COLLATE Latin1_General_BIN2 = @Language AND DATALENGTH(tr.Language) = DATALENGTH(@Language))
                )
                AND (
                    (tr.FullText IS NULL AND @FullText IS NULL)
                    OR (tr.FullText COLLATE Latin1_General_BIN2 = @FullText AND DATALENGTH(tr.FullText) = DATALENGTH(@FullText))
                )
                AND (
                    (tr.Segments IS NULL AND @Segments IS NULL)
                    OR (tr.Segments COLLATE Latin1_General_BIN2 = @Segments AND DATALENGTH(tr.Segments) = DATALENGTH(@Segments))
                )
                AND (
                    (tr.ModelName IS NULL AND @ModelName IS NULL)
                    OR (tr.ModelName COLLATE Latin1_General_BIN2 = @ModelName AND DATALENGTH(tr.ModelName) = DATALENGTH(@ModelName))
                )
            ORDER BY tr.Id
        );
        IF @Id IS NULL AND @Repeat IS NOT NULL  -- the attempt ended and this is not its transcription: refused as before
            EXEC core.CheckLease @JobId = @JobId, @ClaimToken = @ClaimToken;

        IF @Id IS NULL
        BEGIN
            EXEC core.InsertTranscription
                @SongId = @SongId, @JobId = @JobId, @Language = @Language, @FullText = @FullText,
                @Segments = @Segments, @ModelName = @ModelName, @Id = @Id OUTPUT;
            SET @IdText = CONVERT(nvarchar(100), @Id);
            SET @Details = (
                SELECT
                    CONVERT(nvarchar(36), @SongId) AS songId,
                    CONVERT(nvarchar(36), @JobId) AS jobId,
                    @Language AS language
                FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
            );
            EXEC core.WriteAudit
                @RequestId = @RequestId, @EntityType = 'transcription', @EntityId = @IdText,
                @Action = 'created', @Details = @Details, @ProcId = @@PROCID;
        END;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        tr.Id,
        tr.SongId,
        tr.JobId,
        tr.Language,
        tr.FullText,
        tr.Segments,
        tr.ModelName,
        tr.CreatedAt
    FROM dbo.Transcriptions AS tr
    WHERE tr.Id = @Id;
END;
GO
