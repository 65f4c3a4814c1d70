/* worker.AddChromaAnalysis - the worker holding a chroma job stores its key/tempo analysis, audited.

   Fenced like worker.CompleteJob: @ClaimToken must be the job's current claim; a stale worker, a
   cancelled job or a queued one is refused and nothing is written. The song is the job's.
   Safe to repeat: when the job has an analysis with exactly these values already, the call is a
   repeat of one that committed (its answer was lost): it returns that row and writes nothing,
   while the token is still the job's claim or after the worker's own completion or failure
   report ended its attempt (dbo.JobAttempts). A token whose lease was lost is still refused (50203).
   Returns: Id, SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence, ChromaVector, CreatedAt
   (the new row: a clustered index seek)
   Errors: 50001 @JobId or @ClaimToken missing; 50002 a number out of range; 50003 @KeyName or
           @Mode unknown, or not a chroma job; 50004 @ChromaVector malformed; 50201 no job has
           @JobId; 50202 the job is not running; 50203 the lease was lost.
   Example: EXEC worker.AddChromaAnalysis @JobId = @JobId, @ClaimToken = @Token, @KeyName = 'A', @Mode = 'minor', @Tempo = 120; */
IF OBJECT_ID(N'worker.AddChromaAnalysis', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE worker.AddChromaAnalysis AS RETURN 0;');
GO
ALTER PROCEDURE worker.AddChromaAnalysis
    @JobId uniqueidentifier,
    @ClaimToken uniqueidentifier,
    @KeyName nvarchar(4000) = NULL,
    @Mode nvarchar(4000) = NULL,
    @Tempo float = NULL,
    @KeyConfidence float = NULL,
    @TempoConfidence float = NULL,
    @ChromaVector nvarchar(max) = NULL,
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
        IF @JobType <> 'chroma'
            THROW 50003, N'The value for the parameter @JobId is not supported: analyses belong to chroma jobs. Supported values are chroma jobs.', 1;

        -- a repeat: the job's analysis with exactly these values (key and mode as stored: canonical case)
        SET @Id = (
            SELECT TOP (1) c.Id
            FROM dbo.ChromaAnalysis AS c
            WHERE
                c.JobId = @JobId
                AND ((c.KeyName IS NULL AND @KeyName IS NULL) OR c.KeyName = @KeyName)
                AND ((c.Mode IS NULL AND @Mode IS NULL) OR c.Mode = @Mode)
                AND ((c.Tempo IS NULL AND @Tempo IS NULL) OR c.Tempo = @Tempo)
                AND ((c.KeyConfidence IS NULL AND @KeyConfidence IS NULL) OR c.KeyConfidence = @KeyConfidence)
                AND ((c.TempoConfidence IS NULL AND @TempoConfidence IS NULL) OR c.TempoConfidence = @TempoConfidence)
                AND (
                    (c.ChromaVector IS NULL AND @ChromaVector IS NULL)
                    OR (
                        c.ChromaVector COLLATE Latin1_General_BIN2 = @ChromaVector
                        AND DATALENGTH(c.ChromaVector) = DATALENGTH(@ChromaVector)
                    )
                )
            ORDER BY c.Id
        );
        IF @Id IS NULL AND @Repeat IS NOT NULL  -- the attempt ended and this is not its analysis: refused as before
            EXEC core.CheckLease @JobId = @JobId, @ClaimToken = @ClaimToken;

        IF @Id IS NULL
        BEGIN
            EXEC core.InsertChromaAnalysis
                @SongId = @SongId, @JobId = @JobId, @KeyName = @KeyName, @Mode = @Mode, @Tempo = @Tempo,
                @KeyConfidence = @KeyConfidence, @TempoConfidence = @TempoConfidence,
                @ChromaVector = @ChromaVector, @Id = @Id OUTPUT;
            SET @IdText = CONVERT(nvarchar(100), @Id);
            SET @Details = (
                SELECT
                    CONVERT(nvarchar(36), @SongId) AS songId,
                    CONVERT(nvarchar(36), @JobId) AS jobId,
                    @KeyName AS keyName,
                    LOWER(@Mode) AS mode
                FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
            );
            EXEC core.WriteAudit
                @RequestId = @RequestId, @EntityType = 'chroma', @EntityId = @IdText,
                @Action = 'created', @Details = @Details, @ProcId = @@PROCID;
        END;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        c.Id,
        c.SongId,
        c.JobId,
        c.KeyName,
        c.Mode,
        c.Tempo,
        c.KeyConfidence,
        c.TempoConfidence,
        c.ChromaVector,
        c.CreatedAt
    FROM dbo.ChromaAnalysis AS c
    WHERE c.Id = @Id;
END;
GO
