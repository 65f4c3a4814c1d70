/* 0024 - dbo.JobAttempts: one row per worker claim, so a claim token is remembered after its job moves on.

   A worker's report (complete_job, fail_job, heartbeat, add_*) that reached the server but whose
   answer was lost is repeated by the worker with the same claim token (issue #21). When the job
   has left 'running' under that token (completed, or failed and requeued, and perhaps claimed by
   another worker since), dbo.ProcessingJobs no longer holds the token; this table does. Each claim
   (worker.ClaimNextJob, worker.ClaimNextJobs) inserts a row with its token; the attempt's end is
   written by the procedure that ends it, in the same transaction: 'completed' (worker.CompleteJob),
   'requeued' or 'failed' (worker.FailJob), 'expired' (its lease expired and a claim or
   ops.SweepExpiredLeases took the job back). A repeat whose attempt ended with the worker's own
   report is answered as the first call was and writes nothing; a token whose attempt expired, or
   that no attempt has, is still LeaseLost (50203). The operations console reads the same rows as
   the job's attempts (who, when, how it ended).

   A new table: created and indexed in this script's one transaction (no existing table is
   changed; the foreign key only reads UQ_ProcessingJobs_JobId). Rows leave with their job
   (api.DeleteSong, dbo.sp_CleanupOldData delete them first). Jobs a worker holds while this is
   deployed get their attempt row here, so their reports are remembered too. Jobs the web service
   runs itself (api.UpdateJobStatus to 'running') are not worker attempts and have no row. */
CREATE TABLE dbo.JobAttempts
(
    Id bigint IDENTITY (1, 1) NOT NULL,
    JobId uniqueidentifier NOT NULL,
    Attempt int NOT NULL,
    ClaimToken uniqueidentifier NOT NULL,
    WorkerId nvarchar(100) NOT NULL,
    ClaimedAt datetime2(3) NOT NULL
        CONSTRAINT DF_JobAttempts_ClaimedAt DEFAULT (SYSUTCDATETIME()),
    EndedAt datetime2(3) NULL,
    Outcome varchar(20) NULL,
    CONSTRAINT PK_JobAttempts PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT UQ_JobAttempts_ClaimToken UNIQUE (ClaimToken),
    CONSTRAINT FK_JobAttempts_ProcessingJobs FOREIGN KEY (JobId) REFERENCES dbo.ProcessingJobs (JobId),
    CONSTRAINT CK_JobAttempts_Outcome CHECK (Outcome IN ('completed', 'requeued', 'failed', 'expired')),
    CONSTRAINT CK_JobAttempts_Ended CHECK ((Outcome IS NULL AND EndedAt IS NULL) OR (Outcome IS NOT NULL AND EndedAt IS NOT NULL))
);
GO
CREATE INDEX IX_JobAttempts_JobId ON dbo.JobAttempts (JobId, Attempt);
GO
INSERT INTO dbo.JobAttempts (JobId, Attempt, ClaimToken, WorkerId, ClaimedAt)
SELECT
    j.JobId,
    j.Attempts,
    j.ClaimToken,
    COALESCE(j.WorkerId, N'?'),
    COALESCE(j.StartedAt, j.UpdatedAt)
FROM dbo.ProcessingJobs AS j
WHERE j.Status = 'running' AND j.HeldBy = 'worker' AND j.ClaimToken IS NOT NULL;
GO
{% if engine == "babelfish" %}
-- no ownership chaining (0009): each role gets the rights on the new table its procedures use
GRANT SELECT, INSERT, UPDATE ON dbo.JobAttempts TO songsdb_worker;
GO
GRANT SELECT, UPDATE, DELETE ON dbo.JobAttempts TO songsdb_ops;
GO
GRANT SELECT, DELETE ON dbo.JobAttempts TO songsdb_web;
GO
{% endif %}
