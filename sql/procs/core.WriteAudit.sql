/* core.WriteAudit - inserts one dbo.AuditLog row; called inside the caller's transaction.

   Every mutating api procedure calls it in the same transaction as its change,
   so there is no change without its audit row; @AuditId returns the new row's Id. Validation of user-supplied
   values (api.LogAudit) happens in the caller.
   Each row records who wrote it and where from (0015): RecordedBy is ORIGINAL_LOGIN(), the login
   that opened the session (the service's own login, whatever @UserId says), given by the column's
   default (0052), never by this INSERT: no role may insert the column (0054, Babelfish); Source is the
   schema-qualified name of the procedure whose @@PROCID the caller passes as @ProcId (here @@PROCID
   would name core.WriteAudit itself), e.g. 'worker.Heartbeat' ('worker.heartbeat' on Babelfish,
   whose catalog keeps names in lower case). Rows are only ever inserted: the audit trail is
   append-only (core.RecordCleanupStep writes a new row per cleanup step instead of updating one).
   Example: EXEC core.WriteAudit @RequestId = @RequestId, @EntityType = 'song',
                @EntityId = @SongIdText, @Action = 'created', @Details = @Details, @ProcId = @@PROCID; */
IF OBJECT_ID(N'core.WriteAudit', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.WriteAudit AS RETURN 0;');
GO
ALTER PROCEDURE core.WriteAudit
    @RequestId nvarchar(100),
    @EntityType varchar(20),
    @EntityId nvarchar(100),
    @Action varchar(20),
    @Details nvarchar(max) = NULL,
    @UserId nvarchar(100) = NULL,
    @IpAddress varchar(45) = NULL,
    @UserAgent nvarchar(500) = NULL,
    @AuditId bigint = NULL OUTPUT,
    @ProcId int = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    DECLARE @Source nvarchar(257) = CASE
        WHEN @ProcId IS NOT NULL THEN CONCAT(OBJECT_SCHEMA_NAME(@ProcId), N'.', OBJECT_NAME(@ProcId))
    END;

    INSERT INTO dbo.AuditLog (
        RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source
    )
    VALUES (
        @RequestId, @EntityType, @EntityId, @Action, @UserId, @IpAddress, @UserAgent, @Details, @Source
    );

    SET @AuditId = CAST(SCOPE_IDENTITY() AS bigint);
END;
GO
