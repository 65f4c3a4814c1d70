/* worker.AddTranscription - the worker holding a transcription job stores its transcription, audited.

   Fenced like worker.CompleteJob: @ClaimToken must be the job's current claim; a stale worker, a
   cancelled job or a queued one is refused and nothing is written. The song is the job's.
   @Segments is a JSON array of timed segments, e.g. [{"start": 0.0, "end": 2.5, "text": "..."}].
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

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        EXEC core.CheckLease
            @JobId = @JobId, @ClaimToken = @ClaimToken, @SongId = @SongId OUTPUT, @JobType = @JobType OUTPUT;
        IF @JobType <> 'transcription'
            THROW 50003, N'The value for the parameter @JobId is not supported: transcriptions belong to transcription jobs. Supported values are transcription jobs.', 1;

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
