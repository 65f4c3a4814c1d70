/* ops.GetQueueMetrics - everything a /metrics scrape reports, in one call, read from indexes (no job table scan).

   Result 1, the open work per model and job type (dbo.vw_QueueStatus: a scan of the filtered
   IX_ProcessingJobs_OpenWork, 0016, which holds queued, running and failed jobs only).
   Result 2, per model and job type, the jobs that finished in the last @WindowSeconds seconds: how
   many completed and failed, and the claim latency of those jobs, from creation to their first
   claim (StartedAt - CreatedAt), its sum and maximum in seconds (millisecond precision), over
   Claimed jobs. A range seek on IX_ProcessingJobs_Finished (0028), which carries every column read.
   WindowSeconds is returned so the caller can turn counts into rates.
   Returns 1: ModelName, JobType, Queued, Running, Failed, ExpiredLeases, OldestQueuedSeconds
   Returns 2: ModelName, JobType, WindowSeconds, Completed, Failed, Claimed, ClaimSecondsSum,
              ClaimSecondsMax
   Errors: 50002 @WindowSeconds out of range.
   Example: EXEC ops.GetQueueMetrics @WindowSeconds = 300; */
IF OBJECT_ID(N'ops.GetQueueMetrics', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.GetQueueMetrics AS RETURN 0;');
GO
ALTER PROCEDURE ops.GetQueueMetrics
    @WindowSeconds int = 300
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckNumber
        @Name = N'@WindowSeconds', @Value = @WindowSeconds, @Min = 10, @Max = 86400,
        @Allowed = N'whole numbers from 10 to 86400 (a day)', @Required = 1;

    DECLARE @Since datetime2(3) = DATEADD(SECOND, -@WindowSeconds, SYSUTCDATETIME());

    SELECT
        q.ModelName,
        q.JobType,
        q.Queued,
        q.Running,
        q.Failed,
        q.ExpiredLeases,
        q.OldestQueuedSeconds
    FROM dbo.vw_QueueStatus AS q
    ORDER BY q.ModelName, q.JobType;

    -- a wait of 20 days or more is counted in whole seconds: DATEDIFF(MILLISECOND) overflows int at 24.8 days
    SELECT
        f.ModelName,
        f.JobType,
        @WindowSeconds AS WindowSeconds,
        SUM(CASE WHEN f.Status = 'completed' THEN 1 ELSE 0 END) AS Completed,
        SUM(CASE WHEN f.Status = 'failed' THEN 1 ELSE 0 END) AS Failed,
        COUNT(f.WaitSeconds) AS Claimed,
        COALESCE(SUM(f.WaitSeconds), 0) AS ClaimSecondsSum,
        COALESCE(MAX(f.WaitSeconds), 0) AS ClaimSecondsMax
    FROM (
        SELECT
            j.ModelName,
            j.JobType,
            j.Status,
            CASE
                WHEN j.StartedAt IS NULL THEN NULL
                WHEN DATEDIFF(DAY, j.CreatedAt, j.StartedAt) >= 20
                    THEN CAST(DATEDIFF(SECOND, j.CreatedAt, j.StartedAt) AS float)
                ELSE DATEDIFF(MILLISECOND, j.CreatedAt, j.StartedAt) / 1000.0
            END AS WaitSeconds
        FROM dbo.ProcessingJobs AS j
        WHERE j.CompletedAt >= @Since AND j.Status IN ('completed', 'failed')
    ) AS f
    GROUP BY f.ModelName, f.JobType
    ORDER BY f.ModelName, f.JobType;
END;
GO
