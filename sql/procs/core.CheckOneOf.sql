/* core.CheckOneOf - validation helper: THROWs unless @Value is one of the comma-separated @Allowed.

   The comparison follows the database collation (case-insensitive by default);
   callers store LOWER(@Value), the one canonical case. A value holding a comma is refused
   (it would otherwise match two adjacent allowed values joined by a comma).
   Errors: 50001 @Value missing while @Required = 1; 50003 not an allowed value.
   Example: EXEC core.CheckOneOf @Name = N'@JobType', @Value = @JobType,
                @Allowed = N'separation,transcription,chroma', @Required = 1; */
IF OBJECT_ID(N'core.CheckOneOf', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CheckOneOf AS RETURN 0;');
GO
ALTER PROCEDURE core.CheckOneOf
    @Name nvarchar(128),
    @Value nvarchar(max),
    @Allowed nvarchar(1000),
    @Required bit = 0
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);
    DECLARE @List nvarchar(1200) = REPLACE(@Allowed, N',', N', ');

    IF @Required = 1 AND (@Value IS NULL OR LEN(@Value) = 0)
    BEGIN
        SET @Message = CONCAT(N'The parameter ', @Name, N' is required. Supported values are ', @List, N'.');
        THROW 50001, @Message, 1;
    END;
    IF
        @Value IS NOT NULL
        AND (
            LEN(@Value) > 100
            OR CHARINDEX(N',', @Value) > 0
            OR CHARINDEX(CONCAT(N',', @Value, N','), CONCAT(N',', @Allowed, N',')) = 0
        )
    BEGIN
        SET @Message = CONCAT(
            N'The value for the parameter ', @Name, N' is not supported. Supported values are ', @List, N'.'
        );
        THROW 50003, @Message, 1;
    END;
END;
GO
