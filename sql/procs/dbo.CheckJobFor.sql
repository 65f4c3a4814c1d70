/* dbo.CheckJobFor - validation helper: THROWs unless @JobId names a job of @JobType (for @SongId, when given).

   Errors: 50201 no job has @JobId; 50003 the job is of another type or belongs to another song.
   Example: EXEC dbo.CheckJobFor @JobId = @JobId, @SongId = @SongId, @JobType = 'transcription'; */
IF OBJECT_ID(N'dbo.CheckJobFor', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.CheckJobFor AS RETURN 0;');
GO
ALTER PROCEDURE dbo.CheckJobFor
    @JobId uniqueidentifier,
    @SongId uniqueidentifier,
    @JobType varchar(20)
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);
    DECLARE @ActualSong uniqueidentifier;
    DECLARE @ActualType varchar(20);

    SELECT
        @ActualSong = j.SongId,
        @ActualType = j.JobType
    FROM dbo.ProcessingJobs AS j
    WHERE j.JobId = @JobId;

    IF @ActualType IS NULL
    BEGIN
        SET @Message = CONCAT(N'No processing job has @JobId = ''', CONVERT(nvarchar(36), @JobId), N'''.');
        THROW 50201, @Message, 1;
    END;
    IF @ActualType <> @JobType
    BEGIN
        SET @Message = CONCAT(
            N'The value for the parameter @JobId is not supported: that job is a ', @ActualType,
            N' job. Supported values are ', @JobType, N' jobs.'
        );
        THROW 50003, @Message, 1;
    END;
    IF @SongId IS NOT NULL AND @ActualSong <> @SongId
    BEGIN
        SET @Message = N'The value for the parameter @JobId is not supported: that job belongs to another song. Supported values are jobs of @SongId.';
        THROW 50003, @Message, 1;
    END;
END;
GO
