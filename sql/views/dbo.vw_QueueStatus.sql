/* dbo.vw_QueueStatus - the work queue for operators, one row per model and job type with open work.

   Columns: ModelName, JobType, Queued, Running, Failed, ExpiredLeases (running jobs whose
   worker stopped heartbeating; the next claim takes them back), OldestQueuedAt and
   OldestQueuedSeconds (the age of the oldest queued job; NULL when none is queued).
   Re-runnable on every target engine, keeping the rights granted on it: SQL Server alters the view in
   place (ALTER VIEW "does not change permissions", Microsoft's ALTER VIEW reference: a grant a DBA
   added survives a re-deploy);
   Babelfish 4.2 has neither CREATE OR ALTER nor ALTER VIEW, so there it is dropped and created, which
   drops its grants. The grant below is made again on every deploy, on every engine: songsdb_ops
   selects from it directly (the runbooks); ops.* reads it through ownership chaining on SQL Server. */
{% if engine == "sqlserver" %}
CREATE OR ALTER VIEW dbo.vw_QueueStatus
{% else %}
DROP VIEW IF EXISTS dbo.vw_QueueStatus;
GO
CREATE VIEW dbo.vw_QueueStatus
{% endif %}
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
GRANT SELECT ON dbo.vw_QueueStatus TO songsdb_ops;
GO
