/* api.LogAudit - writes one audit row for something the application did (a view, a download, ...).

   @EntityType: song, job, track, transcription, chroma, system.
   @Action: created, updated, deleted, processed, status_changed, claimed, completed, failed,
            cancelled, retried, cleaned_up, viewed, downloaded.
   Returns: Id, RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Timestamp
   Errors: 50001 @EntityType or @Action missing; 50002 text too long; 50003 unknown @EntityType
           or @Action; 50004 @Details not a JSON object.
   Example: EXEC api.LogAudit @EntityType = 'song', @EntityId = N'...', @Action = 'viewed'; */
IF OBJECT_ID(N'api.LogAudit', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.LogAudit AS RETURN 0;');
GO
ALTER PROCEDURE api.LogAudit
    @EntityType nvarchar(4000),
    @EntityId nvarchar(4000),
    @Action nvarchar(4000),
    @RequestId nvarchar(4000) = NULL,
    @UserId nvarchar(4000) = NULL,
    @IpAddress nvarchar(4000) = NULL,
    @UserAgent nvarchar(4000) = NULL,
    @Details nvarchar(max) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckOneOf
        @Name = N'@EntityType', @Value = @EntityType,
        @Allowed = N'song,job,track,transcription,chroma,system', @Required = 1;
    EXEC dbo.CheckText @Name = N'@EntityId', @Value = @EntityId, @MaxLength = 100;
    EXEC dbo.CheckOneOf
        @Name = N'@Action', @Value = @Action,
        @Allowed = N'created,updated,deleted,processed,status_changed,claimed,completed,failed,cancelled,retried,cleaned_up,viewed,downloaded',
        @Required = 1;
    EXEC dbo.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC dbo.CheckText @Name = N'@UserId', @Value = @UserId, @MaxLength = 100;
    EXEC dbo.CheckText @Name = N'@IpAddress', @Value = @IpAddress, @MaxLength = 45;
    EXEC dbo.CheckText @Name = N'@UserAgent', @Value = @UserAgent, @MaxLength = 500;
    EXEC dbo.CheckJson @Name = N'@Details', @Value = @Details, @Shape = 'object';

    DECLARE @EntityTypeValue varchar(20) = LOWER(@EntityType);
    DECLARE @ActionValue varchar(20) = LOWER(@Action);
    DECLARE @AuditId bigint;
    EXEC dbo.WriteAudit
        @RequestId = @RequestId, @EntityType = @EntityTypeValue, @EntityId = @EntityId,
        @Action = @ActionValue, @Details = @Details, @UserId = @UserId,
        @IpAddress = @IpAddress, @UserAgent = @UserAgent, @AuditId = @AuditId OUTPUT;

    EXEC dbo.ReturnAudit @AuditId = @AuditId;
END;
GO
