/* core.CleanupAuditLog - step 3 of dbo.sp_CleanupOldData: audit rows older than @AuditCutoff.

   Walks dbo.AuditLog in Id order (the clustered key) from its start up to the first row that is
   not old. Id and Timestamp are both set when a row is inserted (IDENTITY, DEFAULT SYSUTCDATETIME();
   no procedure sets Timestamp), so finding that row reads only the old rows before it: no index on
   Timestamp is needed (0018 drops it). An old row after a newer one (a server clock set back)
   waits for a later run. Each batch is a range of the clustered key holding at most @BatchSize
   old rows, deleted in its own short transaction (below lock escalation). @DryRun = 1 counts the
   same rows and deletes nothing.
   Audit, append-only: when it deleted anything, it writes the step's final row (core.RecordCleanupStep,
   Source from @ProcId, the caller's @@PROCID) with "auditLog", "batches" and "finished" (false when
   @Deadline cut it short, or an error stopped it: then with "error", before that error is raised
   again). Called by dbo.sp_CleanupOldData only, which validates the parameters and holds the
   cleanup's app lock. @Deleted and @Finished return what it did.
   Example: EXEC core.CleanupAuditLog @AuditCutoff = @AuditCutoff, @AuditDaysToKeep = 365,
                @BatchSize = 1000, @DryRun = 0, @Deadline = NULL, @RequestId = NULL, @ProcId = @@PROCID,
                @Deleted = @Audit OUTPUT, @Finished = @AuditDone OUTPUT; */
IF OBJECT_ID(N'core.CleanupAuditLog', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CleanupAuditLog AS RETURN 0;');
GO
ALTER PROCEDURE core.CleanupAuditLog
    @AuditCutoff datetime2(3),
    @AuditDaysToKeep int,
    @BatchSize int,
    @DryRun bit,
    @Deadline datetime2(3),
    @RequestId nvarchar(100),
    @ProcId int,
    @Deleted int = 0 OUTPUT,
    @Finished bit = 0 OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Upto bigint;
    DECLARE @BatchUpto bigint;
    DECLARE @Last bigint = 0;
    DECLARE @Count int;
    DECLARE @Batches int = 0;
    DECLARE @Error int;
    DECLARE @Details nvarchar(max);
    SET @Deleted = 0;
    SET @Finished = 0;

    BEGIN TRY
        -- the last row before the first one that is not old (or the last row, when all are old)
        SET @Upto = (
            SELECT TOP (1) a.Id
            FROM dbo.AuditLog AS a
            WHERE a.[Timestamp] >= @AuditCutoff
            ORDER BY a.Id
        ) - 1;
        IF @Upto IS NULL
            SET @Upto = (SELECT MAX(a.Id) FROM dbo.AuditLog AS a);

        IF @DryRun = 1
        BEGIN
            SET @Deleted = (SELECT COUNT(*) FROM dbo.AuditLog AS a WHERE a.Id <= @Upto AND a.[Timestamp] < @AuditCutoff);
            SET @Finished = 1;
            RETURN;
        END;

        WHILE @Finished = 0
        BEGIN
            IF @Deadline IS NOT NULL AND SYSUTCDATETIME() >= @Deadline
                BREAK;
            -- from @Last to the @BatchSize-th old row after it
            SET @BatchUpto = (
                SELECT MAX(b.Id)
                FROM (
                    SELECT TOP (@BatchSize) a.Id
                    FROM dbo.AuditLog AS a
                    WHERE a.Id > @Last AND a.Id <= @Upto AND a.[Timestamp] < @AuditCutoff
                    ORDER BY a.Id
                ) AS b
            );
            IF @BatchUpto IS NULL
            BEGIN
                SET @Finished = 1;
                BREAK;
            END;

            BEGIN TRANSACTION;
            DELETE FROM dbo.AuditLog WHERE Id > @Last AND Id <= @BatchUpto AND [Timestamp] < @AuditCutoff;
            SET @Count = @@ROWCOUNT;
            COMMIT TRANSACTION;
            SET @Deleted = @Deleted + @Count;
            SET @Batches = @Batches + 1;
            SET @Last = @BatchUpto;
            IF @Count < @BatchSize
                SET @Finished = 1;
        END;
    END TRY
    BEGIN CATCH
        SET @Error = ERROR_NUMBER();
        IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        -- what the committed batches deleted is recorded; the original error is raised either way
        IF @Batches > 0
        BEGIN
            BEGIN TRY
                SET @Details = CONCAT(
                    N'{"step":"audit","auditDaysToKeep":', @AuditDaysToKeep,
                    N',"cutoff":"', CONVERT(nvarchar(30), @AuditCutoff, 126), N'","auditLog":', @Deleted,
                    N',"batches":', @Batches, N',"finished":false,"error":', @Error, N'}'
                );
                EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @ProcId = @ProcId;
            END TRY
            BEGIN CATCH
                IF XACT_STATE() <> 0 ROLLBACK TRANSACTION;
            END CATCH;
        END;
        THROW;
    END CATCH;

    IF @Batches > 0
    BEGIN
        SET @Details = CONCAT(
            N'{"step":"audit","auditDaysToKeep":', @AuditDaysToKeep,
            N',"cutoff":"', CONVERT(nvarchar(30), @AuditCutoff, 126), N'","auditLog":', @Deleted,
            N',"batches":', @Batches, N',"finished":', CASE WHEN @Finished = 1 THEN N'true' ELSE N'false' END, N'}'
        );
        EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @ProcId = @ProcId;
    END;
END;
GO
