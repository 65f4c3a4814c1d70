/* core.CheckText - validation helper: THROWs unless @Value is acceptable text for parameter @Name.

   @Value is nvarchar(max) so that nothing is silently truncated before the length is checked, and
   the length is the one the column counts (core.TextLength: UTF-16 units, trailing spaces included).
   @Ascii = 1 for text bound for a varchar column that holds codes (a format, an IP address):
   characters the column's code page cannot hold would be silently replaced by '?' (by SQL Server
   on the way in, by Babelfish on the way out), so anything but printable ASCII is refused. The
   range is matched under a binary collation, so it means code points 32 to 126 on every engine.
   Errors: 50001 @Value missing while @Required = 1; 50002 longer than @MaxLength, or not ASCII
           while @Ascii = 1.
   Example: EXEC core.CheckText @Name = N'@FileId', @Value = @FileId, @MaxLength = 100, @Required = 1; */
IF OBJECT_ID(N'core.CheckText', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CheckText AS RETURN 0;');
GO
ALTER PROCEDURE core.CheckText
    @Name nvarchar(128),
    @Value nvarchar(max),
    @MaxLength int,
    @Required bit = 0,
    @Ascii bit = 0
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
    DECLARE @Length bigint = core.TextLength(@Value);  -- as nvarchar(n) counts: trailing spaces, astral characters
    IF @Length > @MaxLength
    BEGIN
        SET @Message = CONCAT(
            N'The value for the parameter ', @Name, N' is too long (', @Length,
            N' characters). Supported values are text of up to ', @MaxLength, N' characters.'
        );
        THROW 50002, @Message, 1;
    END;
    IF
        @Ascii = 1
        AND PATINDEX(N'%[^ -~]%', @Value COLLATE Latin1_General_BIN2) > 0  -- a character outside printable ASCII
    BEGIN
        SET @Message = CONCAT(
            N'The value for the parameter ', @Name, N' is not supported: it has characters outside ASCII.',
            N' Supported values are ASCII text of up to ', @MaxLength, N' characters.'
        );
        THROW 50002, @Message, 1;
    END;
END;
GO
