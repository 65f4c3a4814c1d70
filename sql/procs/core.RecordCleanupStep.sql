/* core.RecordCleanupStep - the audit row of one step of dbo.sp_CleanupOldData, kept up to date.

   The first batch of a step inserts its row ('system', 'cleaned_up', entity dbo.sp_CleanupOldData)
   and gets its Id back in @AuditId; every later batch updates that row's Details. It is called in
   each batch's transaction, so the row always says exactly what the committed batches deleted,
   even when a later batch fails or the time limit stops the run.
   Example: EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details,
                @AuditId = @StepAuditId OUTPUT; */
IF OBJECT_ID(N'core.RecordCleanupStep', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.RecordCleanupStep AS RETURN 0;');
GO
ALTER PROCEDURE core.RecordCleanupStep
    @RequestId nvarchar(100),
    @Details nvarchar(max),
    @AuditId bigint = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @AuditId IS NULL
        EXEC core.WriteAudit
            @RequestId = @RequestId, @EntityType = 'system', @EntityId = N'dbo.sp_CleanupOldData',
            @Action = 'cleaned_up', @Details = @Details, @AuditId = @AuditId OUTPUT;
    ELSE
        UPDATE dbo.AuditLog SET Details = @Details WHERE Id = @AuditId;
END;
GO
