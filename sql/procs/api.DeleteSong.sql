/* api.DeleteSong - deletes a song with its jobs and all their results, in one transaction, audited.

   Returns: SongId, JobsDeleted, TracksDeleted, TranscriptionsDeleted, AnalysesDeleted
   Errors: 50001 @SongId missing; 50101 no song has @SongId.
   Example: EXEC api.DeleteSong @SongId = @Id, @RequestId = N'req-1'; */
IF OBJECT_ID(N'api.DeleteSong', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.DeleteSong AS RETURN 0;');
GO
ALTER PROCEDURE api.DeleteSong
    @SongId uniqueidentifier,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @SongId IS NULL
        THROW 50001, N'The parameter @SongId is required. Supported values are a song id (uniqueidentifier).', 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Message nvarchar(2048);
    DECLARE @SongIdText nvarchar(100) = CONVERT(nvarchar(36), @SongId);
    DECLARE @Tracks int;
    DECLARE @Transcriptions int;
    DECLARE @Analyses int;
    DECLARE @Jobs int;
    DECLARE @Details nvarchar(max);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        -- the song's jobs first, then their results: the order in which workers lock them
        DECLARE @Held TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY);
        INSERT INTO @Held (JobId)
        SELECT j.JobId
        FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
        WHERE j.SongId = @SongId;

        DELETE FROM dbo.SeparatedTracks WHERE SongId = @SongId;
        SET @Tracks = @@ROWCOUNT;
        DELETE FROM dbo.Transcriptions WHERE SongId = @SongId;
        SET @Transcriptions = @@ROWCOUNT;
        DELETE FROM dbo.ChromaAnalysis WHERE SongId = @SongId;
        SET @Analyses = @@ROWCOUNT;
        DELETE FROM dbo.ProcessingJobs WHERE SongId = @SongId;
        SET @Jobs = @@ROWCOUNT;
        DELETE FROM dbo.Songs WHERE Id = @SongId;

        IF @@ROWCOUNT = 0
        BEGIN
            SET @Message = CONCAT(N'No song has @SongId = ''', @SongIdText, N'''.');
            THROW 50101, @Message, 1;
        END;

        SET @Details = CONCAT(
            N'{"processingJobs":', @Jobs, N',"separatedTracks":', @Tracks,
            N',"transcriptions":', @Transcriptions, N',"chromaAnalysis":', @Analyses, N'}'
        );
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'song', @EntityId = @SongIdText,
            @Action = 'deleted', @Details = @Details;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        @SongId AS SongId,
        @Jobs AS JobsDeleted,
        @Tracks AS TracksDeleted,
        @Transcriptions AS TranscriptionsDeleted,
        @Analyses AS AnalysesDeleted;
END;
GO
