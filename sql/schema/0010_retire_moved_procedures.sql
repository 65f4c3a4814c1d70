/* 0010 - retire the procedures that moved to their duty schemas (0008).

   Interface procedures moved from api to worker (the queue and the results a worker writes)
   and to ops (cleanup, summaries, queue status, retries); internal helpers moved from dbo to
   core, where no role holds EXECUTE on SQL Server. dbo.EnsureApplicationLogin is local
   tooling (`songsdb up`), not part of a deployment. The new objects are created by their
   repeatable scripts, which run after every versioned one. */
DROP PROCEDURE IF EXISTS api.ClaimNextJob;
GO
DROP PROCEDURE IF EXISTS api.Heartbeat;
GO
DROP PROCEDURE IF EXISTS api.CompleteJob;
GO
DROP PROCEDURE IF EXISTS api.FailJob;
GO
DROP PROCEDURE IF EXISTS api.AddSeparatedTracks;
GO
DROP PROCEDURE IF EXISTS api.AddTranscription;
GO
DROP PROCEDURE IF EXISTS api.AddChromaAnalysis;
GO
DROP PROCEDURE IF EXISTS api.CleanupOldData;
GO
DROP PROCEDURE IF EXISTS api.GetJobSummary;
GO
DROP PROCEDURE IF EXISTS api.GetQueueStatus;
GO
DROP PROCEDURE IF EXISTS api.RetryJob;
GO
DROP PROCEDURE IF EXISTS dbo.CheckJobFor;
GO
DROP PROCEDURE IF EXISTS dbo.CheckJson;
GO
DROP PROCEDURE IF EXISTS dbo.CheckLease;
GO
DROP PROCEDURE IF EXISTS dbo.CheckNumber;
GO
DROP PROCEDURE IF EXISTS dbo.CheckOneOf;
GO
DROP PROCEDURE IF EXISTS dbo.CheckSong;
GO
DROP PROCEDURE IF EXISTS dbo.CheckText;
GO
DROP PROCEDURE IF EXISTS dbo.InsertChromaAnalysis;
GO
DROP PROCEDURE IF EXISTS dbo.InsertSeparatedTracks;
GO
DROP PROCEDURE IF EXISTS dbo.InsertTranscription;
GO
DROP PROCEDURE IF EXISTS dbo.ReturnAudit;
GO
DROP PROCEDURE IF EXISTS dbo.ReturnJob;
GO
DROP PROCEDURE IF EXISTS dbo.ReturnResults;
GO
DROP PROCEDURE IF EXISTS dbo.ReturnSong;
GO
DROP PROCEDURE IF EXISTS dbo.WriteAudit;
GO
DROP PROCEDURE IF EXISTS dbo.EnsureApplicationLogin;
GO
