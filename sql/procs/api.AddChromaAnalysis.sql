/* api.AddChromaAnalysis - stores a key/tempo analysis of a song (optionally from a chroma job), audited.

   @KeyName: C, C#, Db, D, D#, Eb, E, F, F#, Gb, G, G#, Ab, A, A#, Bb, B. @Mode: major or minor.
   @Tempo in BPM, above 0 and below 1000. Confidences 0 to 1. @ChromaVector: a JSON array of
   exactly 12 numbers (C .. B).
   Returns: Id, SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence, ChromaVector,
            CreatedAt
   (the new row, through dbo.ReturnResults)
   Errors: 50001 @SongId missing; 50002 a number out of range; 50003 @KeyName or @Mode unknown,
           or @JobId not a chroma job of this song; 50004 @ChromaVector malformed;
           50101 no song has @SongId; 50201 no job has @JobId.
   Example: EXEC api.AddChromaAnalysis @SongId = @Id, @KeyName = 'A', @Mode = 'minor', @Tempo = 120; */
IF OBJECT_ID(N'api.AddChromaAnalysis', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.AddChromaAnalysis AS RETURN 0;');
GO
ALTER PROCEDURE api.AddChromaAnalysis
    @SongId uniqueidentifier,
    @JobId uniqueidentifier = NULL,
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

    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    EXEC dbo.CheckSong @SongId = @SongId;
    IF @JobId IS NOT NULL
        EXEC dbo.CheckJobFor @JobId = @JobId, @SongId = @SongId, @JobType = 'chroma';

    DECLARE @Id bigint;
    DECLARE @IdText nvarchar(100);
    DECLARE @Details nvarchar(max) = (
        SELECT
            CONVERT(nvarchar(36), @SongId) AS songId,
            CONVERT(nvarchar(36), @JobId) AS jobId,
            @KeyName AS keyName,
            LOWER(@Mode) AS mode
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    );

    BEGIN TRY
        BEGIN TRANSACTION;

        EXEC dbo.InsertChromaAnalysis
            @SongId = @SongId, @JobId = @JobId, @KeyName = @KeyName, @Mode = @Mode, @Tempo = @Tempo,
            @KeyConfidence = @KeyConfidence, @TempoConfidence = @TempoConfidence,
            @ChromaVector = @ChromaVector, @Id = @Id OUTPUT;
        SET @IdText = CONVERT(nvarchar(100), @Id);

        EXEC dbo.WriteAudit
            @RequestId = @RequestId, @EntityType = 'chroma', @EntityId = @IdText,
            @Action = 'created', @Details = @Details;

        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    EXEC dbo.ReturnResults @Kind = 'chroma', @Id = @Id;
END;
GO
