/* api.LogAudit - writes one audit row for something the web service did (an upload, a view, a download, ...).

   @EntityType: song, job, track, transcription, chroma. Not 'system': those rows are the database's
            own record of what it did (dbo.sp_CleanupOldData's steps), and a caller writing one
            would forge it; refused with 50003 naming @EntityType.
   @Action: one word of 2 to 20 lower-case letters and underscores (e.g. uploaded, viewed,
            downloaded, status_changed); stored lower case.
   @IpAddress: an IPv4 or IPv6 address as text (ASCII, at most 45 characters).
   The row comes back from the INSERT itself (OUTPUT), never by reading the log again. Like every
   audit row it records the login that wrote it (RecordedBy: the column's default, ORIGINAL_LOGIN(),
   0052) and this procedure (Source), whatever @UserId says (0015).
   Returns: Id, RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Timestamp,
            RecordedBy, Source
   Errors: 50001 @EntityType or @Action missing; 50002 text too long, or @IpAddress not ASCII;
           50003 unknown @EntityType (also 'system') or an @Action that is not one snake_case word; 50004 @Details
           not a JSON object.
   Example: EXEC api.LogAudit @EntityType = 'song', @EntityId = N'...', @Action = 'uploaded'; */
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

    EXEC core.CheckOneOf
        @Name = N'@EntityType', @Value = @EntityType,
        @Allowed = N'song,job,track,transcription,chroma', @Required = 1;  -- never 'system' (header)
    EXEC core.CheckText @Name = N'@EntityId', @Value = @EntityId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@Action', @Value = @Action, @MaxLength = 20, @Required = 1;
    IF LEN(@Action) < 2 OR LOWER(@Action) LIKE N'%[^abcdefghijklmnopqrstuvwxyz_]%'
        THROW 50003, N'The value for the parameter @Action is not supported. Supported values are one word of 2 to 20 letters a-z and underscores, e.g. uploaded, viewed, downloaded.', 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@UserId', @Value = @UserId, @MaxLength = 100;
    EXEC core.CheckText @Name = N'@IpAddress', @Value = @IpAddress, @MaxLength = 45, @Ascii = 1;
    EXEC core.CheckText @Name = N'@UserAgent', @Value = @UserAgent, @MaxLength = 500;
    EXEC core.CheckJson @Name = N'@Details', @Value = @Details, @Shape = 'object';

    INSERT INTO dbo.AuditLog (
        RequestId, EntityType, EntityId, Action, UserId, IpAddress, UserAgent, Details, Source
    )
    OUTPUT
        inserted.Id,
        inserted.RequestId,
        inserted.EntityType,
        inserted.EntityId,
        inserted.Action,
        inserted.UserId,
        inserted.IpAddress,
        inserted.UserAgent,
        inserted.Details,
        inserted.[Timestamp],
        inserted.RecordedBy,
        inserted.Source
    VALUES (
        @RequestId, LOWER(@EntityType), @EntityId, LOWER(@Action), @UserId, @IpAddress, @UserAgent, @Details,
        CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
    );
END;
GO
