/* core.CheckJson - validation helper: THROWs unless @Value is a JSON @Shape ('object' or 'array').

   NULL passes unless @Required = 1. The shape is the first character after JSON's insignificant
   whitespace (RFC 8259: space, tab, line feed, carriage return), so a document that starts with a
   newline or a tab (pretty-printed, or built by a template) is accepted like one that does not.
   LTRIM alone trims only spaces (before SQL Server 2022's LTRIM(x, characters), which Babelfish
   does not have); TRANSLATE (SQL Server 2017+, Babelfish) turns the other three into spaces first.
   Errors: 50001 missing while @Required = 1; 50004 not valid JSON of that shape.
   Example: EXEC core.CheckJson @Name = N'@Metadata', @Value = @Metadata, @Shape = 'object'; */
IF OBJECT_ID(N'core.CheckJson', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CheckJson AS RETURN 0;');
GO
ALTER PROCEDURE core.CheckJson
    @Name nvarchar(128),
    @Value nvarchar(max),
    @Shape varchar(10),
    @Required bit = 0
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);
    DECLARE @Whitespace nvarchar(3) = CONCAT(NCHAR(9), NCHAR(10), NCHAR(13));  -- tab, line feed, carriage return
    DECLARE @First nchar(1) = LEFT(LTRIM(TRANSLATE(@Value, @Whitespace, N'   ')), 1);

    IF @Required = 1 AND @Value IS NULL
    BEGIN
        SET @Message = CONCAT(N'The parameter ', @Name, N' is required. Supported values are a JSON ', @Shape, N'.');
        THROW 50001, @Message, 1;
    END;
    IF
        @Value IS NOT NULL
        AND (
            ISJSON(@Value) <> 1
            OR (@Shape = 'object' AND @First <> N'{')
            OR (@Shape = 'array' AND @First <> N'[')
        )
    BEGIN
        SET @Message = CONCAT(
            N'The value for the parameter ', @Name, N' is not valid JSON. Supported values are a JSON ', @Shape, N' or NULL.'
        );
        THROW 50004, @Message, 1;
    END;
END;
GO
