/* dbo.vw_JobSummary - each processing job with its song, status, timings and result counts.

   Columns: JobId, SongId, SongTitle, SongArtist, ModelName, JobType, Status,
   Progress, Message, RequestId, Priority, Attempts, MaxAttempts, CreatedAt,
   StartedAt, CompletedAt, DurationSeconds (NULL until the job has both started
   and finished), ErrorMessage, TrackCount, TranscriptionCount, ChromaCount.
   Times are UTC. Operators' runbooks query this view by name: keep the name.
   Re-runnable on every target engine, keeping the rights granted on it: SQL Server alters the view in
   place (ALTER VIEW "does not change permissions", Microsoft's ALTER VIEW reference: a grant a DBA
   added survives a re-deploy);
   Babelfish 4.2 has neither CREATE OR ALTER nor ALTER VIEW, so there it is dropped and created, which
   drops its grants. The grant below is made again on every deploy, on every engine: songsdb_ops
   selects from it directly (the runbooks); ops.* reads it through ownership chaining on SQL Server. */
{% if engine == "sqlserver" %}
CREATE OR ALTER VIEW dbo.vw_JobSummary
{% else %}
DROP VIEW IF EXISTS dbo.vw_JobSummary;
GO
CREATE VIEW dbo.vw_JobSummary
{% endif %}
AS
SELECT
    j.JobId,
    j.SongId,
    s.Title AS SongTitle,
    s.Artist AS SongArtist,
    j.ModelName,
    j.JobType,
    j.Status,
    j.Progress,
    j.Message,
    j.RequestId,
    j.Priority,
    j.Attempts,
    j.MaxAttempts,
    j.CreatedAt,
    j.StartedAt,
    j.CompletedAt,
    CASE
        WHEN j.StartedAt IS NOT NULL AND j.CompletedAt IS NOT NULL
            THEN DATEDIFF(SECOND, j.StartedAt, j.CompletedAt)
    END AS DurationSeconds,
    j.ErrorMessage,
    (
        SELECT COUNT(*)
        FROM dbo.SeparatedTracks AS t
        WHERE t.JobId = j.JobId
    ) AS TrackCount,
    (
        SELECT COUNT(*)
        FROM dbo.Transcriptions AS tr
        WHERE tr.JobId = j.JobId
    ) AS TranscriptionCount,
    (
        SELECT COUNT(*)
        FROM dbo.ChromaAnalysis AS c
        WHERE c.JobId = j.JobId
    ) AS ChromaCount
FROM dbo.ProcessingJobs AS j
INNER JOIN dbo.Songs AS s
    ON j.SongId = s.Id;
GO
GRANT SELECT ON dbo.vw_JobSummary TO songsdb_ops;
GO
