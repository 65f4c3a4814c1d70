/* dbo.vw_QueueStatus - the work queue for operators, one row per model and job type with open work.

   Columns: ModelName, JobType, Queued, Running, Failed, ExpiredLeases (running jobs whose
   worker stopped heartbeating; the next claim takes them back), OldestQueuedAt and
   OldestQueuedSeconds (the age of the oldest queued job; NULL when none is queued).
   Re-runnable on every target engine: DROP VIEW IF EXISTS, then CREATE VIEW. */
DROP VIEW IF EXISTS dbo.vw_QueueStatus;
GO
CREATE VIEW dbo.vw_QueueStatus
AS
SELECT
    j.ModelName,
    j.JobType,
    SUM(CASE WHEN j.Status = 'queued' THEN 1 ELSE 0 END) AS Queued,
    SUM(CASE WHEN j.Status = 'running' THEN 1 ELSE 0 END) AS Running,
    SUM(CASE WHEN j.Status = 'failed' THEN 1 ELSE 0 END) AS Failed,
    SUM(CASE WHEN j.Status = 'running' AND j.LeaseExpiresAt < SYSUTCDATETIME() THEN 1 ELSE 0 END) AS ExpiredLeases,
    MIN(CASE WHEN j.Status = 'queued' THEN j.CreatedAt END) AS OldestQueuedAt,
    DATEDIFF(SECOND, MIN(CASE WHEN j.Status = 'queued' THEN j.CreatedAt END), SYSUTCDATETIME()) AS OldestQueuedSeconds
FROM dbo.ProcessingJobs AS j
WHERE j.Status IN ('queued', 'running', 'failed')
GROUP BY j.ModelName, j.JobType;
GO
{% if engine == "babelfish" %}
-- dropping the view dropped its grants; Babelfish checks the caller's rights on it (no ownership chaining)
GRANT SELECT ON dbo.vw_QueueStatus TO songsdb_ops;
GO
{% endif %}
