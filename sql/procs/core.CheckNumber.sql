/* core.CheckNumber - validation helper: THROWs unless @Value lies in [@Min, @Max] for parameter @Name.

   @Allowed is how the message describes the range (e.g. N'whole numbers from 0 to 100').
   Infinite and NaN values fail the range test on both engines.
   Errors: 50001 @Value missing while @Required = 1; 50002 out of range.
   Example: EXEC core.CheckNumber @Name = N'@Progress', @Value = @Progress, @Min = 0, @Max = 100,
                @Allowed = N'whole numbers from 0 to 100'; */
IF OBJECT_ID(N'core.CheckNumber', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE core.CheckNumber AS RETURN 0;');
GO
ALTER PROCEDURE core.CheckNumber
    @Name nvarchar(128),
    @Value float,
    @Min float,
    @Max float,
    @Allowed nvarchar(200),
    @Required bit = 0
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;
    DECLARE @Message nvarchar(2048);

    IF @Required = 1 AND @Value IS NULL
    BEGIN
        SET @Message = CONCAT(N'The parameter ', @Name, N' is required. Supported values are ', @Allowed, N'.');
        THROW 50001, @Message, 1;
    END;
    IF @Value IS NOT NULL AND NOT (@Value >= @Min AND @Value <= @Max)
    BEGIN
        SET @Message = CONCAT(N'The value for the parameter ', @Name, N' is not supported. Supported values are ', @Allowed, N'.');
        THROW 50002, @Message, 1;
    END;
END;
GO
