/* dbo.CheckText - validation helper: THROWs unless @Value is acceptable text for parameter @Name.

   Called by api procedures before they touch data (same owner, so the
   application role needs no right on it). @Value is nvarchar(max) so that
   nothing is silently truncated before the length is checked.
   Errors: 50001 @Value missing while @Required = 1; 50002 longer than @MaxLength.
   Example: EXEC dbo.CheckText @Name = N'@FileId', @Value = @FileId, @MaxLength = 100, @Required = 1; */
IF OBJECT_ID(N'dbo.CheckText', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.CheckText AS RETURN 0;');
GO
ALTER PROCEDURE dbo.CheckText
    @Name nvarchar(128),
    @Value nvarchar(max),
    @MaxLength int,
    @Required bit = 0
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);

    IF @Required = 1 AND (@Value IS NULL OR LEN(@Value) = 0)
    BEGIN
        SET @Message = CONCAT(
            N'The parameter ', @Name, N' is required. Supported values are text of 1 to ', @MaxLength, N' characters.'
        );
        THROW 50001, @Message, 1;
    END;
    IF LEN(@Value) > @MaxLength
    BEGIN
        SET @Message = CONCAT(
            N'The value for the parameter ', @Name, N' is too long (', LEN(@Value),
            N' characters). Supported values are text of up to ', @MaxLength, N' characters.'
        );
        THROW 50002, @Message, 1;
    END;
END;
GO
