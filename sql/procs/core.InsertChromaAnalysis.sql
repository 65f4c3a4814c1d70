/* core.InsertChromaAnalysis - validates and inserts one key/tempo analysis; runs in the caller's transaction.

   Called by worker.AddChromaAnalysis and worker.CompleteJob; writes no audit row. @Id returns the new row's Id.
   @KeyName: C, C#, Db, D, D#, Eb, E, F, F#, Gb, G, G#, Ab, A, A#, Bb, B. @Mode: major or minor.
   Both are stored in one canonical case ('C#', 'Bb', 'minor') whatever case they came in.
   @Tempo in BPM, 0.001 to 999.999. Confidences 0 to 1. @ChromaVector: a JSON array of exactly
   12 numbers (C .. B).
   Errors: 50002 a number out of range; 50003 @KeyName or @Mode unknown; 50004 @ChromaVector malformed.
   Example: EXEC core.InsertChromaAnalysis @SongId = @SongId, @JobId = NULL, @KeyName = 'A', @Mode = 'minor',
                @Tempo = 120, @KeyConfidence = NULL, @TempoConfidence = NULL, @ChromaVector = NULL, @Id = @Id OUTPUT; */
IF OBJECT_ID(N'core.InsertChromaAnalysis', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.InsertChromaAnalysis AS RETURN 0;');
GO
ALTER PROCEDURE core.InsertChromaAnalysis
    @SongId uniqueidentifier,
    @JobId uniqueidentifier,
    @KeyName nvarchar(4000),
    @Mode nvarchar(4000),
    @Tempo float,
    @KeyConfidence float,
    @TempoConfidence float,
    @ChromaVector nvarchar(max),
    @Id bigint = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckOneOf
        @Name = N'@KeyName', @Value = @KeyName,
        @Allowed = N'C,C#,Db,D,D#,Eb,E,F,F#,Gb,G,G#,Ab,A,A#,Bb,B';
    EXEC core.CheckOneOf @Name = N'@Mode', @Value = @Mode, @Allowed = N'major,minor';
    EXEC core.CheckNumber
        @Name = N'@Tempo', @Value = @Tempo, @Min = 0.001, @Max = 999.999,
        @Allowed = N'0.001 to 999.999 beats per minute, or NULL';
    EXEC core.CheckNumber
        @Name = N'@KeyConfidence', @Value = @KeyConfidence, @Min = 0, @Max = 1, @Allowed = N'0 to 1, or NULL';
    EXEC core.CheckNumber
        @Name = N'@TempoConfidence', @Value = @TempoConfidence, @Min = 0, @Max = 1, @Allowed = N'0 to 1, or NULL';
    EXEC core.CheckJson @Name = N'@ChromaVector', @Value = @ChromaVector, @Shape = 'array';
    IF
        @ChromaVector IS NOT NULL
        AND (
            (SELECT COUNT(*) FROM OPENJSON(@ChromaVector)) <> 12
            OR EXISTS (SELECT 1 FROM OPENJSON(@ChromaVector) AS v WHERE TRY_CAST(v.[value] AS float) IS NULL)
        )
        THROW 50004, N'The value for the parameter @ChromaVector is not supported. Supported values are a JSON array of exactly 12 numbers, or NULL.', 1;

    DECLARE @CanonicalKey varchar(2) = CASE
        WHEN @KeyName IS NOT NULL THEN CONCAT(UPPER(LEFT(@KeyName, 1)), LOWER(SUBSTRING(@KeyName, 2, 1)))
    END;
    INSERT INTO dbo.ChromaAnalysis (
        SongId, JobId, KeyName, Mode, Tempo, KeyConfidence, TempoConfidence, ChromaVector
    )
    VALUES (
        @SongId, @JobId, @CanonicalKey, LOWER(@Mode), @Tempo, @KeyConfidence, @TempoConfidence, @ChromaVector
    );
    SET @Id = CAST(SCOPE_IDENTITY() AS bigint);
END;
GO
