/* 0006 - leases with fencing for the work queue.

   A claim sets WorkerId, a fresh ClaimToken and LeaseExpiresAt; heartbeats extend
   the lease; completing or failing a job requires the current ClaimToken, so a
   worker whose lease expired and whose job was claimed again is refused. A
   running job whose lease expired is claimed again by the next claim (no
   separate sweeper); IX_ProcessingJobs_Running_LeaseExpiresAt finds those. */
-- one column per statement: Babelfish 4.2 rejects a list after ADD
ALTER TABLE dbo.ProcessingJobs ADD WorkerId nvarchar(100) NULL;
GO
ALTER TABLE dbo.ProcessingJobs ADD ClaimToken uniqueidentifier NULL;
GO
ALTER TABLE dbo.ProcessingJobs ADD LeaseExpiresAt datetime2(3) NULL;
GO
CREATE INDEX IX_ProcessingJobs_Running_LeaseExpiresAt ON dbo.ProcessingJobs (LeaseExpiresAt)
    WHERE Status = 'running';
GO
