/* api.ListJobs - a page of processing jobs, newest first, by song and/or status.

   Returns: JobId, SongId, ModelName, JobType, Status, Progress, Message, RequestId, Priority,
            Attempts, MaxAttempts, CreatedAt, AvailableAt, UpdatedAt, StartedAt, CompletedAt,
            ErrorMessage, ErrorStack, ResultMetadata, WorkerId, ClaimToken, LeaseExpiresAt
   Errors: 50002 @Offset or @Limit out of range; 50003 @Status unknown.
   Example: EXEC api.ListJobs @SongId = @Id, @Status = 'running'; */
IF OBJECT_ID(N'api.ListJobs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.ListJobs AS RETURN 0;');
GO
ALTER PROCEDURE api.ListJobs
    @SongId uniqueidentifier = NULL,
    @Status nvarchar(4000) = NULL,
    @Offset int = 0,
    @Limit int = 100
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckOneOf
        @Name = N'@Status', @Value = @Status, @Allowed = N'queued,running,completed,failed,cancelled';
    EXEC dbo.CheckNumber
        @Name = N'@Offset', @Value = @Offset, @Min = 0, @Max = 2147483647,
        @Allowed = N'whole numbers from 0', @Required = 1;
    EXEC dbo.CheckNumber
        @Name = N'@Limit', @Value = @Limit, @Min = 1, @Max = 1000,
        @Allowed = N'whole numbers from 1 to 1000', @Required = 1;

    DECLARE @StatusValue varchar(20) = LOWER(@Status);
    EXEC dbo.ReturnJob @List = 1, @SongId = @SongId, @Status = @StatusValue, @Offset = @Offset, @Limit = @Limit;
END;
GO
