/* dbo.ReturnAudit - the SELECT of audit rows; one row by @AuditId, or a trail by request or entity.

   Returns: Id, RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Timestamp
   (oldest first, at most @Limit rows).
   Example: EXEC dbo.ReturnAudit @RequestId = N'req-1'; */
IF OBJECT_ID(N'dbo.ReturnAudit', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.ReturnAudit AS RETURN 0;');
GO
ALTER PROCEDURE dbo.ReturnAudit
    @AuditId bigint = NULL,
    @RequestId nvarchar(100) = NULL,
    @EntityType varchar(20) = NULL,
    @EntityId nvarchar(100) = NULL,
    @Limit int = 1000
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    SELECT TOP (@Limit)
        a.Id,
        a.RequestId,
        a.EntityType,
        a.EntityId,
        a.Action,
        a.UserId,
        a.IpAddress,
        a.UserAgent,
        a.Details,
        a.[Timestamp]
    FROM dbo.AuditLog AS a
    WHERE
        (@AuditId IS NULL OR a.Id = @AuditId)
        AND (@RequestId IS NULL OR a.RequestId = @RequestId)
        AND (@EntityType IS NULL OR a.EntityType = @EntityType)
        AND (@EntityId IS NULL OR a.EntityId = @EntityId)
    ORDER BY a.Id;
END;
GO
