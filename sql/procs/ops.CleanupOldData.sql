/* ops.CleanupOldData - the client's door to dbo.sp_CleanupOldData (same parameters, same result).

   Run by the retention login (songsdb_retention, 0047: `songsdb cleanup`, SongsDatabase(role="retention")),
   granted below on every engine; songsdb_ops may call it too (EXECUTE on schema ops), which on Babelfish
   is refused at the first table the cleanup touches (0048: only songsdb_retention holds those rights).

   Returns: TableName, RowsDeleted, Finished
   (one row per table)
   Errors: as dbo.sp_CleanupOldData: 50001, 50002, 50005, 50901.
   Example: EXEC ops.CleanupOldData @DaysToKeep = 30, @TimeLimitSeconds = 600; */
IF OBJECT_ID(N'ops.CleanupOldData', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.CleanupOldData AS RETURN 0;');
GO
ALTER PROCEDURE ops.CleanupOldData
    @DaysToKeep int,
    @AuditDaysToKeep int = 365,
    @BatchSize int = 1000,
    @DryRun bit = 0,
    @TimeLimitSeconds int = NULL,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC dbo.sp_CleanupOldData
        @DaysToKeep = @DaysToKeep,
        @AuditDaysToKeep = @AuditDaysToKeep,
        @BatchSize = @BatchSize,
        @DryRun = @DryRun,
        @TimeLimitSeconds = @TimeLimitSeconds,
        @RequestId = @RequestId;
END;
GO
-- the retention role runs the cleanup through this door (0047); ops has it through EXECUTE on schema ops.
-- Only once the role exists (a deploy stopped at 0045 applies this file before 0047; 0047 grants it then)
IF DATABASE_PRINCIPAL_ID(N'songsdb_retention') IS NOT NULL
    EXEC (N'GRANT EXECUTE ON ops.CleanupOldData TO songsdb_retention;');
GO
