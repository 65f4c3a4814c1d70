/* api.CleanupOldData - the application's door to dbo.sp_CleanupOldData (same parameters, same result).

   Returns: TableName, RowsDeleted
   (one row per table)
   Errors: as dbo.sp_CleanupOldData: 50001, 50002, 50901.
   Example: EXEC api.CleanupOldData @DaysToKeep = 30; */
IF OBJECT_ID(N'api.CleanupOldData', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.CleanupOldData AS RETURN 0;');
GO
ALTER PROCEDURE api.CleanupOldData
    @DaysToKeep int,
    @BatchSize int = 1000,
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC dbo.sp_CleanupOldData @DaysToKeep = @DaysToKeep, @BatchSize = @BatchSize, @RequestId = @RequestId;
END;
GO
