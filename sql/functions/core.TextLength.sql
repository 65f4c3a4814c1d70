/* core.TextLength - the length of @Value as an nvarchar(n) column counts it: UTF-16 code units,
   trailing spaces included. A length check against a column's n must use this, not LEN:
     - LEN ignores trailing spaces on both engines, so 'a' plus 400 spaces passes a 400 check and
       then the insert fails (SQL Server: Msg 2628, untyped) or cuts the spaces off silently
       (Babelfish: PostgreSQL truncates excess trailing spaces on assignment);
     - Babelfish's LEN counts code points while its nvarchar(n) counts UTF-16 units, so text with
       astral-plane characters (emoji, U+10000 and up: two units each) near the limit passes the
       check and the insert fails with an untyped error (33557097).
   SQL Server: DATALENGTH / 2, exact under every collation (nvarchar is UTF-16 there; LEN would count
   a supplementary character once under an _SC collation). Babelfish: DATALENGTH is the UTF-8 byte
   count and varbinary casts are lossy, so the code points (LEN of the value and one more character,
   which keeps the trailing spaces) plus one for each astral-plane character, found with PATINDEX
   over U+10000 to U+10FFFF; text without one (nearly all) returns after that single PATINDEX.
   Returns NULL for NULL.
   Example: SELECT core.TextLength(N'a😀 ');  -- 4 (a, two units for the emoji, the space) */
{#- Babelfish 4.2 has no ALTER FUNCTION: dropped and created in the script's one transaction. #}
{%- if engine == "babelfish" %}
DROP FUNCTION IF EXISTS core.TextLength;
GO
CREATE FUNCTION core.TextLength(@Value nvarchar(max))
RETURNS bigint
AS
BEGIN
    IF @Value IS NULL
        RETURN NULL;
    DECLARE @Length bigint = LEN(@Value + N'x') - 1;
    DECLARE @Astral nvarchar(10) = CONCAT(N'%[', NCHAR(65536), N'-', NCHAR(1114111), N']%');
    DECLARE @At bigint = PATINDEX(@Astral, @Value);
    WHILE @At > 0
    BEGIN
        SET @Length = @Length + 1;
        SET @Value = SUBSTRING(@Value, @At + 1, 2147483647);
        SET @At = PATINDEX(@Astral, @Value);
    END;
    RETURN @Length;
END;
{%- else %}
CREATE OR ALTER FUNCTION core.TextLength(@Value nvarchar(max))
RETURNS bigint
WITH SCHEMABINDING
AS
BEGIN
    RETURN DATALENGTH(@Value) / 2;
END;
{%- endif %}
GO
