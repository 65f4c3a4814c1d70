/* 0022 - dbo.ProcessingJobs.JobKey: a caller's key that makes creating a job safe to retry (issue #21).

   api.CreateJob and api.EnqueueJobs take an optional job key (the Flask and FastAPI services pass
   the request id). A second create with the same key for the same song, model and job type returns
   the job the first one made, whatever its status, and writes nothing; the same key for another
   song, model or type is refused with 50205. A key is remembered as long as its job row exists:
   dbo.sp_CleanupOldData removes finished jobs after their retention, and their keys with them
   (graphile-worker's job_key and Oban's unique jobs are the models; README, "Job keys").

   Nullable, no default: a metadata-only change on every engine (no row is rewritten). Compared
   exactly (Latin1_General_BIN2), as the callers generate them: 'req-A' and 'req-a' are two keys
   whatever the database's collation. The unique filtered index that enforces one job per key is
   0023 (an index build, in a script of its own). */
ALTER TABLE dbo.ProcessingJobs ADD JobKey nvarchar(200) COLLATE Latin1_General_BIN2 NULL;
GO
