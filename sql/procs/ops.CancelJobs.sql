/* ops.CancelJobs - cancels a selection of jobs (the console's "Cancel selected"): one call, one transaction.

   @JobIds is a JSON array of 1 to 500 job ids. Each job that is queued, running or failed is
   cancelled as ops.CancelJob does (a running one loses its holder, token and lease, and its worker
   attempt ends 'cancelled') and audited
   ('cancelled', with @RequestId, the operator in UserId, and from which status); completed and
   cancelled jobs are final and reported. One UPDATE by JobId that repeats the condition, so a job
   that finished meanwhile is reported, never changed.
   Returns: JobId, Outcome
   (one row per distinct id, in the order given; Outcome is cancelled, final or not_found)
   Errors: 50001 @JobIds missing; 50002 @RequestId or @UserId too long; 50004 @JobIds is not a JSON
           array of 1 to 500 job ids.
   Example: EXEC ops.CancelJobs @JobIds = N'["6F9619FF-8B86-D011-B42D-00C04FC964FF"]', @UserId = N'alice'; */
IF OBJECT_ID(N'ops.CancelJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE ops.CancelJobs AS RETURN 0;');
GO
ALTER PROCEDURE ops.CancelJobs
    @JobIds nvarchar(max),
    @RequestId nvarchar(4000) = NULL,
    @UserId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckJson @Name = N'@JobIds', @Value = @JobIds, @Shape = 'array', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@UserId', @Value = @UserId, @MaxLength = 100;

    DECLARE @Given TABLE (Ordinal int NOT NULL PRIMARY KEY, JobId uniqueidentifier NULL);
    INSERT INTO @Given (Ordinal, JobId)
    SELECT
        CAST(o.[key] AS int),
        CASE WHEN o.[type] = 1 THEN TRY_CAST(o.[value] AS uniqueidentifier) END
    FROM OPENJSON(@JobIds) AS o;
    DECLARE @Count int = (SELECT COUNT(*) FROM @Given);
    IF @Count < 1 OR @Count > 500 OR EXISTS (SELECT 1 FROM @Given WHERE JobId IS NULL)
        THROW 50004, N'The value for the parameter @JobIds is not supported. Supported values are a JSON array of 1 to 500 job ids (strings).', 1;

    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @Old TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY, Status varchar(20) NOT NULL, HeldBy varchar(6) NULL);
    DECLARE @Done TABLE (JobId uniqueidentifier NOT NULL PRIMARY KEY);

    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        -- the statuses they are cancelled from, read first (Babelfish cannot OUTPUT deleted.* here:
        -- "column reference is ambiguous"); the UPDATE repeats them, so a job that moved meanwhile is left alone
        INSERT INTO @Old (JobId, Status, HeldBy)
        SELECT
            j.JobId,
            j.Status,
            j.HeldBy
        FROM dbo.ProcessingJobs AS j WITH (UPDLOCK, ROWLOCK)
        WHERE j.JobId IN (SELECT g.JobId FROM @Given AS g) AND j.Status IN ('queued', 'running', 'failed');

        UPDATE dbo.ProcessingJobs
        SET
            Status = 'cancelled',
            CompletedAt = @Now,
            HeldBy = NULL,
            ClaimToken = NULL,
            LeaseExpiresAt = NULL,
            RequestId = COALESCE(@RequestId, RequestId),
            UpdatedAt = @Now
        OUTPUT inserted.JobId INTO @Done (JobId)
        WHERE
            JobId IN (SELECT o.JobId FROM @Old AS o)
            AND Status IN ('queued', 'running', 'failed')
            AND Status = (SELECT o.Status FROM @Old AS o WHERE o.JobId = dbo.ProcessingJobs.JobId);

        -- the running attempts of the jobs a worker held end with them (0049-0051; the DBA review's m2); where the
        -- previous release's CHECK still refuses 'cancelled' (547: a deploy stopped at a maintenance step, as in
        -- ops.CancelJob's header), only this statement is undone and the attempts stay open, as that release left them
        SET XACT_ABORT OFF;
        BEGIN TRY
            UPDATE dbo.JobAttempts
            SET Outcome = 'cancelled', EndedAt = @Now
            WHERE
                JobId IN (SELECT o.JobId FROM @Old AS o INNER JOIN @Done AS d ON d.JobId = o.JobId WHERE o.Status = 'running')
                AND Outcome IS NULL;
        END TRY
        BEGIN CATCH
            -- only the previous release's CHECK ("CK_JobAttempts_Outcome", quoted in the message on both engines, so not
            -- 0049's CK_JobAttempts_OutcomeValues); anything else is thrown with XACT_ABORT back ON, so that a caller's
            -- transaction is doomed as before and a half-done cancel can never be committed
            IF ERROR_NUMBER() <> 547 OR LOWER(ERROR_MESSAGE()) NOT LIKE N'%"ck[_]jobattempts[_]outcome"%'
            BEGIN
                SET XACT_ABORT ON;
                THROW;
            END;
        END CATCH;
        SET XACT_ABORT ON;

        -- where from, as core.WriteAudit records it (0015); who: RecordedBy's default, ORIGINAL_LOGIN() (0052)
        INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, UserId, Source)
        SELECT
            @RequestId,
            'job',
            CONVERT(nvarchar(36), d.JobId),
            'cancelled',
            (
                SELECT
                    o.Status AS [from],
                    'cancelled' AS [to],
                    o.HeldBy AS heldBy
                FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
            ),
            @UserId,
            CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
        FROM @Done AS d
        INNER JOIN @Old AS o
            ON o.JobId = d.JobId;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    SELECT
        g.JobId,
        CASE
            WHEN d.JobId IS NOT NULL THEN 'cancelled'
            WHEN EXISTS (SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.JobId = g.JobId) THEN 'final'
            ELSE 'not_found'
        END AS Outcome
    FROM (SELECT x.JobId, MIN(x.Ordinal) AS Ordinal FROM @Given AS x GROUP BY x.JobId) AS g
    LEFT JOIN @Done AS d
        ON d.JobId = g.JobId
    ORDER BY g.Ordinal;
END;
GO
