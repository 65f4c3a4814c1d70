/* core.RecordCleanupStep - the audit row of one step of dbo.sp_CleanupOldData.

   Inserts one row ('system', 'cleaned_up', entity dbo.sp_CleanupOldData) with the step's final
   counts in @Details, once per step, when the step ends: finished, cut short by the time limit,
   or stopped by an error (the counts are then those of the batches that committed). Audit rows
   are append-only: this procedure never updates a row (before 0015 it inserted the row in the
   step's first batch and updated it in every later one). @ProcId is the @@PROCID of the
   procedure that ran the step, recorded as the row's Source; @AuditId returns the new row's Id.
   Example: EXEC core.RecordCleanupStep @RequestId = @RequestId, @Details = @Details, @ProcId = @@PROCID; */
IF OBJECT_ID(N'core.RecordCleanupStep', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.RecordCleanupStep AS RETURN 0;');
GO
ALTER PROCEDURE core.RecordCleanupStep
    @RequestId nvarchar(100),
    @Details nvarchar(max),
    @AuditId bigint = NULL OUTPUT,
    @ProcId int = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.WriteAudit
        @RequestId = @RequestId, @EntityType = 'system', @EntityId = N'dbo.sp_CleanupOldData',
        @Action = 'cleaned_up', @Details = @Details, @AuditId = @AuditId OUTPUT, @ProcId = @ProcId;
END;
GO
