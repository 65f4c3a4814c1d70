/* 0011 - who holds a running job, song ids that cannot be guessed, one index per access path.

   1. ProcessingJobs.HeldBy: 'worker' when a worker's claim holds the running job, 'web' when the
      web service took it to run itself (api.UpdateJobStatus to 'running'); NULL unless running.
      Either way the job has a lease: when it expires, the next claim takes the job back, so a job
      whose runner died is never running forever. Jobs that 0006-era code left running without a
      lease are given an expired one here. Only the holder's claim token (or, for 'web',
      the web role) may move a held job; anyone may cancel it.

   2. Song ids are handed to web clients, and NEWSEQUENTIALID() values are predictable from one
      another. New songs get NEWID(). We keep Id as the clustered key rather than adding a second,
      random public id: songs arrive at upload rate (people, not machines), so the page splits of a
      random clustered key cost nothing measurable, while two ids per song would put the wrong one
      in some API sooner or later. ProcessingJobs already pairs a bigint clustered key with a
      random public JobId. Existing ids stay as they are.

   3. Indexes, each serving one access path of the procedures, in the order it returns rows
      (the clustered key is named explicitly, so the order is the same on every engine):
        songs newest first .................. IX_Songs_UploadedAt (UploadedAt, Id)
        songs by status, newest first ....... IX_Songs_Status_UploadedAt (existing) + Id
        songs by artist, newest first ....... IX_Songs_Artist_UploadedAt
        cleanup: finished songs by age ...... IX_Songs_Status_LastModified
        the claim: queued jobs of a type, in IX_ProcessingJobs_Claim (filtered: Status = 'queued', keyed
          claim order ...................... JobType, Priority DESC, Id: one TOP (1) seek per job type)
        jobs newest first ................... IX_ProcessingJobs_CreatedAt
        jobs by status, newest first ........ IX_ProcessingJobs_Status_CreatedAt
        jobs of a song, newest first ........ IX_ProcessingJobs_SongId_CreatedAt (also the FK's index)
        audit trail of a request ............ IX_AuditLog_RequestId_Id (not filtered: a filtered index
                                              is not matched by every engine for a parameter)
      Superseded: IX_ProcessingJobs_Status_Priority (the claim's sort over every claimable row),
      IX_ProcessingJobs_SongId, IX_Songs_Artist, IX_AuditLog_RequestId. */
ALTER TABLE dbo.ProcessingJobs ADD HeldBy varchar(6) NULL;
GO
-- jobs already running: a worker's claim (it has a token), or a job moved to running by hand,
-- which had no lease at all; give that one a lease that has expired, so the next claim takes it
UPDATE dbo.ProcessingJobs
SET
    HeldBy = CASE WHEN ClaimToken IS NULL THEN 'web' ELSE 'worker' END,
    LeaseExpiresAt = COALESCE(LeaseExpiresAt, SYSUTCDATETIME())
WHERE Status = 'running';
GO
ALTER TABLE dbo.ProcessingJobs ADD CONSTRAINT CK_ProcessingJobs_HeldBy CHECK (
    (Status = 'running' AND HeldBy IN ('worker', 'web')) OR (Status <> 'running' AND HeldBy IS NULL)
);
GO
{% if engine == "sqlserver" %}
ALTER TABLE dbo.Songs DROP CONSTRAINT DF_Songs_Id;
GO
{% endif %}
-- Babelfish keeps a default as a column property, not a named constraint: ADD ... FOR replaces it there
ALTER TABLE dbo.Songs ADD CONSTRAINT DF_Songs_Id DEFAULT (NEWID()) FOR Id;
GO
DROP INDEX IX_Songs_Status_UploadedAt ON dbo.Songs;
GO
CREATE INDEX IX_Songs_Status_UploadedAt ON dbo.Songs (Status, UploadedAt, Id);
GO
CREATE INDEX IX_Songs_UploadedAt ON dbo.Songs (UploadedAt, Id);
GO
CREATE INDEX IX_Songs_Artist_UploadedAt ON dbo.Songs (Artist, UploadedAt, Id);
GO
DROP INDEX IX_Songs_Artist ON dbo.Songs;
GO
CREATE INDEX IX_Songs_Status_LastModified ON dbo.Songs (Status, LastModified, Id);
GO
CREATE INDEX IX_ProcessingJobs_Claim ON dbo.ProcessingJobs (JobType, Priority DESC, Id)
    INCLUDE (ModelName, AvailableAt)
    WHERE Status = 'queued';
GO
DROP INDEX IX_ProcessingJobs_Status_Priority ON dbo.ProcessingJobs;
GO
CREATE INDEX IX_ProcessingJobs_CreatedAt ON dbo.ProcessingJobs (CreatedAt, Id);
GO
CREATE INDEX IX_ProcessingJobs_Status_CreatedAt ON dbo.ProcessingJobs (Status, CreatedAt, Id);
GO
CREATE INDEX IX_ProcessingJobs_SongId_CreatedAt ON dbo.ProcessingJobs (SongId, CreatedAt, Id);
GO
DROP INDEX IX_ProcessingJobs_SongId ON dbo.ProcessingJobs;
GO
CREATE INDEX IX_AuditLog_RequestId_Id ON dbo.AuditLog (RequestId, Id);
GO
DROP INDEX IX_AuditLog_RequestId ON dbo.AuditLog;
GO
