/* worker.CompleteJob - a worker completes its job and stores the job's results, all in one transaction.

   Requires the claim token: a worker whose lease expired and whose job was claimed again, or
   whose job was cancelled, is refused and nothing is written. Results, by job type:
     separation    @Tracks: JSON array of stems, as worker.AddSeparatedTracks
     transcription @Transcription: JSON object {"language", "fullText", "segments": [...], "modelName"}
     chroma        @ChromaAnalysis: JSON object {"keyName", "mode", "tempo", "keyConfidence",
                   "tempoConfidence", "chromaVector": [12 numbers]}
   plus @ResultMetadata (a JSON object) for any type. Audited ('completed'); the attempt's row in
   dbo.JobAttempts ends 'completed'. Safe to repeat: called again with the same token after it
   committed (its answer was lost), it returns the job and writes nothing (no second result, no
   second audit row); a token whose lease was lost is still refused (50203).
   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy
   (the completed job, through core.ReturnJob)
   Errors: 50001 @JobId or @ClaimToken missing; 50002/50003/50004 a result malformed (the message
           names it); 50201 no job has @JobId; 50202 the job is not running; 50203 the lease was lost.
   Example: EXEC worker.CompleteJob @JobId = @JobId, @ClaimToken = @Token,
                @Tracks = N'[{"stemName":"vocals","filePath":"/s/v.wav"}]'; */
