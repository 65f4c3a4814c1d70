/* ops.GetThroughput - jobs finished per minute over the last @Minutes minutes: completed and failed.

   One row per minute in which a job finished (minutes without any are left out), oldest first;
   MinuteStart is UTC, on the minute, the current minute the last. Finished means Status completed
   or failed with CompletedAt in the minute: a job failed and then retried (ops.RetryJob, or a
   failure with attempts left) counts again when it finishes again. A range seek on
   IX_ProcessingJobs_Finished (0028: CompletedAt, Id, filtered on completed and failed, carrying
   Status), reading the jobs that finished in the window and nothing else, no lookup.
   Returns: MinuteStart, Completed, Failed
   Errors: 50002 @Minutes out of range.
   Example: EXEC ops.GetThroughput @Minutes = 1440; */
IF OBJECT_ID(N'ops.GetThroughput', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.GetThroughput AS RETURN 0;');
GO
ALTER PROCEDURE ops.GetThroughput
    @Minutes int = 1440
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckNumber
        @Name = N'@Minutes', @Value = @Minutes, @Min = 1, @Max = 10080,
        @Allowed = N'whole numbers from 1 to 10080 (a week)', @Required = 1;

    DECLARE @Base datetime2(3) = CAST('2000-01-01' AS datetime2(3));
    DECLARE @End datetime2(3) = DATEADD(MINUTE, DATEDIFF(MINUTE, @Base, SYSUTCDATETIME()) + 1, @Base);
    DECLARE @Since datetime2(3) = DATEADD(MINUTE, -@Minutes, @End);

    SELECT
        DATEADD(MINUTE, f.Bucket, @Since) AS MinuteStart,
        SUM(CASE WHEN f.Status = 'completed' THEN 1 ELSE 0 END) AS Completed,
        SUM(CASE WHEN f.Status = 'failed' THEN 1 ELSE 0 END) AS Failed
    FROM (
        SELECT
            DATEDIFF(MINUTE, @Since, j.CompletedAt) AS Bucket,
            j.Status
        FROM dbo.ProcessingJobs AS j
        WHERE j.CompletedAt >= @Since AND j.Status IN ('completed', 'failed')
    ) AS f
    GROUP BY f.Bucket
    ORDER BY f.Bucket;
END;
GO
