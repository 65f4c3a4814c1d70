/* api.DeleteSong - deletes a song with its jobs and all their results, in one transaction, audited.

   Lock order: the worker procedures' order, so a delete racing a claim, a heartbeat or a
   completion waits for it instead of deadlocking with it:
     1. no new job for the song until this commits: a key-range lock (UPDLOCK, HOLDLOCK) on the
        song's range of IX_ProcessingJobs_SongId_CreatedAt, read covered (no row is touched; no
        worker procedure locks that index: their updates change none of its columns). A job
        created meanwhile waits, then finds the song gone (50101);
     2. each of the song's jobs by JobId, one at a time in JobId order: its UQ_ProcessingJobs_JobId
        key, then its row, as core.CheckLease, api.UpdateJobStatus and worker.ClaimNextJob's
        UPDATE take them (SQL Server: UPDLOCK, held to the commit; Babelfish, which ignores
        locking hints: an UPDATE that changes nothing, the one row lock PostgreSQL takes). A job a
        worker holds in an open transaction is waited for, and its results are then deleted too;
     3. the results (stems, transcriptions, analyses), as a worker writes them after its job;
     4. the jobs, then the song (a worker reads the song last, in its results' foreign key check);
     5. the audit row, counting what went: jobs, their attempts (the DBA review's m3), stems,
        transcriptions, analyses.
   (The review of 2026-11-30, m1: it used to lock the jobs through IX_ProcessingJobs_SongId_CreatedAt
   and their rows, then delete their UQ_ProcessingJobs_JobId keys: the opposite order.)
   Where locking hints are ignored (Babelfish) a job or result added to the song by a transaction
   that commits while this one runs fails the song's or the jobs' delete with 547; that is
   reported as 50901 and nothing is deleted: call again.
   Returns: SongId, JobsDeleted, TracksDeleted, TranscriptionsDeleted, AnalysesDeleted
   Errors: 50001 @SongId missing; 50101 no song has @SongId; 50901 a job or result was added to the
           song while it was being deleted (engines that ignore locking hints; nothing deleted).
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
    DECLARE @Attempts int;
    DECLARE @Details nvarchar(max);
    DECLARE @Seq int = 1;
    DECLARE @JobId uniqueidentifier;
{% if engine == "sqlserver" %}
    DECLARE @Status varchar(20);
{% endif %}
    DECLARE @Held TABLE (Seq int NOT NULL PRIMARY KEY, JobId uniqueidentifier NOT NULL);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        -- 1. the song's range of IX_ProcessingJobs_SongId_CreatedAt (covered: COUNT reads no row)
        SELECT @Jobs = COUNT(*)
        FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, HOLDLOCK)
        WHERE j.SongId = @SongId;

        -- 2. its jobs, each locked by JobId (header); their ids are read without a lock first
        INSERT INTO @Held (Seq, JobId)
        SELECT
            ROW_NUMBER() OVER (ORDER BY j.JobId),
            j.JobId
        FROM dbo.ProcessingJobs AS j
        WHERE j.SongId = @SongId;
        WHILE 1 = 1
        BEGIN
            SET @JobId = (SELECT h.JobId FROM @Held AS h WHERE h.Seq = @Seq);
            IF @JobId IS NULL
                BREAK;
{% if engine == "sqlserver" %}
            -- Status is not in UQ_ProcessingJobs_JobId: the key, then the row, both held to the commit
            SELECT @Status = j.Status
            FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
            WHERE j.JobId = @JobId;
{% else %}
            -- Babelfish ignores UPDLOCK; a row lock is what an UPDATE takes (the row is deleted below)
            UPDATE dbo.ProcessingJobs SET UpdatedAt = UpdatedAt WHERE JobId = @JobId;
{% endif %}
            SET @Seq = @Seq + 1;
        END;

        -- 3. their results
        DELETE FROM dbo.SeparatedTracks WHERE SongId = @SongId;
        SET @Tracks = @@ROWCOUNT;
        DELETE FROM dbo.Transcriptions WHERE SongId = @SongId;
        SET @Transcriptions = @@ROWCOUNT;
        DELETE FROM dbo.ChromaAnalysis WHERE SongId = @SongId;
        SET @Analyses = @@ROWCOUNT;

        -- 4. the jobs' attempts (0024), the jobs, then the song
        DELETE FROM dbo.JobAttempts WHERE JobId IN (SELECT j.JobId FROM dbo.ProcessingJobs AS j WHERE j.SongId = @SongId);
        SET @Attempts = @@ROWCOUNT;
        DELETE FROM dbo.ProcessingJobs WHERE SongId = @SongId;
        SET @Jobs = @@ROWCOUNT;
        DELETE FROM dbo.Songs WHERE Id = @SongId;

        IF @@ROWCOUNT = 0
        BEGIN
            SET @Message = CONCAT(N'No song has @SongId = ''', @SongIdText, N'''.');
            THROW 50101, @Message, 1;
        END;

        -- 5. the audit row
        SET @Details = CONCAT(
            N'{"processingJobs":', @Jobs, N',"separatedTracks":', @Tracks,
            N',"transcriptions":', @Transcriptions, N',"chromaAnalysis":', @Analyses,
            N',"jobAttempts":', @Attempts, N'}'
        );
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'song', @EntityId = @SongIdText,
            @Action = 'deleted', @Details = @Details, @ProcId = @@PROCID;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        IF ERROR_NUMBER() = 547  -- a job or result added meanwhile, where locking hints are ignored (header)
        BEGIN
            SET @Message = CONCAT(
                N'Song ''', @SongIdText, N''' was given a job or a result by another call while it was being deleted; ',
                N'nothing was deleted. Try again.'
            );
            THROW 50901, @Message, 1;
        END;
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