IF OBJECT_ID(N'worker.CompleteJob', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.CompleteJob AS RETURN 0;');
GO
ALTER PROCEDURE worker.CompleteJob
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @ResultMetadata nvarchar(max) = NULL,
    @Tracks nvarchar(max) = NULL,
    @Transcription nvarchar(max) = NULL,
    @ChromaAnalysis nvarchar(max) = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckJson @Name = N'@ResultMetadata', @Value = @ResultMetadata, @Shape = 'object';
    EXEC core.CheckJson @Name = N'@Tracks', @Value = @Tracks, @Shape = 'array';
    EXEC core.CheckJson @Name = N'@Transcription', @Value = @Transcription, @Shape = 'object';
    EXEC core.CheckJson @Name = N'@ChromaAnalysis', @Value = @ChromaAnalysis, @Shape = 'object';
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @JobIdText nvarchar(100) = CONVERT(nvarchar(36), @JobId);
    DECLARE @SongId uniqueidentifier;
    DECLARE @JobType varchar(20);
    DECLARE @Worker nvarchar(100);
    DECLARE @Text nvarchar(2048);
    DECLARE @TrackCount int = 0;
    DECLARE @ResultId bigint;
    DECLARE @Details nvarchar(max);
    -- @Transcription fields
    DECLARE @Language nvarchar(4000);
    DECLARE @FullText nvarchar(max);
    DECLARE @Segments nvarchar(max);
    DECLARE @ModelName nvarchar(4000);
    -- @ChromaAnalysis fields (numbers read as text first, so a bad one is a clear error)
    DECLARE @KeyName nvarchar(4000);
    DECLARE @Mode nvarchar(4000);
    DECLARE @Tempo nvarchar(100);
    DECLARE @KeyConfidence nvarchar(100);
    DECLARE @TempoConfidence nvarchar(100);
    DECLARE @ChromaVector nvarchar(max);
    DECLARE @Repeat varchar(20);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        EXEC core.CheckLease
            @JobId = @JobId, @ClaimToken = @ClaimToken,
            @SongId = @SongId OUTPUT, @JobType = @JobType OUTPUT, @WorkerId = @Worker OUTPUT,
            @RepeatOutcomes = 'completed', @Repeat = @Repeat OUTPUT;
        IF @Repeat IS NOT NULL  -- this token's completion was made already: answer again, write nothing
        BEGIN
            IF @OwnTransaction = 1 COMMIT TRANSACTION;
            EXEC core.ReturnJob @JobId = @JobId;
            RETURN 0;
        END;

        IF
            (@Tracks IS NOT NULL AND @JobType <> 'separation')
            OR (@Transcription IS NOT NULL AND @JobType <> 'transcription')
            OR (@ChromaAnalysis IS NOT NULL AND @JobType <> 'chroma')
        BEGIN
            SET @Text = CONCAT(
                N'The results given are not supported for a ', @JobType,
                N' job. Supported values are @Tracks for separation, @Transcription for transcription, @ChromaAnalysis for chroma jobs.'
            );
            THROW 50003, @Text, 1;
        END;

        IF @Tracks IS NOT NULL
            EXEC core.InsertSeparatedTracks
                @SongId = @SongId, @JobId = @JobId, @Tracks = @Tracks, @Count = @TrackCount OUTPUT;

        IF @Transcription IS NOT NULL
        BEGIN
            -- by key: OPENJSON ... WITH (x nvarchar(max)) cuts values at 4000 characters on Babelfish
            -- 4.2, and a transcript is longer than that. As WITH did: text fields read scalars only
            -- (an object or array there is NULL), segments an object or array only (type 4 or 5)
            SELECT
                @Language = core.JsonText(MAX(CASE WHEN p.[key] = N'language' AND p.[type] NOT IN (4, 5) THEN p.[value] END)),
                @FullText = core.JsonText(MAX(CASE WHEN p.[key] = N'fullText' AND p.[type] NOT IN (4, 5) THEN p.[value] END)),
                @Segments = MAX(CASE WHEN p.[key] = N'segments' AND p.[type] IN (4, 5) THEN p.[value] END),
                @ModelName = core.JsonText(MAX(CASE WHEN p.[key] = N'modelName' AND p.[type] NOT IN (4, 5) THEN p.[value] END))
            FROM OPENJSON(@Transcription) AS p;
            EXEC core.InsertTranscription
                @SongId = @SongId, @JobId = @JobId, @Language = @Language, @FullText = @FullText,
                @Segments = @Segments, @ModelName = @ModelName, @Id = @ResultId OUTPUT;
        END;

        IF @ChromaAnalysis IS NOT NULL
        BEGIN
            SELECT
                @KeyName = core.JsonText(r.KeyName),
                @Mode = core.JsonText(r.Mode),
                @Tempo = r.Tempo,
                @KeyConfidence = r.KeyConfidence,
                @TempoConfidence = r.TempoConfidence,
                @ChromaVector = r.ChromaVector
            FROM OPENJSON (@ChromaAnalysis)
                WITH (
                    KeyName nvarchar(4000) '$.keyName',
                    Mode nvarchar(4000) '$.mode',
                    Tempo nvarchar(100) '$.tempo',
                    KeyConfidence nvarchar(100) '$.keyConfidence',
                    TempoConfidence nvarchar(100) '$.tempoConfidence',
                    ChromaVector nvarchar(max) '$.chromaVector' AS JSON
                ) AS r;
            IF
                (@Tempo IS NOT NULL AND TRY_CAST(@Tempo AS float) IS NULL)
                OR (@KeyConfidence IS NOT NULL AND TRY_CAST(@KeyConfidence AS float) IS NULL)
                OR (@TempoConfidence IS NOT NULL AND TRY_CAST(@TempoConfidence AS float) IS NULL)
                THROW 50004, N'The value for the parameter @ChromaAnalysis is not supported: tempo and the confidences must be numbers. Supported values are JSON numbers or null.', 1;
            DECLARE @TempoValue float = TRY_CAST(@Tempo AS float);
            DECLARE @KeyConfidenceValue float = TRY_CAST(@KeyConfidence AS float);
            DECLARE @TempoConfidenceValue float = TRY_CAST(@TempoConfidence AS float);
            EXEC core.InsertChromaAnalysis
                @SongId = @SongId, @JobId = @JobId, @KeyName = @KeyName, @Mode = @Mode, @Tempo = @TempoValue,
                @KeyConfidence = @KeyConfidenceValue, @TempoConfidence = @TempoConfidenceValue,
                @ChromaVector = @ChromaVector, @Id = @ResultId OUTPUT;
        END;

        UPDATE dbo.ProcessingJobs
        SET
            Status = 'completed',
            Progress = 100,
            CompletedAt = @Now,
            ResultMetadata = COALESCE(@ResultMetadata, ResultMetadata),
            ClaimToken = NULL,
            LeaseExpiresAt = NULL,
            HeldBy = NULL,
            UpdatedAt = @Now
        WHERE JobId = @JobId AND ClaimToken = @ClaimToken AND Status = 'running';
        IF @@ROWCOUNT = 0
            THROW 50203, N'The lease was lost while this call ran: the job was claimed again.', 1;
        UPDATE dbo.JobAttempts SET Outcome = 'completed', EndedAt = @Now WHERE ClaimToken = @ClaimToken AND Outcome IS NULL;

        SET @Details = (
            SELECT
                @Worker AS workerId,
                @TrackCount AS separatedTracks,
                CASE WHEN @Transcription IS NOT NULL THEN 1 ELSE 0 END AS transcriptions,
                CASE WHEN @ChromaAnalysis IS NOT NULL THEN 1 ELSE 0 END AS chromaAnalyses
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'job', @EntityId = @JobIdText,
            @Action = 'completed', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC core.ReturnJob @JobId = @JobId;
END;
GO
