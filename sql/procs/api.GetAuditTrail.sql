/* api.GetAuditTrail - audit rows of one request (X-Request-ID), or of one entity, oldest first.

   Give @RequestId, or @EntityType with @EntityId (or all three). @Limit 1 to 1000.
   One statement per access path: by request, a seek on IX_AuditLog_RequestId_Id (the entity, when
   also given, is a residual filter); by entity, a seek on IX_AuditLog_EntityType_EntityId. Both
   indexes end with Id, so the rows come oldest first with no sort; the rest of each row is a key
   lookup, at most @Limit of them.
   Returns: Id, RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Timestamp,
            RecordedBy, Source
   (RecordedBy and Source: the login and the procedure that wrote the row; NULL on rows from before 0015)
   Errors: 50001 neither filter given; 50002 text too long or @Limit out of range; 50003 @EntityType unknown.
   Example: EXEC api.GetAuditTrail @RequestId = N'req-1'; */
IF OBJECT_ID(N'api.GetAuditTrail', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetAuditTrail AS RETURN 0;');
GO
ALTER PROCEDURE api.GetAuditTrail
    @RequestId nvarchar(4000) = NULL,
    @EntityType nvarchar(4000) = NULL,
    @EntityId nvarchar(4000) = NULL,
    @Limit int = 1000
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    IF @RequestId IS NULL AND (@EntityType IS NULL OR @EntityId IS NULL)
        THROW 50001, N'The parameter @RequestId, or @EntityType with @EntityId, is required. Supported values are a request id, or an entity type and id.', 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC core.CheckOneOf
        @Name = N'@EntityType', @Value = @EntityType, @Allowed = N'song,job,track,transcription,chroma,system';
    EXEC core.CheckText @Name = N'@EntityId', @Value = @EntityId, @MaxLength = 100;
    EXEC core.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @Request nvarchar(100) = @RequestId;
    DECLARE @Type varchar(20) = LOWER(@EntityType);
    DECLARE @Entity nvarchar(100) = @EntityId;

    IF @Request IS NOT NULL
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
            a.[Timestamp],
            a.RecordedBy,
            a.Source
        FROM dbo.AuditLog AS a
        WHERE
            a.RequestId = @Request
            AND (@Type IS NULL OR a.EntityType = @Type)
            AND (@Entity IS NULL OR a.EntityId = @Entity)
        ORDER BY a.Id;
    ELSE
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
            a.[Timestamp],
            a.RecordedBy,
            a.Source
        FROM dbo.AuditLog AS a
        WHERE a.EntityType = @Type AND a.EntityId = @Entity
        ORDER BY a.Id;
END;
GO
