/* api.GetAuditTrail - audit rows of one request (X-Request-ID), or of one entity, oldest first.

   Give @RequestId, or @EntityType with @EntityId (or all three). @Limit 1 to 1000.
   Returns: Id, RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Timestamp
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
    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC dbo.CheckOneOf
        @Name = N'@EntityType', @Value = @EntityType, @Allowed = N'song,job,track,transcription,chroma,system';
    EXEC dbo.CheckText @Name = N'@EntityId', @Value = @EntityId, @MaxLength = 100;
    EXEC dbo.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @EntityTypeValue varchar(20) = LOWER(@EntityType);
    EXEC dbo.ReturnAudit
        @RequestId = @RequestId, @EntityType = @EntityTypeValue, @EntityId = @EntityId, @Limit = @Limit;
END;
GO
