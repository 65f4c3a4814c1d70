/* core.WriteAudit - inserts one dbo.AuditLog row; called inside the caller's transaction.

   Every mutating api procedure calls it in the same transaction as its change,
   so there is no change without its audit row; @AuditId returns the new row's Id. Validation of user-supplied
   values (api.LogAudit) happens in the caller.
   Example: EXEC core.WriteAudit @RequestId = @RequestId, @EntityType = 'song',
                @EntityId = @SongIdText, @Action = 'created', @Details = @Details; */
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
    @AuditId bigint = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details)
    VALUES (@RequestId, @EntityType, @EntityId, @Action, @UserId, @IpAddress, @UserAgent, @Details);

    SET @AuditId = CAST(SCOPE_IDENTITY() AS bigint);
END;
GO
