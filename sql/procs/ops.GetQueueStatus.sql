/* ops.GetQueueStatus - dbo.vw_QueueStatus for the application's dashboards.

   Returns: ModelName, JobType, Queued, Running, Failed, ExpiredLeases, OldestQueuedAt,
            OldestQueuedSeconds
   Example: EXEC ops.GetQueueStatus; */
IF OBJECT_ID(N'ops.GetQueueStatus', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.GetQueueStatus AS RETURN 0;');
GO
ALTER PROCEDURE ops.GetQueueStatus
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    SELECT
        q.ModelName,
        q.JobType,
        q.Queued,
        q.Running,
        q.Failed,
        q.ExpiredLeases,
        q.OldestQueuedAt,
        q.OldestQueuedSeconds
    FROM dbo.vw_QueueStatus AS q
    ORDER BY q.ModelName, q.JobType;
END;
GO
