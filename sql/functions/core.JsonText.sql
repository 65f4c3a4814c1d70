/* core.JsonText - a string value read from JSON (OPENJSON, OPENJSON ... WITH, JSON_VALUE), exactly as
   the caller wrote it.

   SQL Server decodes a JSON string's escapes itself, so there this returns @Value unchanged.
   Babelfish 4.2 does not: it returns the string in PostgreSQL's escaped form (\" \\ \b \f \n \r \t,
   and \u00XX for the other control characters; \/ and every other \uXXXX already decoded, non-ASCII
   characters as themselves), and OPENJSON's value column also drops the closing quote of a string
   that ends in \" (leaving a lone backslash at the end). In that form every backslash starts an
   escape and no control character appears, so the decoding below is exact:
     1. each \\ (read left to right) becomes NCHAR(1), which the escaped form never holds;
     2. a lone backslash left at the end is the \" whose quote OPENJSON dropped;
     3. the one-character escapes become their characters;
     4. each \u00XX becomes NCHAR(2) and its two digits, NCHAR(1) a backslash again, and each NCHAR(2)
        mark, left to right, the character its digits name.
   A value with no backslash (nearly every one) returns after one CHARINDEX.
   Every text column that reaches a table through JSON goes through this function, so a caller's
   text is stored byte-exact on both engines.
   Example: SELECT core.JsonText(JSON_VALUE(@Json, '$.title')); */
{#- Babelfish 4.2 has no ALTER FUNCTION: the function is dropped and created in the script's one
    transaction (PostgreSQL's DDL is transactional, so a caller sees the old or the new one). #}
{%- if engine == "babelfish" %}
DROP FUNCTION IF EXISTS core.JsonText;
GO
CREATE FUNCTION core.JsonText(@Value nvarchar(max))
RETURNS nvarchar(max)
AS
BEGIN
    IF @Value IS NULL OR CHARINDEX(N'\', @Value) = 0
        RETURN @Value;
    DECLARE @Text nvarchar(max) = REPLACE(@Value COLLATE Latin1_General_BIN2, N'\\', NCHAR(1));
    IF RIGHT(@Text, 1) = N'\'
        SET @Text = @Text + N'"';
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\"', N'"');
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\/', N'/');
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\b', NCHAR(8));
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\f', NCHAR(12));
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\n', NCHAR(10));
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\r', NCHAR(13));
    SET @Text = REPLACE(@Text COLLATE Latin1_General_BIN2, N'\t', NCHAR(9));
    -- \u00XX (XX hexadecimal, lower case): mark each with NCHAR(2), put the backslashes back, then
    -- decode the marks left to right (a character decoded from \u0002 lies behind the search)
    SET @Text = REPLACE(REPLACE(@Text COLLATE Latin1_General_BIN2, N'\u00', NCHAR(2)), NCHAR(1), N'\');
    DECLARE @At int = CHARINDEX(NCHAR(2), @Text COLLATE Latin1_General_BIN2);
    WHILE @At > 0
    BEGIN
        SET @Text = STUFF(
            @Text, @At, 3,
            NCHAR(
                16 * (CHARINDEX(SUBSTRING(@Text, @At + 1, 1), N'0123456789abcdef' COLLATE Latin1_General_BIN2) - 1)
                + CHARINDEX(SUBSTRING(@Text, @At + 2, 1), N'0123456789abcdef' COLLATE Latin1_General_BIN2) - 1
            )
        );
        SET @At = CHARINDEX(NCHAR(2), @Text COLLATE Latin1_General_BIN2, @At + 1);
    END;
    RETURN @Text;
END;
{%- else %}
CREATE OR ALTER FUNCTION core.JsonText(@Value nvarchar(max))
RETURNS nvarchar(max)
WITH SCHEMABINDING
AS
BEGIN
    RETURN @Value;
END;
{%- endif %}
GO
